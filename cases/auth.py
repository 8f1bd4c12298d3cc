"""API keys: created with a role (and optionally districts), shown once, kept only as a salted SHA-256.

A key reads `ce_<prefix>_<secret>`: the 8-character prefix finds the row, the salted hash of the
secret (32 random bytes) proves it. The secret is random, not a password, so one SHA-256 is enough; a
slow KDF would only slow every request. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases.db import WRITE
from cases.districts import known_all
from cases.errors import AuthError, InvalidAction
from cases.lifecycle import Actor, Role
from cases.orm import ApiKey, utcnow
from cases.settings import LifecycleSettings

KEY_SCHEME = "ce"
# read-then-write transactions take SQLite's write lock at BEGIN: a deferred one that has read cannot
# upgrade once another connection wrote (SQLITE_BUSY at once, the busy timeout does not apply)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True)
class NewKey:
    """A key just created: `token` is the only time the key itself is available."""

    key: ApiKey
    token: str


MAX_DAYS = 3650


def _prefix(token: str) -> str | None:
    """The prefix of a well-formed `ce_<prefix>_<secret>` token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 8 or not parts[1].isalnum() or not parts[2]:
        return None
    return parts[1]


def _unexpired(now: datetime) -> ColumnElement[bool]:
    return or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class ApiKeys:
    """The API-key store. Thread-safe: every call opens its own session."""

    def __init__(self, sessions: sessionmaker[Session], lifecycle: LifecycleSettings | None = None):
        self._sessions = sessions
        self._lifecycle = lifecycle or LifecycleSettings()  # the configured districts keys may be bound to

    def create(self, name: str, role: Role | str, districts: Sequence[str] = (), *, days: int | None = None) -> NewKey:
        """A new key for `name` (unique, letters/digits/`._@-`) with `role`, bound to `districts` (canonical ids,
        on the configured list), valid for `days` days from now (None: until revoked); raises `InvalidAction`
        (`UnknownDistrict` for a district)."""
        if not NAME_RE.match(name):
            raise InvalidAction(f"key name {name!r}: use 1-128 letters, digits and . _ @ - (starting alphanumeric)")
        try:
            role = Role(role)
        except ValueError:
            raise InvalidAction(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise InvalidAction(f"key lifetime {days} days: use 1-{MAX_DAYS} days")
        expires_at = utcnow() + timedelta(days=days) if days is not None else None
        clean = list(known_all(self._lifecycle, [d for d in districts if d.strip()]))  # UnknownDistrict
        for _ in range(3):  # prefix collisions are ~1 in 4 billion; retry rather than fail
            prefix, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(32), secrets.token_hex(16)
            row = ApiKey(
                name=name,
                role=role.value,
                districts=clean,
                prefix=prefix,
                salt=salt,
                key_hash=_hash(salt, secret),
                expires_at=expires_at,
            )
            with self._sessions() as session:
                session.connection(execution_options=WRITE)
                if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
                    raise InvalidAction(f"a key named {name!r} exists; revoke it or choose another name")
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
                        raise InvalidAction(f"a key named {name!r} exists; revoke it or choose another name") from None
                    continue
            return NewKey(key=row, token=f"{KEY_SCHEME}_{prefix}_{secret}")
        raise RuntimeError("could not find a free key prefix")  # pragma: no cover

    def list(self) -> list[ApiKey]:
        with self._sessions() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke(self, name: str) -> ApiKey:
        """Revoke the key called `name` (idempotent); raises `InvalidAction` when there is none."""
        with self._sessions() as session:
            session.connection(execution_options=WRITE)
            row = session.scalar(select(ApiKey).where(ApiKey.name == name))
            if row is None:
                raise InvalidAction(f"no key named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.commit()
            return row

    def any_active(self) -> bool:
        """Some key is neither revoked nor expired."""
        now = utcnow()
        with self._sessions() as session:
            query = select(ApiKey.id).where(ApiKey.revoked_at.is_(None), _unexpired(now)).limit(1)
            return session.scalar(query) is not None

    def any_ever(self) -> bool:
        """Some key was ever created (revoked and expired ones count): reads stay closed once there was one."""
        with self._sessions() as session:
            return session.scalar(select(ApiKey.id).limit(1)) is not None

    def active_admins(self) -> tuple[str, ...]:
        """The names of the admin keys that are neither revoked nor expired."""
        now = utcnow()
        with self._sessions() as session:
            query = select(ApiKey.name).where(
                ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None), _unexpired(now)
            )
            return tuple(session.scalars(query.order_by(ApiKey.id)))

    def known_prefix(self, token: str) -> str | None:
        """The prefix of `token` when a key with that prefix exists (whatever its secret), else None."""
        prefix = _prefix(token)
        if prefix is None:
            return None
        with self._sessions() as session:
            return prefix if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None else None

    def authenticate(self, token: str) -> Actor:
        """The actor a key stands for; raises `AuthError` for malformed, unknown or revoked keys."""
        prefix = _prefix(token)
        if prefix is None:
            raise AuthError("malformed API key: expected ce_<prefix>_<secret>")
        secret = token.strip().split("_", 2)[2]
        with self._sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or not hmac.compare_digest(row.key_hash, _hash(row.salt, secret)):
            raise AuthError("unknown API key")
        if row.revoked_at is not None:
            raise AuthError(f"API key {row.name!r} was revoked at {row.revoked_at.isoformat()}")
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise AuthError(
                f"API key {row.name!r} expired at {row.expires_at.isoformat()}; ask an admin for a new one "
                "(cityeye keys create)"
            )
        return Actor(name=row.name, role=Role(row.role), districts=tuple(d.casefold() for d in row.districts))

"""`cityeye keys create | list | revoke`: API keys for the HTTP API (the key is printed once, at creation)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cityeye.config import Settings

if TYPE_CHECKING:
    from cityeye.runtime import Runtime

STAMP = "%Y-%m-%d %H:%M:%S"


def _runtime(settings: Settings) -> Runtime:
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime.from_settings(settings, webhooks="off")


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        new = rt.api_keys.create(args.name, args.role, args.district or (), days=args.days)
    districts = ", ".join(new.key.districts) or "all districts"
    expiry = f", expires {new.key.expires_at:%Y-%m-%d %H:%M:%S} UTC" if new.key.expires_at else ""
    print(f"key {new.key.name!r}: role {new.key.role}, {districts}{expiry}")
    print(new.token)
    print("store it now: it is not shown again (only its salted hash is kept)")
    return 0


def cmd_list(_args: argparse.Namespace, settings: Settings) -> int:
    from cases.orm import utcnow

    with _runtime(settings) as rt:
        rows = rt.api_keys.list()
    now = utcnow()
    print(f"{'name':<24}{'role':<12}{'prefix':<10}{'created (UTC)':<22}{'revoked':<22}{'expires':<30}districts")
    for k in rows:
        revoked = k.revoked_at.strftime(STAMP) if k.revoked_at else "-"
        expires = "-"
        if k.expires_at is not None:
            expires = k.expires_at.strftime(STAMP) + (" (expired)" if k.expires_at <= now else "")
        print(
            f"{k.name:<24}{k.role:<12}{k.prefix:<10}{k.created_at.strftime(STAMP):<22}{revoked:<22}{expires:<30}"
            f"{', '.join(k.districts) or 'all'}"
        )
    print(f"{len(rows)} keys")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        row = rt.api_keys.revoke(args.name)
        admins = rt.api_keys.active_admins()
    print(f"key {row.name!r} revoked at {row.revoked_at.isoformat() if row.revoked_at else '?'}")
    if row.role == "admin" and not admins:
        reads = (
            "reads stay open (auth.open_read: true)"
            if settings.auth.open_read
            else "reads stay closed (once a key has existed, reading needs one)"
        )
        print(
            "warning: that was the last active admin key: nothing can be administered over the API until you "
            f"create one (cityeye keys create --role admin --name ...); {reads}",
            file=sys.stderr,
        )
    return 0


def add_parser(sub: Any) -> None:
    from cases.lifecycle import Role

    keys = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    create = ks.add_parser("create", help="a new key bound to a role (and optionally districts)")
    create.add_argument("--name", required=True, help="unique name, e.g. alice (shown in the audit log)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--district", action="append", help="bind the key to a district (repeatable)")
    create.add_argument(
        "--days", type=int, help="the key expires this many days from now (1-3650; default: valid until revoked)"
    )
    create.set_defaults(func=cmd_create)
    ks.add_parser("list", help="all keys (never the keys themselves)").set_defaults(func=cmd_list)
    revoke = ks.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)

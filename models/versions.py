"""One registry for every versioned artefact: detector weights, scorers, hotspot forecasts.

A `VersionRegistry[M]` keeps immutable versions in `<root>/<version>/` (the artefact files, written once by the
caller) with a metadata record `M` (a pydantic model with at least `version` and `created_at`), and their stages:

    candidate    saved, never promoted (every new version)
    production   the one in use (at most one: the production pointer)
    archived     production before; the newest archived promotion is what `rollback` goes back to

`promote(version, check)` runs a validation hook first (`check(candidate, production)` returns the reasons to
refuse, or raises); `force` promotes over the reasons and records them in the version's notes.

Where the metadata and the pointer live on disk is the `Layout`'s business, so existing data dirs stay readable:

    IndexLayout   one JSON index `{"versions": {<version>: M}}` with the stage inside each record
                  (`<data_dir>/models/registry.json`, the detector registry)
    CardLayout    `<version>/card.json` per version plus `production.json` (the `Promotion` pointer)
                  (`<data_dir>/scorers/`, `<data_dir>/forecasts/`)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.errors import NothingToRollBack, PromotionRefused, RegistryError

Stage = Literal["candidate", "production", "archived"]


class Meta(Protocol):
    """What the registry needs of a version's metadata record (any pydantic model with these fields)."""

    @property
    def version(self) -> str: ...
    @property
    def created_at(self) -> str: ...
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...
    def model_dump(self) -> dict[str, Any]: ...
    def model_dump_json(self, *, indent: int | None = None) -> str: ...


class StagedMeta(Meta, Protocol):
    """A record that carries its own stage (the `IndexLayout`'s records)."""

    @property
    def stage(self) -> Stage: ...
    @property
    def promoted_at(self) -> str | None: ...


M = TypeVar("M", bound=Meta)
S = TypeVar("S", bound=StagedMeta)
Check = Callable[[M, M | None], Sequence[str]]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def append_line(notes: str, line: str) -> str:
    return (notes + "\n" if notes else "") + line


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Stages:
    """The production pointer and the versions promoted before it."""

    production: str | None = None
    promoted_at: str | None = None
    archived: list[str] = field(default_factory=list)  # promoted before, newest last: the rollback chain
    retired: list[str] = field(default_factory=list)  # rolled back from: archived, never rolled back to

    def stage(self, version: str) -> Stage:
        if version == self.production:
            return "production"
        return "archived" if version in self.archived or version in self.retired else "candidate"

    def promoted(self, version: str, at: str) -> Stages:
        chain = list(self.archived)
        if self.production is not None and self.production != version:
            chain = [v for v in chain if v != self.production] + [self.production]
        chain = [v for v in chain if v != version]
        return Stages(version, at, chain, [v for v in self.retired if v != version and v not in chain])

    def rolled_back(self, at: str) -> Stages:
        assert self.production is not None and self.archived
        return replace(
            self, production=self.archived[-1], promoted_at=at, archived=self.archived[:-1],
            retired=[*self.retired, self.production],
        )  # fmt: skip


class Layout(Protocol[M]):
    """Where a registry's records and production pointer are kept (each raises its own error kind)."""

    root: Path

    def read(self, version: str) -> M: ...
    def read_all(self) -> dict[str, M]: ...
    def read_stages(self) -> Stages: ...
    def exists(self, version: str) -> bool: ...
    def duplicate(self, version: str) -> Exception: ...
    def commit(self, changes: Mapping[str, M], stages: Stages | None = None) -> None: ...
    def stamp(self) -> float: ...


class VersionRegistry(Generic[M]):
    """Versions, stages, the production pointer, promotion with a validation hook, rollback, notes."""

    def __init__(self, layout: Layout[M], bootstrap: Callable[[], None] | None = None):
        self.layout = layout
        self.root = layout.root
        self._bootstrap = bootstrap  # run before every operation (the detector registry's bundled default)

    def _ready(self) -> None:
        if self._bootstrap is not None:
            self._bootstrap()

    # ---- queries ------------------------------------------------------------------------------------------
    def versions(self) -> list[M]:
        """Every version, oldest first."""
        self._ready()
        return sorted(self.layout.read_all().values(), key=lambda m: m.created_at)

    def latest(self) -> M | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def get(self, version: str) -> M:
        self._ready()
        return self.layout.read(version)

    def exists(self, version: str) -> bool:
        self._ready()
        return self.layout.exists(version)

    def path(self, version: str) -> Path:
        """The folder of `version`'s artefact files."""
        return self.root / version

    def production_version(self) -> str | None:
        self._ready()
        return self.layout.read_stages().production

    def production(self) -> M | None:
        version = self.production_version()
        return None if version is None else self.layout.read(version)

    def stage(self, version: str) -> Stage:
        self._ready()
        return self.layout.read_stages().stage(version)

    def stamp(self) -> float:
        """Changes whenever the production pointer may have (cheap to poll; 0 before any)."""
        return self.layout.stamp()

    # ---- changes ------------------------------------------------------------------------------------------
    def unique_version(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`, ... (the first that is not taken)."""
        version, n = base, 1
        while self.layout.exists(version) or self.path(version).exists():
            n += 1
            version = f"{base}-{n}"
        return version

    def add(self, version: str, build: Callable[[Path], M]) -> M:
        """A new candidate: `build(folder)` writes the artefacts into `<root>/<version>/` and returns the record."""
        self._ready()
        if self.layout.exists(version):
            raise self.layout.duplicate(version)
        folder = self.path(version)
        folder.mkdir(parents=True, exist_ok=True)
        meta = build(folder)
        self.layout.commit({meta.version: meta})
        return meta

    def update(self, version: str, **changes: Any) -> M:
        """Change metadata of `version` (notes, evaluations); the artefact files never change."""
        meta = self.get(version).model_copy(update=changes)
        self.layout.commit({meta.version: meta})
        return meta

    def add_note(self, version: str, line: str) -> M:
        """Append a dated line to a version's notes (who promoted it and why)."""
        meta = self.get(version)
        notes = _notes(meta)
        if notes is None:
            raise RegistryError(f"{version}: this registry's records keep no notes")
        return self.update(meta.version, notes=append_line(notes, f"{now_iso()}: {line}"))

    def promote(self, version: str, check: Check[M] | None = None, force: bool = False) -> M:
        """Make `version` production (the one before it archived) unless `check(candidate, production)` gives
        reasons not to; with `force` it is promoted anyway and the reasons are kept in its notes."""
        self._ready()
        cand = self.layout.read(version)
        stages = self.layout.read_stages()
        prod = None if stages.production is None else self.layout.read(stages.production)
        problems = list(check(cand, prod)) if check is not None else []
        if problems and not force:
            raise PromotionRefused(f"promotion of {version} refused: " + "; ".join(problems))
        changes: dict[str, M] = {}
        if problems and _notes(cand) is not None:
            line = "promoted with force over the gate: " + "; ".join(problems)
            changes[cand.version] = cand.model_copy(update={"notes": append_line(_notes(cand) or "", line)})
        self.layout.commit(changes, stages.promoted(cand.version, now_iso()))
        return self.layout.read(cand.version)

    def rollback(self, note: str = "") -> M:
        """Production goes back to the version that was production before it (the newest archived promotion)."""
        self._ready()
        stages = self.layout.read_stages()
        if stages.production is None or not stages.archived:
            raise NothingToRollBack("nothing to roll back to: no earlier production version in the registry")
        now = now_iso()
        back = stages.rolled_back(now)
        line = f"{now}: rolled back from {stages.production}" + (f" ({note})" if note else "")
        changes: dict[str, M] = {}
        for version in (stages.production, back.production):
            assert version is not None
            meta = self.layout.read(version)
            if _notes(meta) is not None:
                changes[version] = meta.model_copy(update={"notes": append_line(_notes(meta) or "", line)})
        self.layout.commit(changes, back)
        assert back.production is not None
        return self.layout.read(back.production)


def _notes(meta: Meta) -> str | None:
    """The record's notes, or None when its kind keeps none."""
    notes = getattr(meta, "notes", None)
    return notes if isinstance(notes, str) else None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


class IndexLayout(Generic[S]):
    """All records in one JSON index, `{"versions": {<version>: record}}`, each with its stage and promotion
    time; the rollback chain is the archived records that keep a `promoted_at`, oldest promotion first."""

    def __init__(
        self,
        root: Path,
        parse: Callable[[Any], S],
        *,
        index: str = "registry.json",
        what: str = "model version",
        error: type[Exception] = RegistryError,
    ):
        self.root = Path(root)
        self.index = self.root / index
        self._parse = parse
        self._what = what
        self._error = error

    def read_all(self) -> dict[str, S]:
        if not self.index.is_file():
            return {}
        try:
            raw = json.loads(self.index.read_text(encoding="utf-8"))
            return {k: self._parse(v) for k, v in raw["versions"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise self._error(f"{self.index}: unreadable registry ({exc})") from exc

    def read(self, version: str) -> S:
        records = self.read_all()
        if version not in records:
            raise self._error(f"{self._what} {version!r} not found; known: {sorted(records)}")
        return records[version]

    def read_stages(self) -> Stages:
        return self._stages(self.read_all())

    @staticmethod
    def _stages(records: Mapping[str, S]) -> Stages:
        prod = next((r for r in records.values() if r.stage == "production"), None)
        archived = [r for r in records.values() if r.stage == "archived"]
        chain = sorted((r for r in archived if r.promoted_at), key=lambda r: r.promoted_at or "")
        return Stages(
            production=None if prod is None else prod.version,
            promoted_at=None if prod is None else prod.promoted_at,
            archived=[r.version for r in chain],
            retired=[r.version for r in archived if not r.promoted_at],
        )

    def exists(self, version: str) -> bool:
        return version in self.read_all()

    def duplicate(self, version: str) -> Exception:
        return self._error(f"{self._what} {version!r} exists already; versions are immutable")

    def commit(self, changes: Mapping[str, S], stages: Stages | None = None) -> None:
        records = self.read_all()
        stages = stages or self._stages(records)
        records.update(changes)
        for version, record in records.items():
            stage = stages.stage(version)
            update: dict[str, Any] = {"stage": stage} if record.stage != stage else {}
            if stage == "production" and record.promoted_at != stages.promoted_at:
                update["promoted_at"] = stages.promoted_at
            elif version in stages.retired and record.promoted_at is not None:
                update["promoted_at"] = None
            if update:
                records[version] = record.model_copy(update=update)
        self.root.mkdir(parents=True, exist_ok=True)
        data = {"versions": {k: v.model_dump() for k, v in records.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{self.index.stem}.", suffix=self.index.suffix)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False)
        os.replace(tmp, self.index)

    def stamp(self) -> float:
        try:
            return self.index.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0


class Promotion(BaseModel):
    """`production.json` of a `CardLayout`: the production pointer."""

    model_config = ConfigDict(extra="forbid")
    version: str
    promoted_at: str
    archived: list[str] = Field(default_factory=list, description="versions promoted before, newest last")
    retired: list[str] = Field(default_factory=list, description="versions rolled back from (archived)")


class CardLayout(Generic[M]):
    """One `<version>/card.json` per version and `production.json` (a `Promotion`) for the stages."""

    def __init__(
        self,
        root: Path,
        parse: Callable[[Any], M],
        *,
        what: str,
        error: type[Exception] = RegistryError,
        card: str = "card.json",
        pointer: str = "production.json",
    ):
        self.root = Path(root)
        self.card = card
        self.pointer = self.root / pointer
        self._parse = parse
        self._what = what
        self._error = error

    def read(self, version: str) -> M:
        path = self.root / version / self.card
        if not path.is_file():
            raise self._error(f"{self._what} {version!r}: no {self.card} in {path.parent}")
        try:
            return self._parse(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            raise self._error(f"{path}: unreadable {self._what} card ({_first_line(exc)})") from exc

    def read_all(self) -> dict[str, M]:
        """Every card, by version name (an unreadable one is an error: nothing is silently skipped)."""
        if not self.root.is_dir():
            return {}
        names = sorted(p.name for p in self.root.iterdir() if (p / self.card).is_file())
        return {name: self.read(name) for name in names}

    def read_stages(self) -> Stages:
        if not self.pointer.is_file():
            return Stages()
        try:
            p = Promotion.model_validate_json(self.pointer.read_text(encoding="utf-8"))
        except (ValueError, ValidationError) as exc:
            raise self._error(f"{self.pointer}: unreadable ({_first_line(exc)})") from exc
        return Stages(p.version, p.promoted_at, list(p.archived), list(p.retired))

    def exists(self, version: str) -> bool:
        return (self.root / version).exists()

    def duplicate(self, version: str) -> Exception:
        return self._error(f"{self._what} version {version} already exists in {self.root}")

    def commit(self, changes: Mapping[str, M], stages: Stages | None = None) -> None:
        for version, meta in changes.items():
            atomic_write(self.root / version / self.card, meta.model_dump_json(indent=2).encode())
        if stages is None:
            return
        if stages.production is None or stages.promoted_at is None:
            self.pointer.unlink(missing_ok=True)
            return
        p = Promotion(
            version=stages.production, promoted_at=stages.promoted_at, archived=stages.archived, retired=stages.retired
        )
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.pointer, p.model_dump_json(indent=2, exclude=None if p.retired else {"retired"}).encode())

    def stamp(self) -> float:
        try:
            return self.pointer.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0

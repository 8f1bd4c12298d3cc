"""District scoping (责任区) in one place: what a caller may see and change of every case-derived resource.

A key bound to districts sees and changes only those districts' cases, evidence, observations, feedback frames,
cameras, surveys and reports; an unbound key (or an open read, `auth.open_read`) sees all. Every route that
returns or changes such a resource takes a `Scope` (`ReadScopeDep` for reads, `WriteScopeDep` for writes) and
asks it, rather than comparing districts itself:

- `scope.districts`: the filter for lists (`()` = all), handed to the store's queries (`visible_districts`);
- `scope.check(district, what)`: refuse one resource of another district (`PermissionDenied`, 403);
- `scope.case(case_id)`: the same for a case by id, before anything derived from it is served or written;
- `scope.filter(name)`: a `district` list filter, checked against the configured list (422 if unknown);
- `scope.assign(name)`: the district of a resource being created or changed (canonical, known, one of the key's).

Anything without a district (`None`) is visible to unbound keys only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from api.auth import ActorDep, ReaderDep
from api.deps import ServiceDep, SettingsDep
from cases.districts import UnknownDistrict, district_id, known
from cases.errors import PermissionDenied
from cases.lifecycle import Actor
from cases.service import CaseService
from cases.settings import LifecycleSettings


@dataclass(frozen=True)
class Scope:
    """The districts a caller may see; `actor` is None for an open read."""

    actor: Actor | None
    lifecycle: LifecycleSettings
    service: CaseService

    @property
    def districts(self) -> tuple[str, ...]:
        """The caller's districts in canonical form; () = every district."""
        if self.actor is None:
            return ()
        return tuple(sorted({district_id(d) for d in self.actor.districts}))

    def visible(self, district: str | None) -> bool:
        mine = self.districts
        if not mine:
            return True
        return district is not None and district.casefold() in mine

    def check(self, district: str | None, what: str) -> None:
        """Raise `PermissionDenied` when `what` (e.g. "case 3") lies outside the caller's districts."""
        if not self.visible(district):
            assert self.actor is not None
            raise PermissionDenied(
                f"{what} is in district {district or '(none)'}; key {self.actor.name!r} is bound to "
                f"{', '.join(self.districts)}"
            )

    def case(self, case_id: int) -> str | None:
        """Check the case `case_id` (404 when there is none, 403 outside the caller's districts); its district."""
        district = self.service.case_district(case_id)
        self.check(district, f"case {case_id}")
        return district

    def filter(self, name: str | None) -> str | None:
        """A `district` filter of a list: canonical and on the configured list (`UnknownDistrict`, 422)."""
        return None if name is None else known(self.lifecycle, name)

    def assign(self, name: str | None) -> str | None:
        """The district a resource is created in or moved to: canonical, configured, one of the caller's. A key
        bound to one district that gives none gets its own."""
        mine = self.districts
        if name is None:
            if len(mine) == 1:
                return mine[0]
            if mine:
                raise UnknownDistrict(f"say which district: key {self.actor.name!r} is bound to {', '.join(mine)}")  # type: ignore[union-attr]
            return None
        canonical = known(self.lifecycle, name)
        self.check(canonical, f"district {canonical!r}")
        return canonical


def get_read_scope(reader: ReaderDep, settings: SettingsDep, service: ServiceDep) -> Scope:
    return Scope(reader, settings.lifecycle, service)


def get_write_scope(actor: ActorDep, settings: SettingsDep, service: ServiceDep) -> Scope:
    return Scope(actor, settings.lifecycle, service)


ReadScopeDep = Annotated[Scope, Depends(get_read_scope)]
WriteScopeDep = Annotated[Scope, Depends(get_write_scope)]

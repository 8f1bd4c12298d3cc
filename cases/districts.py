"""Districts (责任区): the configured list, case-insensitive ids, display names.

`lifecycle.districts` maps a district id to its bounding box (the historic form) or to `{name, bbox}`. Ids are
compared case-insensitively: they are stored and compared in their canonical form (`district_id`, lower case),
so `Huangpu` and `huangpu` are one district. Where a list is configured, a district that is not on it is
`UnknownDistrict` (HTTP 422) wherever it comes in: keys, list filters, action bodies, cameras, surveys. With
no list configured, any well-formed id is accepted (still canonicalised).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from cases.errors import InvalidAction

MAX_LEN = 64
_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class UnknownDistrict(InvalidAction):
    """A district that is malformed or not on the configured list (Invalid: HTTP 422)."""


def district_id(name: str) -> str:
    """The canonical id of a district name (trimmed, lower case); raises `UnknownDistrict` when malformed."""
    if not isinstance(name, str):
        raise UnknownDistrict(f"district must be a string, got {type(name).__name__}")
    if _BAD.search(name):
        raise UnknownDistrict(f"district {name[:80]!r} contains control or invisible characters")
    clean = name.strip()
    if not clean or len(clean) > MAX_LEN:
        raise UnknownDistrict(f"district must be 1-{MAX_LEN} characters, got {len(clean)}")
    return clean.casefold()


class _Configured(Protocol):
    @property
    def districts(self) -> Mapping[str, object]: ...


def known(lifecycle: _Configured, name: str) -> str:
    """The canonical id of `name`, which must be on the configured list (when one is configured)."""
    canonical = district_id(name)
    configured = lifecycle.districts
    if configured and canonical not in configured:
        listed = ", ".join(sorted(configured))
        raise UnknownDistrict(f"unknown district {name[:80]!r}; the configured districts are: {listed}")
    return canonical


def known_all(lifecycle: _Configured, names: Iterable[str]) -> tuple[str, ...]:
    """`known` for each of `names`, deduplicated and sorted."""
    return tuple(sorted({known(lifecycle, n) for n in names}))

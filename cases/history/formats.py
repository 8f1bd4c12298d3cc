"""Readers of city complaint exports: each yields `HistoryRow` (a plain, validated record) or `BadRow` (why not).

Formats: `boston311` and `chicago311` (the cities' CSV exports, columns as published), `open311` (GeoReport v2
JSON: a list of service requests), `csv` (a city's own export; the mapping names the columns). Files may be
gzip-compressed (`.gz`). Reading streams: rows come out one at a time, nothing is held but the ids seen (for
duplicates).

What each row becomes is the mapping's business (`cases/history/mapping.py`): type -> category or "other",
closure text -> confirmed / dismissed / excluded (or a duplicate, skipped), source -> source type, placeholder
positions (a city's default point) -> no position. Timestamps without a zone are in the mapping's `timezone`
and come out in UTC.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

from cases.history.errors import HistoryError
from cases.history.mapping import Columns, Mapping

Outcome = Literal["confirmed", "dismissed", "excluded"]
FORMATS: tuple[str, ...] = ("boston311", "chicago311", "open311", "csv")
OTHER = "other"

BOSTON_COLUMNS = Columns(
    source_id="case_enquiry_id",
    type="type",
    opened_at="open_dt",
    closed_at="closed_dt",
    closure="closure_reason",
    lat="latitude",
    lon="longitude",
    source="source",
    district="neighborhood",
)
CHICAGO_COLUMNS = Columns(
    source_id="Service_Request_Number",
    type="What_is_the_Nature_of_this_Code_Violation",
    opened_at="Creation_Date",
    closed_at="Completion_Date",
    closure="Status",
    lat="Latitude",
    lon="Longitude",
    district="Community_Area",
)
_DEFAULT_COLUMNS = {"boston311": BOSTON_COLUMNS, "chicago311": CHICAGO_COLUMNS}


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One past complaint, mapped: what the case store and the scorer need, nothing about the source's schema."""

    source_id: str
    category: str | None  # a cityeye category key, or "other"
    raw_type: str
    opened_at: datetime  # UTC
    closed_at: datetime | None  # UTC; None while open
    lat: float | None
    lon: float | None
    outcome: Outcome | None  # None: open, or closed with no usable verdict recorded
    source_type: str  # camera, drone, inspector, citizen, phone, app, employee, ...
    district: str | None

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record that was not read: where it is and why (`reason` is a short fixed phrase, for counting)."""

    file: str
    line: int
    reason: str  # "bad date", "unknown type", "duplicate id", "duplicate", "missing id", ...
    detail: str = ""
    source_id: str | None = None


class _Bad(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def open_text(path: Path) -> IO[str]:
    """A text stream of the file, gunzipped when it is gzip (by magic bytes, not by name)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


class _RowMapper:
    def __init__(self, mapping: Mapping, fmt: str):
        self.mapping = mapping
        self.fmt = fmt
        self.zone = ZoneInfo(mapping.timezone)
        self.seen: set[str] = set()

    def when(self, value: Any, what: str, required: bool) -> datetime | None:
        text = "" if value is None else str(value).strip()
        if not text:
            if required:
                raise _Bad("bad date", f"{what} missing")
            return None
        try:
            if self.mapping.datetime_format and self.fmt != "open311":  # GeoReport v2 is ISO 8601
                t = datetime.strptime(text, self.mapping.datetime_format)
            else:
                t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _Bad("bad date", f"{what} {text!r}") from exc
        if t.tzinfo is None:
            t = t.replace(tzinfo=self.zone)
        return t.astimezone(UTC)

    def position(self, lat_v: Any, lon_v: Any) -> tuple[float | None, float | None]:
        try:
            lat, lon = float(str(lat_v).strip()), float(str(lon_v).strip())
        except (TypeError, ValueError):
            return None, None
        if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None, None
        if (lat, lon) == (0.0, 0.0):
            return None, None
        for p_lat, p_lon in self.mapping.default_points:
            if abs(lat - p_lat) < 5e-5 and abs(lon - p_lon) < 5e-5:
                return None, None
        b = self.mapping.bounds
        if b is not None and not (b[0] <= lat <= b[2] and b[1] <= lon <= b[3]):
            return None, None
        return lat, lon

    def closure_text(self, value: str) -> str:
        text = value.strip()
        if self.fmt == "boston311" and text.lower().startswith("case closed"):
            text = text[len("case closed") :].strip()
        return text

    def row(self, rec: dict[str, Any], cols: Columns, is_open: bool | None = None) -> HistoryRow:
        source_id = str(rec.get(cols.source_id) or "").strip()
        if not source_id:
            raise _Bad("missing id")
        raw_type = str(rec.get(cols.type) or "").strip()
        category = self.mapping.types.get(raw_type)
        if category is None:
            if self.mapping.unknown_types == "bad":
                raise _Bad("unknown type", repr(raw_type))
            category = OTHER
        opened = self.when(rec.get(cols.opened_at), "opened_at", required=True)
        assert opened is not None
        closed = self.when(rec.get(cols.closed_at), "closed_at", required=False) if cols.closed_at else None
        if closed is not None and closed < opened:
            raise _Bad("bad date", "closed before opened")
        closure = str(rec.get(cols.closure) or "") if cols.closure else ""
        text = self.closure_text(closure)
        verdict = self.mapping.outcome_of(text) if text else self.mapping.unmatched_closure
        if closure.strip() and verdict == "duplicate":
            raise _Bad("duplicate", closure.strip()[:60])
        if is_open is None:
            is_open = closed is None
        outcome: Outcome | None = None
        if is_open:
            closed = None
        else:
            closed = closed or opened
            if verdict in ("confirmed", "dismissed", "excluded"):
                outcome = verdict
        lat, lon = self.position(rec.get(cols.lat), rec.get(cols.lon)) if cols.lat and cols.lon else (None, None)
        raw_source = str(rec.get(cols.source) or "").strip() if cols.source else ""
        source_type = self.mapping.sources.get(raw_source, self.mapping.default_source)
        district_v = rec.get(cols.district) if cols.district else None
        district = str(district_v).strip() if district_v is not None else ""
        if district.endswith(".0") and district[:-2].isdigit():
            district = district[:-2]  # numeric areas exported as floats ("61.0")
        if source_id in self.seen:
            raise _Bad("duplicate id", source_id)
        self.seen.add(source_id)
        return HistoryRow(
            source_id=source_id,
            category=category,
            raw_type=raw_type,
            opened_at=opened,
            closed_at=closed,
            lat=lat,
            lon=lon,
            outcome=outcome,
            source_type=source_type,
            district=district or None,
        )


def _csv_rows(path: Path, mapper: _RowMapper, cols: Columns) -> Iterator[HistoryRow | BadRow]:
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        needed = [c for c in (cols.source_id, cols.type, cols.opened_at) if c not in header]
        if needed:
            raise HistoryError(f"{path}: not a {mapper.fmt} file: missing columns {needed}")
        for rec in reader:
            line = reader.line_num
            try:
                is_open = None
                if mapper.fmt == "boston311":
                    is_open = str(rec.get("case_status", "")).strip().lower() == "open"
                elif mapper.fmt == "chicago311":
                    is_open = str(rec.get("Status", "")).strip().lower().startswith("open")
                yield mapper.row(rec, cols, is_open)
            except _Bad as bad:
                yield BadRow(str(path), line, bad.reason, bad.detail, (rec.get(cols.source_id) or None))


OPEN311_COLUMNS = Columns(
    source_id="service_request_id",
    type="service_name",
    opened_at="requested_datetime",
    closed_at="updated_datetime",
    closure="status_notes",
    lat="lat",
    lon="long",
    source="agency_responsible",
    district="address",
)


def _open311_rows(path: Path, mapper: _RowMapper, cols: Columns) -> Iterator[HistoryRow | BadRow]:
    with open_text(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise HistoryError(f"{path}: not GeoReport v2 JSON: {exc.msg} at line {exc.lineno}") from exc
    if isinstance(data, dict) and isinstance(data.get("service_requests"), list):
        data = data["service_requests"]
    if not isinstance(data, list):
        raise HistoryError(f"{path}: not GeoReport v2 JSON: expected a list of service requests")
    for i, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            yield BadRow(str(path), i, "not a record")
            continue
        try:
            status = str(rec.get("status") or "").strip().lower()
            if status == "closed" and not str(rec.get(cols.closure or "") or "").strip():
                rec = {**rec, cols.closure or "status_notes": "closed"}
            yield mapper.row(rec, cols, is_open=status != "closed")
        except _Bad as bad:
            yield BadRow(str(path), i, bad.reason, bad.detail, str(rec.get(cols.source_id) or "") or None)


def read_history(paths: Iterable[str | Path], fmt: str, mapping: Mapping) -> Iterator[HistoryRow | BadRow]:
    """Every record of the files, in file order, as a `HistoryRow` or a `BadRow`.

    Ids repeated across the files are reported as `BadRow(reason="duplicate id")` (the first one is kept).
    Raises `HistoryError` for a file that is not of the format at all (missing columns, not JSON).
    """
    if fmt not in FORMATS:
        raise HistoryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "csv" and mapping.columns is None:
        raise HistoryError(f"mapping {mapping.name}: the csv format needs `columns`")
    cols = mapping.columns or (OPEN311_COLUMNS if fmt == "open311" else _DEFAULT_COLUMNS[fmt])
    mapper = _RowMapper(mapping, fmt)
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise HistoryError(f"{path}: no such file")
        try:
            if fmt == "open311":
                yield from _open311_rows(path, mapper, cols)
            else:
                yield from _csv_rows(path, mapper, cols)
        except UnicodeDecodeError as exc:
            raise HistoryError(f"{path}: not UTF-8 text (byte {exc.start} of a chunk)") from exc
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise HistoryError(f"{path}: broken gzip file ({exc})") from exc
        except csv.Error as exc:
            raise HistoryError(f"{path}: not a readable CSV file ({exc})") from exc

"""Drone surveys in the case store: a survey (area, flight metadata, progress), its files, its findings, and
the permit register of each area.

The store holds rows only; files live under `<data_dir>/surveys/<id>/` (see `cases.uploads`), the processing
lives in `inference.survey`. Progress is written to the database so that the API, the CLI and any worker
see the same numbers, in embedded and scale-out mode alike.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cases.db import WRITE
from cases.errors import InvalidAction, PermissionDenied, SurveyNotFound
from cases.lifecycle import Actor, Role
from cases.orm import Permit, Survey, SurveyFile, SurveyFinding
from inference.ports import FindingRecord, FindingRow, PermitRecord, SurveyFileRecord, SurveyRecord

__all__ = [
    "PERMIT_ROLES",
    "STATUSES",
    "SURVEY_ROLES",
    "FindingRow",
    "SqlSurveyRepository",
    "SurveyNotFound",
    "SurveyStore",
    "check_role",
    "parse_permits",
]

# who may create surveys, upload and start processing; who may edit the permit register
SURVEY_ROLES = frozenset({Role.INSPECTOR, Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN})
PERMIT_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN})
STATUSES = ("created", "queued", "processing", "done", "failed")
MAX_PERMIT_FEATURES = 10_000
MAX_RING_POINTS = 10_000


def check_role(actor: Actor | None, roles: frozenset[Role], what: str) -> None:
    if actor is None or actor.role not in roles:
        needed = tuple(sorted(r.value for r in roles))
        raise PermissionDenied(f"{what} needs one of the roles {', '.join(needed)}", needed)


class SurveyStore:
    """Rows of surveys, files, findings and permits. Thread-safe: every call opens its own session."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions

    # ---- surveys -----------------------------------------------------------------------------------------
    def create(
        self,
        area: str,
        name: str = "",
        flight: dict[str, Any] | None = None,
        created_by: str = "",
        district: str | None = None,
    ) -> Survey:
        with self._sessions() as s:
            row = Survey(area=area, name=name, flight=dict(flight or {}), created_by=created_by, district=district)
            s.add(row)
            s.commit()
            return row

    def get(self, survey_id: int) -> Survey:
        with self._sessions() as s:
            row = s.get(Survey, survey_id)
            if row is None:
                raise SurveyNotFound(survey_id)
            return row

    def recent(
        self, area: str | None = None, limit: int = 100, visible_districts: Sequence[str] = ()
    ) -> builtins.list[Survey]:
        """The latest surveys (of `area`); `visible_districts` (a key's districts) keeps those districts'."""
        with self._sessions() as s:
            q = select(Survey).order_by(Survey.id.desc()).limit(limit)
            if area:
                q = q.where(Survey.area == area)
            if visible_districts:
                q = q.where(Survey.district.in_(list(visible_districts)))
            return list(s.scalars(q))

    def previous(self, survey: Survey | SurveyRecord) -> Survey | None:
        """The latest finished survey of the same area before `survey`."""
        with self._sessions() as s:
            return s.scalar(
                select(Survey)
                .where(Survey.area == survey.area, Survey.id < survey.id, Survey.status == "done")
                .order_by(Survey.id.desc())
                .limit(1)
            )

    def set_status(self, survey_id: int, status: str, **values: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown survey status {status!r}")
        self._update(survey_id, status=status, **values)

    def claim(self, survey_id: int, force: bool = False) -> bool:
        """Mark a survey queued unless it is queued or processing already (False then). `force` re-queues it
        anyway: for a survey whose worker or embedded process died (a Celery worker's task is redelivered by
        itself; an embedded thread's is not)."""
        with self._sessions() as s:
            s.connection(execution_options=WRITE)
            row = s.get(Survey, survey_id)
            if row is None:
                raise SurveyNotFound(survey_id)
            if row.status in {"queued", "processing"} and not force:
                return False
            if not s.scalar(select(SurveyFile.id).where(SurveyFile.survey_id == survey_id).limit(1)):
                raise InvalidAction(f"survey {survey_id} has no files: upload some first")
            row.status, row.error, row.percent = "queued", None, 0.0
            s.commit()
            return True

    def progress(self, survey_id: int, files_done: int, files_total: int, current: str | None, percent: float) -> None:
        """Files done of the survey's files, the file (or step) being worked on, and overall percent."""
        self._update(
            survey_id,
            files_done=files_done,
            files_total=files_total,
            current_file=current,
            percent=round(min(100.0, max(0.0, percent)), 1),
        )

    def _update(self, survey_id: int, **values: Any) -> None:
        with self._sessions() as s:
            s.execute(update(Survey).where(Survey.id == survey_id).values(**values))
            s.commit()

    # ---- files -------------------------------------------------------------------------------------------
    def files(self, survey_id: int) -> builtins.list[SurveyFile]:
        with self._sessions() as s:
            return list(s.scalars(select(SurveyFile).where(SurveyFile.survey_id == survey_id).order_by(SurveyFile.id)))

    def file_by_hash(self, survey_id: int, sha256: str) -> SurveyFile | None:
        with self._sessions() as s:
            return s.scalar(select(SurveyFile).where(SurveyFile.survey_id == survey_id, SurveyFile.sha256 == sha256))

    def add_file(
        self, survey_id: int, name: str, sha256: str, size: int, kind: str, path: str
    ) -> tuple[SurveyFile, bool]:
        """Record a stored file; (row, False) when the survey has this content already (idempotent re-upload)."""
        with self._sessions() as s:
            s.connection(execution_options=WRITE)
            if s.get(Survey, survey_id) is None:
                raise SurveyNotFound(survey_id)
            old = s.scalar(select(SurveyFile).where(SurveyFile.survey_id == survey_id, SurveyFile.sha256 == sha256))
            if old is not None:
                return old, False
            row = SurveyFile(survey_id=survey_id, name=name, sha256=sha256, size=size, kind=kind, path=path)
            s.add(row)
            s.commit()
            return row, True

    def file_result(self, file_id: int, error: str | None, detections: int = 0, findings: int = 0) -> None:
        with self._sessions() as s:
            s.execute(
                update(SurveyFile)
                .where(SurveyFile.id == file_id)
                .values(status="error" if error else "done", error=error, detections=detections, findings=findings)
            )
            s.commit()

    # ---- findings ----------------------------------------------------------------------------------------
    def replace_findings(self, survey_id: int, rows: Sequence[FindingRow]) -> None:
        """The survey's findings become `rows` (re-processing replaces, never doubles them)."""
        with self._sessions() as s:
            s.connection(execution_options=WRITE)
            s.execute(delete(SurveyFinding).where(SurveyFinding.survey_id == survey_id))
            s.add_all(
                SurveyFinding(
                    survey_id=survey_id,
                    file_id=r.file_id,
                    kind=r.kind,
                    class_name=r.class_name,
                    category=r.category,
                    confidence=r.confidence,
                    lat=r.lat,
                    lon=r.lon,
                    x1=r.bbox[0],
                    y1=r.bbox[1],
                    x2=r.bbox[2],
                    y2=r.bbox[3],
                    frame=r.frame,
                    case_id=r.case_id,
                    permit=r.permit,
                    note=r.note[:500],
                )
                for r in rows
            )
            s.commit()

    def findings(self, survey_id: int) -> builtins.list[SurveyFinding]:
        with self._sessions() as s:
            q = select(SurveyFinding).where(SurveyFinding.survey_id == survey_id).order_by(SurveyFinding.id)
            return list(s.scalars(q))

    # ---- permits -----------------------------------------------------------------------------------------
    def add_permits(self, area: str, geojson: dict[str, Any]) -> builtins.list[Permit]:
        """Add the Polygon / MultiPolygon features of a GeoJSON FeatureCollection (`properties.name`) to the
        permit register of `area`. Raises `InvalidAction` naming the first bad feature."""
        rings = parse_permits(geojson)
        with self._sessions() as s:
            rows = [Permit(area=area, name=name, ring=ring) for name, ring in rings]
            s.add_all(rows)
            s.commit()
            return rows

    def permits(self, area: str) -> builtins.list[Permit]:
        with self._sessions() as s:
            q = select(Permit).where(Permit.area == area, Permit.active.is_(True)).order_by(Permit.id)
            return list(s.scalars(q))


class SqlSurveyRepository:
    """`inference.ports.SurveyRepository` on the case store: `SurveyStore`'s rows as plain records."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._store = SurveyStore(sessions)

    def get(self, survey_id: int) -> SurveyRecord:
        return _survey(self._store.get(survey_id))

    def previous(self, survey: SurveyRecord) -> SurveyRecord | None:
        row = self._store.previous(survey)
        return None if row is None else _survey(row)

    def files(self, survey_id: int) -> builtins.list[SurveyFileRecord]:
        return [
            SurveyFileRecord(
                id=f.id,
                survey_id=f.survey_id,
                name=f.name,
                sha256=f.sha256,
                kind=f.kind,
                path=f.path,
                created_at=f.created_at,
                status=f.status,
            )
            for f in self._store.files(survey_id)
        ]

    def permits(self, area: str) -> builtins.list[PermitRecord]:
        return [PermitRecord(name=p.name, ring=p.ring) for p in self._store.permits(area)]

    def set_status(self, survey_id: int, status: str, **values: Any) -> None:
        self._store.set_status(survey_id, status, **values)

    def progress(self, survey_id: int, files_done: int, files_total: int, current: str | None, percent: float) -> None:
        self._store.progress(survey_id, files_done, files_total, current, percent)

    def file_result(self, file_id: int, error: str | None, detections: int = 0, findings: int = 0) -> None:
        self._store.file_result(file_id, error, detections, findings)

    def replace_findings(self, survey_id: int, rows: Sequence[FindingRow]) -> None:
        self._store.replace_findings(survey_id, rows)

    def findings(self, survey_id: int) -> builtins.list[FindingRecord]:
        return [
            FindingRecord(
                id=f.id,
                kind=f.kind,
                class_name=f.class_name,
                category=f.category,
                confidence=f.confidence,
                lat=f.lat,
                lon=f.lon,
                x1=f.x1,
                y1=f.y1,
                x2=f.x2,
                y2=f.y2,
                file_id=f.file_id,
                frame=f.frame,
                case_id=f.case_id,
                permit=f.permit,
                note=f.note,
            )
            for f in self._store.findings(survey_id)
        ]


def _survey(row: Survey) -> SurveyRecord:
    return SurveyRecord(id=row.id, area=row.area, name=row.name, flight=dict(row.flight or {}), status=row.status)


def parse_permits(geojson: Any) -> list[tuple[str, list[list[float]]]]:
    """(name, outer ring) of each polygon of a FeatureCollection; `InvalidAction` for anything else."""
    if isinstance(geojson, str | bytes):
        try:
            geojson = json.loads(geojson)
        except ValueError as exc:
            raise InvalidAction(f"permit register: not JSON ({exc})") from None
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection":
        raise InvalidAction("permit register: expected a GeoJSON FeatureCollection")
    feats = geojson.get("features")
    if not isinstance(feats, list) or not feats:
        raise InvalidAction("permit register: the FeatureCollection has no features")
    if len(feats) > MAX_PERMIT_FEATURES:
        raise InvalidAction(f"permit register: more than {MAX_PERMIT_FEATURES} features")
    out: list[tuple[str, list[list[float]]]] = []
    for i, f in enumerate(feats):
        geom = f.get("geometry") if isinstance(f, dict) else None
        props = (f.get("properties") if isinstance(f, dict) else None) or {}
        name = str(props.get("name") or props.get("permit") or f"permit {i + 1}")[:200]
        if not isinstance(geom, dict) or geom.get("type") not in {"Polygon", "MultiPolygon"}:
            raise InvalidAction(f"permit register: feature {i}: geometry must be a Polygon or MultiPolygon")
        polys = [geom.get("coordinates")] if geom["type"] == "Polygon" else geom.get("coordinates")
        if not isinstance(polys, list) or not polys:
            raise InvalidAction(f"permit register: feature {i}: no coordinates")
        for poly in polys:
            out.append((name, _ring(poly, i)))
    return out


def _ring(poly: Any, i: int) -> list[list[float]]:
    if not isinstance(poly, list) or not poly or not isinstance(poly[0], list):
        raise InvalidAction(f"permit register: feature {i}: a polygon must be a list of rings")
    ring = poly[0]
    if not 4 <= len(ring) <= MAX_RING_POINTS:
        raise InvalidAction(f"permit register: feature {i}: a ring needs 4 … {MAX_RING_POINTS} positions")
    pts: list[list[float]] = []
    for p in ring:
        if not isinstance(p, list) or len(p) < 2 or not all(isinstance(v, int | float) for v in p[:2]):
            raise InvalidAction(f"permit register: feature {i}: positions must be [lon, lat]")
        lon, lat = float(p[0]), float(p[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidAction(f"permit register: feature {i}: position {p[:2]} is not WGS84 lon/lat")
        pts.append([lon, lat])
    return pts

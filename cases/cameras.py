"""Camera storage: the `cameras` table (one validated `CameraConfig` per row) and `camera_status` (what the
worker running a camera last reported). It implements `inference.ports.CameraStore`, the port the stream worker
reads its cameras from and writes their status to.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases.db import write_session
from cases.districts import district_id
from cases.orm import CameraRow, CameraStatusRow
from inference.errors import CameraExists, CameraNotFound
from inference.ports import StoredCamera
from inference.streams.config import CameraConfig


def _district(cfg: CameraConfig) -> str | None:
    return None if cfg.district is None else district_id(cfg.district)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlCameraStore:
    """`inference.ports.CameraStore` on the `cameras` and `camera_status` tables, plus what the API and the CLI
    do with cameras (create, replace, upsert, delete, read status)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions

    def _write(self) -> AbstractContextManager[Session]:
        """A read-then-write session (`cases.db.write_session`)."""
        return write_session(self._sessions)

    @staticmethod
    def _stored(row: CameraRow) -> StoredCamera:
        return StoredCamera(CameraConfig.model_validate(row.config), row.version, row.created_at, row.updated_at)

    def list(self, enabled_only: bool = False, visible_districts: Sequence[str] = ()) -> list[StoredCamera]:
        """The cameras (enabled ones only); `visible_districts` (a key's districts) keeps those districts'."""
        with self._sessions() as s:
            q = select(CameraRow).order_by(CameraRow.id)
            if enabled_only:
                q = q.where(CameraRow.enabled.is_(True))
            if visible_districts:
                q = q.where(CameraRow.district.in_(list(visible_districts)))
            return [self._stored(r) for r in s.scalars(q)]

    def get(self, camera_id: str) -> StoredCamera:
        with self._sessions() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id!r} not found")
            return self._stored(row)

    def create(self, cfg: CameraConfig) -> StoredCamera:
        now = _now()
        with self._write() as s:
            if s.get(CameraRow, cfg.id) is not None:
                raise CameraExists(f"camera {cfg.id!r} already exists")
            row = CameraRow(
                id=cfg.id,
                config=cfg.model_dump(mode="json"),
                enabled=cfg.enabled,
                district=_district(cfg),
                version=1,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                raise CameraExists(f"camera {cfg.id!r} already exists") from None
            return self._stored(row)

    def replace(self, cfg: CameraConfig) -> StoredCamera:
        with self._write() as s:
            row = s.get(CameraRow, cfg.id)
            if row is None:
                raise CameraNotFound(f"camera {cfg.id!r} not found")
            row.config = cfg.model_dump(mode="json")
            row.enabled = cfg.enabled
            row.district = _district(cfg)
            row.version += 1
            row.updated_at = _now()
            s.commit()
            return self._stored(row)

    def upsert(self, cfg: CameraConfig) -> tuple[StoredCamera, bool]:
        try:
            return self.create(cfg), True
        except CameraExists:
            return self.replace(cfg), False

    def delete(self, camera_id: str) -> None:
        with self._write() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id!r} not found")
            s.execute(delete(CameraStatusRow).where(CameraStatusRow.camera_id == camera_id))
            s.delete(row)
            s.commit()

    # ---- status ----------------------------------------------------------------------------------------
    def write_status(self, worker: str, statuses: dict[str, dict[str, Any]]) -> None:
        """Store the status of the cameras `worker` runs (cameras deleted meanwhile are skipped)."""
        if not statuses:
            return
        now = _now()
        with self._write() as s:
            known = set(s.scalars(select(CameraRow.id).where(CameraRow.id.in_(list(statuses)))))
            for cid, st in statuses.items():
                if cid not in known:
                    continue
                row = s.get(CameraStatusRow, cid)
                if row is None:
                    s.add(CameraStatusRow(camera_id=cid, worker=worker, state=st["state"], status=st, updated_at=now))
                else:
                    row.worker, row.state, row.status, row.updated_at = worker, st["state"], st, now
            s.commit()

    def status(self, camera_id: str) -> dict[str, Any] | None:
        with self._sessions() as s:
            row = s.get(CameraStatusRow, camera_id)
            if row is None:
                return None
            return {**row.status, "worker": row.worker, "reported_at": row.updated_at.isoformat()}

    def statuses(self) -> dict[str, dict[str, Any]]:
        with self._sessions() as s:
            return {
                r.camera_id: {**r.status, "worker": r.worker, "reported_at": r.updated_at.isoformat()}
                for r in s.scalars(select(CameraStatusRow))
            }

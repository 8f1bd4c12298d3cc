"""Evidence images: JPEG-encoded before an ingest transaction, written atomically under the evidence folder once
their rows have ids (and removed again by the caller if the transaction fails), served by case and number."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.errors import CaseNotFound, EvidenceNotFound, EvidenceWriteError, InvalidEvent
from cases.orm import Case, Evidence
from inference.event import EvidenceImage

JPEG_QUALITY = 90
JPEG_CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence image on disk, ready to be served."""

    case_id: int
    n: int
    kind: str
    path: Path
    content_type: str


@dataclass(frozen=True)
class Encoded:
    """An evidence image as JPEG bytes, ready to be written."""

    kind: str
    data: bytes
    width: int
    height: int


def encode(evidence: EvidenceImage, event_id: str) -> Encoded:
    return encode_image(evidence.image, evidence.kind, f"event {event_id}")


def encode_image(image: np.ndarray, kind: str, label: str) -> Encoded:
    """A BGR image as JPEG evidence of `kind`; `label` names it in the error."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidEvent(f"{label}: {kind} image {image.shape} cannot be JPEG-encoded")
    h, w = image.shape[:2]
    return Encoded(kind=kind, data=buf.tobytes(), width=int(w), height=int(h))


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` via a temporary file and `os.replace`: readers never see half a file."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvidenceWriteError(f"cannot write evidence file {target}: {exc.strerror or exc}") from exc


class EvidenceStore:
    """The evidence files under `root` (`<case id>/<n>-<kind>.jpg`) and their rows."""

    def __init__(self, sessions: sessionmaker[Session], root: Path):
        self._sessions = sessions
        self.root = root

    def write(
        self,
        case_id: int,
        observation_id: int,
        images: Sequence[Encoded],
        last_n: dict[int, int],
        now: datetime,
        written: list[Path],
    ) -> list[dict[str, Any]]:
        """Write `images` as the case's next evidence files (numbered after `last_n[case_id]`, which is kept up
        to date) and return their rows; every file written is appended to `written`."""
        rows = []
        for img in images:
            n = last_n[case_id] = last_n.get(case_id, 0) + 1
            path = f"{case_id}/{n}-{img.kind}.jpg"
            target = self.root / path
            write_atomic(target, img.data)
            written.append(target)
            rows.append(
                {
                    "case_id": case_id,
                    "observation_id": observation_id,
                    "n": n,
                    "kind": img.kind,
                    "path": path,
                    "content_type": JPEG_CONTENT_TYPE,
                    "width": img.width,
                    "height": img.height,
                    "created_at": now,
                }
            )
        return rows

    def last_numbers(self, conn: Connection, case_ids: Sequence[int]) -> dict[int, int]:
        """The highest evidence `n` of each of `case_ids` that has evidence (one query)."""
        if not case_ids:
            return {}
        return dict(conn.execute(_LAST_EVIDENCE_N, {"ids": list(case_ids)}).tuples().all())

    def get(self, case_id: int, n: int) -> EvidenceFile:
        """Evidence image `n` (from 1) of a case; raises `CaseNotFound` or `EvidenceNotFound`."""
        with self._sessions() as session:
            row = session.scalar(
                select(Evidence).where(Evidence.case_id == case_id, Evidence.n == n, Evidence.pruned_at.is_(None))
            )
            if row is None:
                if session.get(Case, case_id) is None:
                    raise CaseNotFound(case_id)
                raise EvidenceNotFound(case_id, n)
        root = self.root.resolve()
        path = (root / row.path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise EvidenceNotFound(case_id, n)
        return EvidenceFile(case_id=case_id, n=n, kind=row.kind, path=path, content_type=row.content_type)

    def first(self, case_ids: Sequence[int]) -> dict[int, int]:
        """For each case id that has evidence, the `n` of its first snapshot (else its first image)."""
        if not case_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(Evidence.case_id, Evidence.n, Evidence.kind)
                .where(Evidence.case_id.in_(list(case_ids)), Evidence.pruned_at.is_(None))
                .order_by(Evidence.case_id, Evidence.n)
            ).all()
        out: dict[int, int] = {}
        for case_id, n, kind in rows:
            if case_id not in out or (kind == "snapshot" and out[case_id] < 0):
                out[case_id] = n if kind == "snapshot" else -n
        return {k: abs(v) for k, v in out.items()}


_EVIDENCE = cast(Table, Evidence.__table__)
_LAST_EVIDENCE_N = (
    select(_EVIDENCE.c.case_id, func.max(_EVIDENCE.c.n))
    .where(_EVIDENCE.c.case_id.in_(bindparam("ids", expanding=True)))
    .group_by(_EVIDENCE.c.case_id)
)

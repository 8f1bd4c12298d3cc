"""Feedback for retraining: full frames with what people (or the sampler) said about them.

Three origins, one table (`feedback_frames`, migration 0008), images under `<data_dir>/feedback/<sha256>.jpg`:

* `verdict`: an inspector's verdict on a case (recorded in the verify transaction). For each observation of
  the case that kept its raw frame (`frame` evidence), a copy of the frame and the model version that produced
  the detection. `false_positive` → a labelled frame with no boxes (a negative); `confirmed` / `duplicate` →
  the detected box as a pre-annotation, not labelled (the frame may hold objects nobody labelled).
* `correction`: the label set of an observation's frame as corrected through the API (relabel, move, add,
  delete boxes) or a labelling tool's export; labelled.
* `sample`: kept by the active-learning sampler (`inference/sampling.py`) with the model's detections as
  pre-annotations; labelled once a labelling tool's results are imported.

Images are copied (content-addressed) because evidence retention may delete the case's files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.errors import CaseNotFound, FeedbackError, FeedbackNotFound, PermissionDenied
from cases.lifecycle import Actor, Role
from cases.orm import Case, Evidence, FeedbackFrame, Observation
from inference.ports import Box

ORIGINS = ("verdict", "correction", "sample")
CORRECT_ROLES = frozenset({Role.INSPECTOR, Role.DATA_TEAM, Role.SHIFT_LEAD, Role.ADMIN})


def validate_boxes(boxes: Sequence[Box], width: int, height: int, classes: Sequence[str] | None) -> list[Box]:
    """Boxes clipped to the frame; refuses unknown classes and boxes that are empty or outside the frame."""
    out = []
    for i, b in enumerate(boxes):
        if classes is not None and b.class_name not in classes:
            raise FeedbackError(f"box {i}: unknown class {b.class_name!r}; the model's classes are {list(classes)}")
        x1, y1, x2, y2 = (float(v) for v in b.xyxy)
        if not all(np.isfinite([x1, y1, x2, y2])):
            raise FeedbackError(f"box {i}: coordinates must be finite numbers")
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
        if cx2 - cx1 < 1 or cy2 - cy1 < 1:
            raise FeedbackError(
                f"box {i}: [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}] is empty or outside the {width}x{height} frame"
            )
        out.append(Box(b.class_name, (cx1, cy1, cx2, cy2)))
    return out


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class StoredImage:
    name: str  # relative to the feedback folder
    sha256: str
    width: int
    height: int
    bytes: int


def store_image(root: Path, data: bytes) -> StoredImage:
    """Keep JPEG/PNG bytes under `root/<sha256>.jpg` (idempotent) and return where and how big."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FeedbackError("the image cannot be decoded")
    sha = hashlib.sha256(data).hexdigest()
    name = f"{sha[:2]}/{sha}.jpg"
    target = root / name
    if not target.is_file():
        _write_atomic(target, data)
    h, w = image.shape[:2]
    return StoredImage(name, sha, int(w), int(h), len(data))


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FeedbackError(f"image {image.shape} cannot be JPEG-encoded")
    return buf.tobytes()


def _observation_frame(
    origin: str, case_id: int, obs: Observation, stored: StoredImage, verdict: str | None, **fields: Any
) -> FeedbackFrame:
    """A feedback row for an observation's stored raw frame, its detection kept as the prediction."""
    return FeedbackFrame(
        origin=origin,
        case_id=case_id,
        observation_id=obs.id,
        source_id=obs.source_id,
        image=stored.name,
        sha256=stored.sha256,
        width=stored.width,
        height=stored.height,
        bytes=stored.bytes,
        model_version=obs.model_version,
        verdict=verdict,
        predictions=[Box(obs.class_name, obs.bbox).as_json()],
        **fields,
    )


def _frame_evidence(session: Session, observation_ids: Sequence[int]) -> dict[int, Evidence]:
    rows = session.scalars(
        select(Evidence).where(
            Evidence.observation_id.in_(observation_ids), Evidence.kind == "frame", Evidence.pruned_at.is_(None)
        )
    ).all()
    return {r.observation_id: r for r in rows}


def record_verdict(
    session: Session, case: Case, verdict: str, actor: Actor, evidence_dir: Path, feedback_dir: Path
) -> int:
    """Feedback rows for a verdict on `case`, in the caller's transaction; returns how many were added.

    Observations without a raw frame (ingested before frames were kept, or pruned) are skipped. Reads do not
    flush the caller's pending changes (the case's version must move once per action).
    """
    with session.no_autoflush:
        return _record_verdict(session, case, verdict, actor, evidence_dir, feedback_dir)


def _record_verdict(
    session: Session, case: Case, verdict: str, actor: Actor, evidence_dir: Path, feedback_dir: Path
) -> int:
    observations = session.scalars(select(Observation).where(Observation.case_id == case.id)).all()
    frames = _frame_evidence(session, [o.id for o in observations])
    done = set(
        session.scalars(
            select(FeedbackFrame.observation_id).where(
                FeedbackFrame.origin == "verdict", FeedbackFrame.observation_id.in_([o.id for o in observations])
            )
        ).all()
    )
    added = 0
    for obs in observations:
        ev = frames.get(obs.id)
        if ev is None or obs.id in done:
            continue
        path = evidence_dir / ev.path
        if not path.is_file():
            continue
        stored = store_image(feedback_dir, path.read_bytes())
        negative = verdict == "false_positive"
        session.add(
            _observation_frame(
                "verdict", case.id, obs, stored, verdict, labelled=negative, boxes=[], reason=verdict, actor=actor.name
            )
        )
        added += 1
    return added


class FeedbackStore:
    """Reads and writes feedback frames (corrections, samples, labels) outside the case lifecycle."""

    def __init__(self, sessions: sessionmaker[Session], root: Path):
        self.sessions = sessions
        self.root = Path(root)

    def image_path(self, row: FeedbackFrame) -> Path:
        return self.root / row.image

    # ---- corrections ----------------------------------------------------------------------------------------
    def correct(
        self,
        case_id: int,
        boxes: Sequence[Box],
        actor: Actor,
        evidence_dir: Path,
        classes: Sequence[str] | None,
        observation_id: int | None = None,
    ) -> FeedbackFrame:
        """Set the label set of an observation's raw frame (default: the case's latest observation with one).

        `boxes` is the whole corrected set: relabelled, moved and added boxes, and none for a deleted one; an
        empty set says the frame shows nothing to detect. A second correction of the same frame replaces the first.
        """
        if actor.role not in CORRECT_ROLES:
            needed = " or ".join(r.value for r in Role if r in CORRECT_ROLES)
            raise PermissionDenied(
                f"correcting detections needs role {needed}; key {actor.name!r} has role {actor.role.value}",
                tuple(r.value for r in Role if r in CORRECT_ROLES),
            )
        with self.sessions() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise CaseNotFound(case_id)
            if not actor.may_see(case.district):
                raise PermissionDenied(
                    f"case {case_id} is in district {case.district or '(none)'}; key {actor.name!r} is bound to "
                    f"{', '.join(actor.districts)}"
                )
            query = select(Observation).where(Observation.case_id == case_id)
            if observation_id is not None:
                query = query.where(Observation.id == observation_id)
            observations = session.scalars(query.order_by(Observation.id.desc())).all()
            if not observations:
                raise FeedbackError(f"case {case_id} has no observation {observation_id}")
            frames = _frame_evidence(session, [o.id for o in observations])
            obs = next((o for o in observations if o.id in frames), None)
            if obs is None:
                raise FeedbackError(f"case {case_id}: no raw frame kept for its observations (older or pruned)")
            ev = frames[obs.id]
            path = evidence_dir / ev.path
            if not path.is_file():
                raise FeedbackError(f"case {case_id}: the frame's file is gone")
            stored = store_image(self.root, path.read_bytes())
            clean = validate_boxes(boxes, stored.width, stored.height, classes)
            row = session.scalar(
                select(FeedbackFrame).where(
                    FeedbackFrame.origin == "correction", FeedbackFrame.observation_id == obs.id
                )
            )
            if row is None:
                row = _observation_frame("correction", case_id, obs, stored, case.verdict, reason="correction")
                session.add(row)
            row.boxes = [b.as_json() for b in clean]
            row.labelled = True
            row.actor = actor.name
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    # ---- samples ----------------------------------------------------------------------------------------------
    def add_sample(
        self, image: np.ndarray, source_id: str, model_version: str, predictions: Sequence[Box], reason: str
    ) -> FeedbackFrame:
        stored = store_image(self.root, encode_jpeg(image))
        with self.sessions() as session:
            row = FeedbackFrame(
                origin="sample",
                source_id=source_id,
                image=stored.name,
                sha256=stored.sha256,
                width=stored.width,
                height=stored.height,
                bytes=stored.bytes,
                model_version=model_version,
                labelled=False,
                boxes=[],
                predictions=[b.as_json() for b in predictions],
                reason=reason,
                actor="sampler",
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    def sample_bytes(self) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.coalesce(func.sum(FeedbackFrame.bytes), 0)).where(FeedbackFrame.origin == "sample")
                )
                or 0
            )

    # ---- labels from a labelling tool -------------------------------------------------------------------------
    def set_labels(self, feedback_id: int, boxes: Sequence[Box], actor: str, classes: Sequence[str] | None) -> None:
        with self.sessions() as session:
            row = session.get(FeedbackFrame, feedback_id)
            if row is None:
                raise FeedbackNotFound(f"feedback frame {feedback_id} not found")
            row.boxes = [b.as_json() for b in validate_boxes(boxes, row.width, row.height, classes)]
            row.labelled = True
            row.actor = actor
            session.commit()

    # ---- reads ------------------------------------------------------------------------------------------------
    def list(
        self,
        origin: str | None = None,
        labelled: bool | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        visible_districts: Sequence[str] = (),
    ) -> list[FeedbackFrame]:
        """Feedback frames, oldest first; `visible_districts` (a key's districts) keeps those of their cases'
        districts only (frames of no case, e.g. samples, are then left out)."""
        query = select(FeedbackFrame).order_by(FeedbackFrame.id)
        if visible_districts:
            in_scope = select(Case.id).where(Case.district.in_(list(visible_districts)))
            query = query.where(FeedbackFrame.case_id.in_(in_scope))
        if origin is not None:
            query = query.where(FeedbackFrame.origin == origin)
        if labelled is not None:
            query = query.where(FeedbackFrame.labelled.is_(labelled))
        if since is not None:
            query = query.where(FeedbackFrame.created_at >= since.astimezone(UTC))
        if limit is not None:
            query = query.limit(limit)
        with self.sessions() as session:
            rows = list(session.scalars(query).all())
            for r in rows:
                session.expunge(r)
            return rows

    def get(self, feedback_id: int) -> FeedbackFrame:
        with self.sessions() as session:
            row = session.get(FeedbackFrame, feedback_id)
            if row is None:
                raise FeedbackNotFound(f"feedback frame {feedback_id} not found")
            session.expunge(row)
            return row

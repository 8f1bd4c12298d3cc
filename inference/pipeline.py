"""The file pipeline: media files → frames → detector → rules → events → a sink (the case service).

    source (image | video) ─ Frame ─> Detector ─ Detections ─> PersistenceRule ─ Event ─> sink(event)

A bad file is reported in its `FileReport` and the run goes on with the next file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol

from inference.detections import Detections
from inference.detector import DetectorLike
from inference.event import Event
from inference.files import MediaError, image_frames, list_media, media_kind, video_frames
from inference.frame import Frame
from inference.persistence import PersistenceRule
from inference.ports import IngestOutcome
from inference.settings import PersistenceSettings
from models.taxonomy import Taxonomy

log = logging.getLogger(__name__)


class FrameSampler(Protocol):
    def offer(self, frame: Frame, detections: Detections, model_version: str) -> str | None: ...


def predict_versioned(detector: DetectorLike, frames: list[Frame]) -> tuple[str, list[Detections]]:
    """Detections of a batch and the model version that produced them (a `DetectorHolder` may swap models)."""
    versioned = getattr(detector, "predict_versioned", None)
    if versioned is not None:
        version, dets = versioned(frames)
        return str(version), list(dets)
    return detector.version, detector.predict(frames)


@dataclass
class FileReport:
    path: Path
    frames: int = 0
    detections: int = 0
    events: int = 0
    cases_created: int = 0
    cases_merged: int = 0
    duplicates: int = 0
    case_ids: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class PipelineReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def errors(self) -> list[FileReport]:
        return [f for f in self.files if f.error]

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)


def _batched(frames: Iterable[Frame], n: int) -> Iterator[list[Frame]]:
    it = iter(frames)
    while chunk := list(islice(it, n)):
        yield chunk


class FilePipeline:
    def __init__(
        self,
        detector: DetectorLike,
        taxonomy: Taxonomy,
        persistence: PersistenceSettings,
        sink: Callable[[Event], IngestOutcome],
        batch: int = 8,
        sampler: FrameSampler | None = None,
    ):
        """`detector` may be a `DetectorHolder` (live reload: each event records the version that saw it);
        `sampler` (an `ActiveSampler`) is offered every frame with its detections."""
        self.detector = detector
        self.sampler = sampler
        self.taxonomy = taxonomy
        self.persistence = persistence
        self.sink = sink
        self.batch = batch

    def run(self, path: Path, on_file: Callable[[FileReport], None] | None = None) -> PipelineReport:
        report = PipelineReport()
        for media in list_media(path):
            fr = self.run_file(media)
            report.files.append(fr)
            if on_file:
                on_file(fr)
        return report

    def run_file(self, path: Path) -> FileReport:
        fr = FileReport(path=path)
        try:
            kind = media_kind(path)
            if kind == "image":
                frames: Iterable[Frame] = image_frames(path)
                rule = PersistenceRule(self.taxonomy, self.persistence, self.detector.version, min_frames=1)
            else:
                p = self.persistence
                frames = video_frames(path, p.video_fps, max_s=p.video_max_s, max_frames=p.video_max_frames)
                rule = PersistenceRule(self.taxonomy, self.persistence, self.detector.version)
            for chunk in _batched(frames, self.batch):
                version, batch_dets = predict_versioned(self.detector, chunk)
                for frame, dets in zip(chunk, batch_dets, strict=True):
                    fr.frames += 1
                    fr.detections += len(dets)
                    if self.sampler is not None:
                        self.sampler.offer(frame, dets, version)
                    for event in rule.update(frame, dets, model_version=version):
                        fr.events += 1
                        outcome = self.sink(event)
                        fr.cases_created += int(outcome.created)
                        fr.cases_merged += int(outcome.merged)
                        fr.duplicates += int(outcome.duplicate)
                        if outcome.case_id not in fr.case_ids:
                            fr.case_ids.append(outcome.case_id)
        except MediaError as exc:
            fr.error = str(exc)
        return fr

"""One survey video: frames sampled at persistence.video_fps, detected in batches, findings and events.

With a flight log each frame gets the pose of the log entry nearest in time, detections are placed on the
ground, and an object is one that is seen at one place (within its category's merge radius) in at least
persistence.min_frames frames. Without a log: the persistence rule on boxes, and findings without a position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from inference.detections import Detections
from inference.event import Event
from inference.files import video_frames
from inference.frame import Frame, GeoContext
from inference.persistence import PersistenceRule
from inference.pipeline import FrameSampler
from inference.ports import FindingRow, SurveyFileRecord
from inference.settings import PersistenceSettings
from inference.survey import media
from inference.survey.context import SurveyContext, flight_value
from inference.survey.findings import CONSTRUCTION, Findings, context_snapshot, distance_m, to_geo
from inference.survey.flightlog import FlightLog, read_flight_log
from inference.survey.report import FileSummary
from inference.tiling import TiledDetector
from models.taxonomy import Taxonomy


class VideoAnalyser:
    """Detects, places and reports the findings of one video at a time (`detector` None: videos are skipped)."""

    def __init__(
        self,
        detector: TiledDetector | None,
        model_version: str,
        taxonomy: Taxonomy,
        persistence: PersistenceSettings,
        batch: int,
        sampler: FrameSampler | None = None,
    ):
        self.detector = detector
        self.model_version = model_version
        self.taxonomy = taxonomy
        self.persistence = persistence
        self.batch = batch
        self.sampler = sampler  # active learning: offered every analysed frame

    def analyse(
        self,
        ctx: SurveyContext,
        f: SurveyFileRecord,
        logs: Sequence[SurveyFileRecord],
        findings: Findings,
        summary: FileSummary,
    ) -> None:
        """Analyse the video `f` into `findings` and `summary`; `logs` are the survey's flight logs."""
        if self.detector is None:
            return
        taken = ctx.taken_at(None, f)
        flight_log = self._flight_log(ctx, f, logs)
        flight = ctx.flight
        tracks = GroundTracks(self.taxonomy)
        rule = PersistenceRule(self.taxonomy, self.persistence, self.model_version)
        batch: list[Frame] = []
        sid = ctx.source_id(f)
        placed_frames = 0

        def flush() -> None:
            nonlocal placed_frames
            assert self.detector is not None
            for fr, dets in zip(batch, self.detector.predict(batch), strict=True):
                summary.detections += len(dets)
                if self.sampler is not None:
                    self.sampler.offer(fr, dets, self.model_version)
                pose = None
                if flight_log is not None:
                    t = (fr.timestamp - taken).total_seconds()
                    pose = flight_log.pose_at(
                        t, fr.width, fr.height, flight_value(flight, "height_m"), flight_value(flight, "focal35_mm")
                    )
                if pose is not None:
                    placed_frames += 1
                    tracks.update(fr, dets, media.Located(image=fr.image, pose=pose).locate(dets.xyxy))
                    continue
                for event in rule.update(fr, dets):
                    _report(event, f, fr.index, None, findings, summary)
            batch.clear()

        p = self.persistence
        for frame in video_frames(
            ctx.path(f), p.video_fps, start=taken, max_s=p.video_max_s, max_frames=p.video_max_frames
        ):
            batch.append(Frame(frame.image, sid, frame.timestamp, frame.index, f.name))
            if len(batch) >= self.batch:
                flush()
        flush()
        for event, index, geo in tracks.events(self.persistence.min_frames, self.model_version, ctx.uri(f)):
            _report(event, f, index, geo, findings, summary)
        summary.note = (
            f"video: {placed_frames} frames placed by the flight log"
            if placed_frames
            else "video: no flight log (or no usable entries): findings have no position"
        )

    @staticmethod
    def _flight_log(ctx: SurveyContext, video: SurveyFileRecord, logs: Sequence[SurveyFileRecord]) -> FlightLog | None:
        """The video's flight log: the .srt/.csv of the same name, else the survey's only log."""
        stem = Path(video.name).stem.lower()
        same = [f for f in logs if Path(f.name).stem.lower() == stem]
        pick = same[0] if same else (logs[0] if len(logs) == 1 else None)
        if pick is None:
            return None
        log_ = read_flight_log(ctx.path(pick), pick.kind)
        return log_ if len(log_) else None


def _report(
    event: Event, f: SurveyFileRecord, index: int, geo: GeoContext | None, findings: Findings, summary: FileSummary
) -> None:
    if event.category == CONSTRUCTION:
        return  # structures: change detection decides
    row = FindingRow(
        kind="detection",
        class_name=event.class_name,
        category=event.category,
        confidence=event.confidence,
        lat=geo.lat if geo else None,
        lon=geo.lon if geo else None,
        bbox=event.bbox,
        file_id=f.id,
        frame=index,
        note=f"video frame {index}; seen in {event.frames_seen} frames",
    )
    findings.report(event, row)
    summary.findings += 1


@dataclass
class _Track:
    category: str
    class_name: str
    lat: float
    lon: float
    hits: list[datetime] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    best: tuple[float, Frame, Detections, int] | None = None  # confidence, frame, detections, index


class GroundTracks:
    """Detections of a moving camera matched by where they are on the ground: one track per object."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.tracks: list[_Track] = []

    def update(self, frame: Frame, dets: Detections, positions: np.ndarray) -> None:
        cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
        for i in np.argsort(-dets.confidence):
            cat, geo = cats[i], to_geo(positions[i])
            if cat is None or geo is None:
                continue
            radius = self.taxonomy.categories[cat].merge_radius_m
            near = [(t, distance_m(t.lat, t.lon, geo.lat, geo.lon)) for t in self.tracks if t.category == cat]
            near = [(t, d) for t, d in near if d <= radius]
            if near:
                track = min(near, key=lambda td: td[1])[0]
            else:
                track = _Track(cat, str(dets.class_name[i]), geo.lat, geo.lon)
                self.tracks.append(track)
            n = len(track.hits)
            track.lat, track.lon = (track.lat * n + geo.lat) / (n + 1), (track.lon * n + geo.lon) / (n + 1)
            track.hits.append(frame.timestamp)
            conf = float(dets.confidence[i])
            track.confidences.append(conf)
            if track.best is None or conf > track.best[0]:
                track.best = (conf, frame, dets, int(i))

    def events(self, min_frames: int, model_version: str, uri: str) -> list[tuple[Event, int, GeoContext]]:
        """(event, frame index of its best sighting, position) of each track seen in at least `min_frames`."""
        out = []
        for t in self.tracks:
            if len(t.hits) < min_frames or t.best is None:
                continue
            conf, frame, dets, i = t.best
            cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
            geo = GeoContext(t.lat, t.lon)
            event = Event.from_detection(
                frame,
                dets,
                i,
                category=t.category,
                class_name=t.class_name,
                model_version=model_version,
                snapshot=context_snapshot(frame.image, dets, cats, i),
                start=min(t.hits),
                end=max(t.hits),
                confidence=conf,
                mean_confidence=min(1.0, max(0.0, float(np.mean(t.confidences)))),
                frames_seen=len(t.hits),
                geo=geo,
                uri=uri,
            )
            out.append((event, frame.index, geo))
        return out

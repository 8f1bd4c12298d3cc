"""The survey processor: every file of a survey → sliced detection → positions → findings → events → cases;
then change detection against the area's previous survey (construction candidates, permit register), and the
report. A file that cannot be read fails alone (its error is kept on the file); the rest of the survey goes on.

    files ─ load (pose | GeoTIFF) ─> TiledDetector ─ Detections ─> positions (WGS84) ─> findings ─┬─> Event ─> sink
    previous survey ─ register ─> difference + morphology + structure test ─> candidates ─ permits ┘
                                                                                  └─> report (GeoJSON, images, HTML)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cases.orm import Permit, Survey, SurveyFile
from cases.surveys import FindingRow, SurveyStore
from inference.detections import Detections
from inference.event import Event, EvidenceImage
from inference.evidence import annotate, crop
from inference.frame import Frame, GeoContext
from inference.pipeline import DetectorLike, FrameSampler, IngestOutcome
from inference.rules import PersistenceRule
from inference.sources import MediaError, video_frames
from inference.survey import change, media
from inference.survey.flightlog import FlightLog, read_flight_log
from inference.survey.geo import GeoError, point_in_polygon
from inference.survey.report import FileSummary, write_annotated, write_report
from inference.tiling import TiledDetector, TileSpec
from models.taxonomy import Taxonomy

if TYPE_CHECKING:
    from cityeye.config import Settings

log = logging.getLogger(__name__)
IMAGE_KINDS = frozenset({"jpeg", "png", "tiff"})
LOG_KINDS = frozenset({"srt", "csv"})
CONSTRUCTION = "illegal_construction"
CONTEXT_PX = 1024  # evidence snapshot: this much of a large image around the finding
MAX_PAIR_DISTANCE = 1.0  # photos pair for change detection when their cameras are within 1 × height apart


@dataclass
class SurveyResult:
    survey_id: int
    files: int = 0
    file_errors: int = 0
    findings: int = 0
    cases_created: int = 0
    cases_merged: int = 0
    changes: int = 0
    permitted: int = 0
    report_dir: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _geo(latlon: np.ndarray) -> GeoContext | None:
    lat, lon = float(latlon[0]), float(latlon[1])
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return GeoContext(lat, lon)


def _context_snapshot(image: np.ndarray, dets: Detections, cats: list[str | None], i: int) -> np.ndarray:
    """The annotated part of a large image around detection `i` (the whole image when small)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = dets.xyxy[i]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = CONTEXT_PX // 2
    ox = int(np.clip(cx - half, 0, max(0, w - CONTEXT_PX)))
    oy = int(np.clip(cy - half, 0, max(0, h - CONTEXT_PX)))
    sub = np.ascontiguousarray(image[oy : oy + CONTEXT_PX, ox : ox + CONTEXT_PX])
    shifted = Detections(
        dets.xyxy - np.array([ox, oy, ox, oy], np.float32), dets.confidence, dets.class_id, names=dets.names
    )
    return annotate(sub, shifted, cats, highlight=i)


class SurveyProcessor:
    """Processes one survey at a time. `sink` takes events (the case service's `ingest`)."""

    def __init__(
        self,
        store: SurveyStore,
        sink: Callable[[Event], IngestOutcome],
        detector: DetectorLike | None,
        taxonomy: Taxonomy,
        settings: Settings,
        on_progress: Callable[[int, int, str | None], None] | None = None,
        sampler: FrameSampler | None = None,
    ):
        self.store = store
        self.sampler = sampler  # active learning: offered every analysed image / video frame
        self.sink = sink
        self.taxonomy = taxonomy
        self.settings = settings
        self.cfg = settings.survey
        self.detector = (
            TiledDetector(
                detector,
                TileSpec(
                    size=self.cfg.tile_size or int(getattr(detector, "imgsz", 640)),
                    overlap=self.cfg.tile_overlap,
                    full_image=self.cfg.full_image,
                ),
            )
            if detector is not None
            else None
        )
        self.model_version = detector.version if detector is not None else "change-detection"
        self.on_progress = on_progress
        self._logs: list[SurveyFile] = []  # the flight logs of the survey being processed

    # ---- the run -----------------------------------------------------------------------------------------
    def run(self, survey_id: int) -> SurveyResult:
        survey = self.store.get(survey_id)
        files = self.store.files(survey_id)
        result = SurveyResult(survey_id, files=len(files))
        self._logs = [f for f in files if f.kind in LOG_KINDS]
        self.store.set_status(survey_id, "processing", started_at=datetime.now(UTC), finished_at=None, error=None)
        steps = len(files) + 2  # + change detection + report
        rows: list[FindingRow] = []
        summaries: list[FileSummary] = []
        placed: set[int] = set()
        try:
            for n, f in enumerate(files):
                self._progress(survey_id, n, steps, f.name, len(files))
                summary = self._process_file(survey, f, rows, placed, result)
                summaries.append(summary)
                if summary.error:
                    result.file_errors += 1
                    result.errors[f.name] = summary.error
            self._progress(survey_id, len(files), steps, "change detection", len(files))
            self._changes(survey, files, placed, rows, result)
            self._progress(survey_id, len(files) + 1, steps, "report", len(files))
            self.store.replace_findings(survey_id, rows)
            result.findings = len(rows)
            result.report_dir = write_report(
                self.report_dir(survey_id), survey, self.store.findings(survey_id), summaries, self.taxonomy
            )
        except Exception as exc:
            log.exception("survey %s failed", survey_id)
            self.store.set_status(
                survey_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=datetime.now(UTC)
            )
            raise
        self._progress(survey_id, steps, steps, None, len(files))
        self.store.set_status(
            survey_id,
            "done",
            finished_at=datetime.now(UTC),
            findings_count=result.findings,
            cases_created=result.cases_created,
            cases_merged=result.cases_merged,
        )
        return result

    def report_dir(self, survey_id: int) -> Path:
        return self.settings.data_dir / "surveys" / str(survey_id) / "report"

    def _progress(self, survey_id: int, step: int, steps: int, current: str | None, files: int) -> None:
        """Step `step` of `steps` (each file, then change detection, then the report) is starting."""
        self.store.progress(survey_id, min(step, files), files, current, 100.0 * step / max(steps, 1))
        if self.on_progress:
            self.on_progress(step, steps, current)

    def _path(self, f: SurveyFile) -> Path:
        return self.settings.data_dir / f.path

    def _load(self, survey: Survey, f: SurveyFile) -> media.Located:
        flight = survey.flight or {}
        return media.load(
            self._path(f),
            f.kind,
            ground_alt_m=flight_value(flight, "ground_altitude_m"),
            height_m=flight_value(flight, "height_m"),
            sensor_width_mm=self.cfg.sensor_width_mm,
        )

    # ---- one file ----------------------------------------------------------------------------------------
    def _process_file(
        self, survey: Survey, f: SurveyFile, rows: list[FindingRow], placed: set[int], result: SurveyResult
    ) -> FileSummary:
        summary = FileSummary(file_id=f.id, name=f.name, kind=f.kind)
        try:
            if f.kind in IMAGE_KINDS:
                self._image(survey, f, rows, placed, result, summary)
            elif f.kind == "mp4":
                self._video(survey, f, rows, result, summary)
            else:
                summary.note = "flight log (kept with the survey)"
        except (MediaError, GeoError) as exc:
            summary.error = str(exc).replace(str(self.settings.data_dir), "<data>")[:1000]
        except MemoryError:
            summary.error = f"{f.name}: out of memory while processing"
        except Exception as exc:  # a bad file fails alone, whatever broke
            log.exception("survey %s file %s", survey.id, f.name)
            summary.error = f"{f.name}: {type(exc).__name__}: {exc}"[:1000]
        self.store.file_result(f.id, summary.error, summary.detections, summary.findings)
        return summary

    def _taken_at(self, survey: Survey, located: media.Located | None, f: SurveyFile) -> datetime:
        if located is not None and located.taken_at is not None:
            return located.taken_at
        raw = (survey.flight or {}).get("date")
        if isinstance(raw, str):
            try:
                d = datetime.fromisoformat(raw)
                return d if d.tzinfo else d.replace(tzinfo=UTC)
            except ValueError:
                pass
        return f.created_at

    def _image(
        self,
        survey: Survey,
        f: SurveyFile,
        rows: list[FindingRow],
        placed: set[int],
        result: SurveyResult,
        summary: FileSummary,
    ) -> None:
        located = self._load(survey, f)
        if located.pose is not None or located.raster is not None:
            placed.add(f.id)
        summary.note = located.geo_note
        fp = located.footprint()
        summary.footprint = None if fp is None else [(float(a), float(b)) for a, b in fp]
        if located.pose is not None:
            summary.camera = (located.pose.lat, located.pose.lon)
        taken = self._taken_at(survey, located, f)
        frame = Frame(image=located.image, source_id=self._source_id(survey, f), timestamp=taken, uri=f.name)
        if self.detector is None:
            summary.annotated = write_annotated(self.report_dir(survey.id), f.id, located.image)
            return
        dets = self.detector.predict([frame])[0]
        if self.sampler is not None:
            self.sampler.offer(frame, dets, self.model_version)
        summary.detections = len(dets)
        cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
        positions = located.locate(dets.xyxy)
        keep = [i for i, c in enumerate(cats) if c is not None]
        for i in keep:
            cat = cats[i]
            geo = _geo(positions[i])
            box = tuple(float(v) for v in dets.xyxy[i])
            row = FindingRow(
                kind="detection",
                class_name=str(dets.class_name[i]),
                category=cat,
                confidence=float(dets.confidence[i]),
                lat=geo.lat if geo else None,
                lon=geo.lon if geo else None,
                bbox=(box[0], box[1], box[2], box[3]),
                file_id=f.id,
            )
            if cat == CONSTRUCTION:  # a structure alone is no case: change detection decides (new + unpermitted)
                rows.append(FindingRow(**{**row.__dict__, "note": "structure; cases come from change detection"}))
                continue
            event = Event(
                category=str(cat),
                class_name=row.class_name,
                source_id=frame.source_id,
                start=taken,
                end=taken,
                bbox=row.bbox,
                confidence=min(1.0, max(0.0, row.confidence)),
                mean_confidence=min(1.0, max(0.0, row.confidence)),
                frames_seen=1,
                model_version=self.model_version,
                evidence=(
                    EvidenceImage(_context_snapshot(located.image, dets, cats, i), "snapshot"),
                    EvidenceImage(crop(located.image, dets.xyxy[i]), "crop"),
                ),
                geo=geo,
                uri=f"survey:{survey.id}/{f.name}",
            )
            outcome = self.sink(event)
            self._count(outcome, result)
            rows.append(FindingRow(**{**row.__dict__, "case_id": outcome.case_id}))
        summary.findings = len(keep)
        summary.annotated = write_annotated(self.report_dir(survey.id), f.id, annotate(located.image, dets, cats))

    def _flight_log(self, video: SurveyFile) -> FlightLog | None:
        """The video's flight log: the .srt/.csv of the same name, else the survey's only log."""
        stem = Path(video.name).stem.lower()
        same = [f for f in self._logs if Path(f.name).stem.lower() == stem]
        pick = same[0] if same else (self._logs[0] if len(self._logs) == 1 else None)
        if pick is None:
            return None
        log_ = read_flight_log(self._path(pick), pick.kind)
        return log_ if len(log_) else None

    def _video(
        self, survey: Survey, f: SurveyFile, rows: list[FindingRow], result: SurveyResult, summary: FileSummary
    ) -> None:
        """Video frames sampled at persistence.video_fps. With a flight log each frame gets the pose of the log
        entry nearest in time, detections are placed on the ground, and an object is one that is seen at one
        place (within its category's merge radius) in ≥ persistence.min_frames frames. Without a log: the
        persistence rule on boxes, and findings without a position."""
        if self.detector is None:
            return
        taken = self._taken_at(survey, None, f)
        flight_log = self._flight_log(f)
        flight = survey.flight or {}
        tracks = _GroundTracks(self.taxonomy)
        rule = PersistenceRule(self.taxonomy, self.settings.persistence, self.model_version)
        batch: list[Frame] = []
        sid = self._source_id(survey, f)
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
                    self._video_event(event, f, fr.index, None, rows, result, summary)
            batch.clear()

        for frame in video_frames(self._path(f), self.settings.persistence.video_fps, start=taken):
            batch.append(Frame(frame.image, sid, frame.timestamp, frame.index, f.name))
            if len(batch) >= self.settings.detector.batch:
                flush()
        flush()
        for event, index, geo in tracks.events(
            self.settings.persistence.min_frames, self.model_version, f"survey:{survey.id}/{f.name}"
        ):
            self._video_event(event, f, index, geo, rows, result, summary)
        summary.note = (
            f"video: {placed_frames} frames placed by the flight log"
            if placed_frames
            else "video: no flight log (or no usable entries): findings have no position"
        )

    def _video_event(
        self,
        event: Event,
        f: SurveyFile,
        index: int,
        geo: GeoContext | None,
        rows: list[FindingRow],
        result: SurveyResult,
        summary: FileSummary,
    ) -> None:
        if event.category == CONSTRUCTION:
            return  # structures: change detection decides
        outcome = self.sink(event)
        self._count(outcome, result)
        summary.findings += 1
        rows.append(
            FindingRow(
                kind="detection",
                class_name=event.class_name,
                category=event.category,
                confidence=event.confidence,
                lat=geo.lat if geo else None,
                lon=geo.lon if geo else None,
                bbox=event.bbox,
                file_id=f.id,
                frame=index,
                case_id=outcome.case_id,
                note=f"video frame {index}; seen in {event.frames_seen} frames",
            )
        )

    @staticmethod
    def _source_id(survey: Survey, f: SurveyFile) -> str:
        return f"survey:{survey.area}:{f.sha256[:12]}"

    @staticmethod
    def _count(outcome: IngestOutcome, result: SurveyResult) -> None:
        result.cases_created += int(outcome.created)
        result.cases_merged += int(outcome.merged)

    # ---- change detection --------------------------------------------------------------------------------
    def _changes(
        self, survey: Survey, files: list[SurveyFile], placed: set[int], rows: list[FindingRow], result: SurveyResult
    ) -> None:
        """Pairs of overlapping images (new survey × the area's previous one), found from metadata alone; only the
        pairs are decoded. Orthos pair by footprint, photos by camera distance (≤ one flight height)."""
        previous = self.store.previous(survey)
        if previous is None:
            return
        permits = self.store.permits(survey.area)
        prev = [(p, self._placement(survey, p)) for p in self.store.files(previous.id)]
        prev_placed = [(p, pl) for p, pl in prev if pl is not None and p.kind in IMAGE_KINDS and p.status == "done"]
        for f in files:
            here = self._placement(survey, f) if f.id in placed else None
            if here is None:
                continue
            partners = [p for p, pl in prev_placed if _pairs(here, pl)]
            if not partners:
                continue
            try:
                cur = self._load(survey, f)
            except (MediaError, GeoError) as exc:
                log.warning("change detection %s: %s", f.name, exc)
                continue
            for p in partners:
                try:
                    self._change_pair(survey, f, cur, p, permits, rows, result)
                except (MediaError, GeoError) as exc:
                    log.warning("change detection %s vs %s: %s", f.name, p.name, exc)

    def _placement(self, survey: Survey, f: SurveyFile) -> media.Placement | None:
        flight = survey.flight or {}
        return media.placement(
            self._path(f),
            f.kind,
            ground_alt_m=flight_value(flight, "ground_altitude_m"),
            height_m=flight_value(flight, "height_m"),
            sensor_width_mm=self.cfg.sensor_width_mm,
        )

    def _change_pair(
        self,
        survey: Survey,
        f: SurveyFile,
        cur: media.Located,
        p: SurveyFile,
        permits: list[Permit],
        rows: list[FindingRow],
        result: SurveyResult,
    ) -> None:
        prev = self._load(survey, p)
        if cur.raster is not None and prev.raster is not None:
            warped, valid = change.warp_geo(prev.image, prev.raster, cur.image, cur.raster)
        elif cur.pose is not None and prev.pose is not None:
            pair = change.warp_features(prev.image, cur.image)
            if pair is None:
                return
            warped, valid = pair
        else:
            return
        if valid.mean() < 0.05:
            return  # they barely overlap
        candidates = change.detect_changes(warped, cur.image, valid, cur.gsd_m(), self.cfg)
        if not candidates:
            return
        positions = cur.locate(np.array([c.bbox for c in candidates]))
        taken = self._taken_at(survey, cur, f)
        for c, pos in zip(candidates, positions, strict=True):
            geo = _geo(pos)
            if geo is None:
                continue
            permit = next((pm.name for pm in permits if point_in_polygon(geo.lon, geo.lat, pm.ring)), None)
            row = FindingRow(
                kind="change",
                class_name="construction",
                category=CONSTRUCTION,
                confidence=float(min(1.0, c.rectangularity)),
                lat=geo.lat,
                lon=geo.lon,
                bbox=c.bbox,
                file_id=f.id,
                permit=permit,
                note=f"new structure since survey {p.survey_id}"
                + (f" ({c.area_m2:.0f} m²)" if c.area_m2 else "")
                + (f"; permitted: {permit}" if permit else ""),
            )
            result.changes += 1
            if permit is not None:
                result.permitted += 1
                rows.append(row)
                continue
            dets = Detections(
                np.array([c.bbox], np.float32), np.array([row.confidence]), np.array([0]), names={0: "construction"}
            )
            event = Event(
                category=CONSTRUCTION,
                class_name="construction",
                source_id=self._source_id(survey, f),
                start=taken,
                end=taken,
                bbox=c.bbox,
                confidence=row.confidence,
                mean_confidence=row.confidence,
                frames_seen=1,
                model_version="change-detection",
                evidence=(
                    EvidenceImage(_context_snapshot(cur.image, dets, [CONSTRUCTION], 0), "snapshot"),
                    EvidenceImage(crop(cur.image, dets.xyxy[0]), "crop"),
                ),
                geo=geo,
                uri=f"survey:{survey.id}/{f.name}",
            )
            outcome = self.sink(event)
            self._count(outcome, result)
            rows.append(FindingRow(**{**row.__dict__, "case_id": outcome.case_id}))


@dataclass
class _Track:
    category: str
    class_name: str
    lat: float
    lon: float
    hits: list[datetime] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    best: tuple[float, Frame, Detections, int] | None = None  # confidence, frame, detections, index


class _GroundTracks:
    """Detections of a moving camera matched by where they are on the ground: one track per object."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.tracks: list[_Track] = []

    def update(self, frame: Frame, dets: Detections, positions: np.ndarray) -> None:
        cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
        for i in np.argsort(-dets.confidence):
            cat, geo = cats[i], _geo(positions[i])
            if cat is None or geo is None:
                continue
            radius = self.taxonomy.categories[cat].merge_radius_m
            near = [(t, _distance_m(t.lat, t.lon, geo.lat, geo.lon)) for t in self.tracks if t.category == cat]
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
        out = []
        for t in self.tracks:
            if len(t.hits) < min_frames or t.best is None:
                continue
            conf, frame, dets, i = t.best
            cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
            geo = GeoContext(t.lat, t.lon)
            event = Event(
                category=t.category,
                class_name=t.class_name,
                source_id=frame.source_id,
                start=min(t.hits),
                end=max(t.hits),
                bbox=(float(dets.xyxy[i][0]), float(dets.xyxy[i][1]), float(dets.xyxy[i][2]), float(dets.xyxy[i][3])),
                confidence=min(1.0, max(0.0, conf)),
                mean_confidence=min(1.0, max(0.0, float(np.mean(t.confidences)))),
                frames_seen=len(t.hits),
                model_version=model_version,
                evidence=(
                    EvidenceImage(_context_snapshot(frame.image, dets, cats, i), "snapshot"),
                    EvidenceImage(crop(frame.image, dets.xyxy[i]), "crop"),
                ),
                geo=geo,
                uri=uri,
            )
            out.append((event, frame.index, geo))
        return out


def _pairs(a: media.Placement, b: media.Placement) -> bool:
    if a.raster is not None and b.raster is not None:
        return a.overlaps(b)
    if a.pose is not None and b.pose is not None:
        return _distance_m(a.pose.lat, a.pose.lon, b.pose.lat, b.pose.lon) <= MAX_PAIR_DISTANCE * a.pose.height_m
    return False


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from inference.survey.geo import wgs84_to_enu

    e, n = wgs84_to_enu(lat1, lon1, np.array([lat2]), np.array([lon2]))
    return float(math.hypot(e[0], n[0]))


def flight_value(flight: dict[str, Any], key: str) -> float | None:
    v = flight.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

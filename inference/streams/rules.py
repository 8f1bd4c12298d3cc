"""Per-category rules on tracked objects of one camera; each raises at most one `Event` per track.

* street_stall — stays >= `dwell_s` in a no_vending zone, at a time outside the permitted hours;
* garbage — persists >= `persist_s`;
* billboard_hazard — the sign's tilt since its baseline exceeds `tilt_deg`, or it moved by >= `moved_frac`
  of its size (the baseline is the median box of its first `baseline_s` of sightings; the tilt is solved
  from how the box of a w×h rectangle grows when it turns: W = w·cosθ + h·sinθ, H = w·sinθ + h·cosθ);
* illegal_construction — present >= `persist_s` in a construction_watch zone.

Zones: when the camera has zones of the rule's kind the object must stand inside one; without such zones
the rule applies to the whole picture unless `require_zone` is set. The event carries the best frame
(highest confidence) as an annotated snapshot and a crop, the track id, the model version and the map
position (`CameraGeo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from inference.detections import Detections
from inference.event import Event
from inference.evidence import annotate
from inference.frame import Frame
from inference.streams.camera_geo import CameraGeo
from inference.streams.config import CameraConfig
from inference.streams.zones import Zones
from models.taxonomy import Taxonomy

ZONE_OF = {"street_stall": "no_vending", "illegal_construction": "construction_watch"}


@dataclass
class _Track:
    track_id: int
    category: str
    class_name: str
    first_seen: datetime
    last_seen: datetime
    seen_s: float = 0.0  # time observed: sum of the gaps between sightings that are <= rules.gap_s
    zone_s: float = 0.0  # the same, counted only while in the rule's zone
    hits: int = 0
    confidences: list[float] = field(default_factory=list)
    best_conf: float = -1.0
    best_frame: Frame | None = None
    best_dets: Detections | None = None
    best_index: int = 0
    baseline: list[np.ndarray] = field(default_factory=list)
    baseline_box: np.ndarray | None = None
    over: int = 0  # consecutive sightings over the billboard threshold
    fired: bool = False
    detail: str = ""


def tilt_from_boxes(base: np.ndarray, now: np.ndarray) -> float:
    """Degrees a w×h rectangle (upright box `base`) must turn to fill the box `now` (0..45, least squares)."""
    w, h = float(base[2] - base[0]), float(base[3] - base[1])
    bw, bh = float(now[2] - now[0]), float(now[3] - now[1])
    if w <= 0 or h <= 0:
        return 0.0
    thetas = np.radians(np.arange(0.0, 45.25, 0.25))
    c, s = np.cos(thetas), np.sin(thetas)
    err = ((w * c + h * s - bw) / w) ** 2 + ((w * s + h * c - bh) / h) ** 2
    return float(math.degrees(thetas[int(np.argmin(err))]))


class CameraRules:
    """The rule state of one camera: `update(frame, tracked detections, model version) -> events`."""

    def __init__(self, camera: CameraConfig, taxonomy: Taxonomy, geo: CameraGeo | None = None):
        self.camera = camera
        self.taxonomy = taxonomy
        self.zones = Zones(camera.zones)
        self.geo = geo or CameraGeo(camera.geo)
        self.tz = ZoneInfo(camera.timezone)
        self._tracks: dict[int, _Track] = {}
        self.forget_s = 600.0

    def _in_zone(self, category: str, box: np.ndarray) -> bool:
        kind = ZONE_OF[category]
        rule = self.camera.rules.street_stall if category == "street_stall" else self.camera.rules.illegal_construction
        if self.zones.has(kind):
            return self.zones.contains(kind, box)
        return not rule.require_zone

    def _permitted(self, t: datetime) -> bool:
        local = t.astimezone(self.tz).time()
        return any(w.contains(local) for w in self.camera.rules.street_stall.permitted_hours)

    def update(self, frame: Frame, dets: Detections, model_version: str) -> list[Event]:
        now = frame.timestamp
        self._tracks = {
            k: tr for k, tr in self._tracks.items() if (now - tr.last_seen).total_seconds() <= self.forget_s
        }
        if dets.tracker_id is None or len(dets) == 0:
            return []
        names = dets.class_name
        cats = [self.taxonomy.category_of(str(n)) for n in names]
        events: list[Event] = []
        for i, cat in enumerate(cats):
            if cat is None:
                continue
            tid = int(dets.tracker_id[i])
            tr = self._tracks.get(tid)
            if tr is None or tr.category != cat:
                tr = self._tracks[tid] = _Track(tid, cat, str(names[i]), now, now)
            gap = (now - tr.last_seen).total_seconds()
            step = gap if gap <= self.camera.rules.gap_s else 0.0
            tr.seen_s += step
            tr.last_seen = now
            tr.hits += 1
            conf = float(dets.confidence[i])
            tr.confidences.append(conf)
            if conf > tr.best_conf:
                tr.best_conf, tr.best_frame, tr.best_dets, tr.best_index = conf, frame, dets, i
            if tr.fired:
                continue
            if self._check(tr, dets.xyxy[i], now, step):
                tr.fired = True
                events.append(self._event(tr, cats, model_version))
        return events

    def _check(self, tr: _Track, box: np.ndarray, now: datetime, step: float) -> bool:
        rules = self.camera.rules
        if tr.category == "street_stall":
            r = rules.street_stall
            if not r.enabled:
                return False
            if not self._in_zone(tr.category, box):
                tr.zone_s = 0.0
                return False
            tr.zone_s += step
            if tr.zone_s >= r.dwell_s and not self._permitted(now):
                tr.detail = f"stayed {tr.zone_s:.0f} s in a no-vending zone"
                return True
            return False
        if tr.category == "garbage":
            g = rules.garbage
            if g.enabled and tr.seen_s >= g.persist_s:
                tr.detail = f"persisted {tr.seen_s:.0f} s"
                return True
            return False
        if tr.category == "illegal_construction":
            c = rules.illegal_construction
            if not c.enabled or not self._in_zone(tr.category, box):
                tr.zone_s = 0.0
                return False
            tr.zone_s += step
            if tr.zone_s >= c.persist_s:
                tr.detail = f"present {tr.zone_s:.0f} s in a construction-watch zone"
                return True
            return False
        if tr.category == "billboard_hazard":
            return self._billboard(tr, box, now)
        return False

    def _billboard(self, tr: _Track, box: np.ndarray, now: datetime) -> bool:
        b = self.camera.rules.billboard_hazard
        if not b.enabled:
            return False
        if tr.baseline_box is None:
            tr.baseline.append(box.copy())
            if (now - tr.first_seen).total_seconds() >= b.baseline_s and len(tr.baseline) >= 2:
                tr.baseline_box = np.median(np.stack(tr.baseline), axis=0)
            return False
        base = tr.baseline_box
        tilt = tilt_from_boxes(base, box)
        size = max(float(base[2] - base[0]), float(base[3] - base[1]), 1.0)
        shift = math.hypot(
            float((box[0] + box[2]) - (base[0] + base[2])) / 2, float((box[1] + box[3]) - (base[1] + base[3])) / 2
        )
        if tilt >= b.tilt_deg or shift >= b.moved_frac * size:
            tr.over += 1
        else:
            tr.over = 0
        if tr.over >= b.confirm_frames:
            tr.detail = f"tilted {tilt:.0f}°" if tilt >= b.tilt_deg else f"moved {shift:.0f} px"
            return True
        return False

    def _event(self, tr: _Track, cats: list[str | None], model_version: str) -> Event:
        assert tr.best_frame is not None and tr.best_dets is not None
        frame, dets, i = tr.best_frame, tr.best_dets, tr.best_index
        categories = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
        snapshot = annotate(frame.image, dets, categories, highlight=i)
        # the raw frame goes with the evidence: it is what verdicts and corrections label
        return Event.from_detection(
            frame,
            dets,
            i,
            category=tr.category,
            class_name=tr.class_name,
            model_version=model_version,
            snapshot=snapshot,
            start=tr.first_seen,
            end=tr.last_seen,
            confidence=tr.best_conf,
            mean_confidence=float(np.mean(tr.confidences)),
            frames_seen=tr.hits,
            with_frame=True,
            geo=self.geo.locate(dets.xyxy[i]),
            source_id=self.camera.source_id,
            uri=self.camera.safe_url,
            tracker_id=tr.track_id,
        )

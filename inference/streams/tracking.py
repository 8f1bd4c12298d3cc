"""Tracking: ultralytics' ByteTrack, plus stationary-object memory so a parked stall or a garbage pile keeps
its id across occlusions and detector misses.

ByteTrack keeps a lost track for `track_buffer` frames (set from `track_buffer_s` × the camera's fps) and
re-finds it by IoU of its Kalman-predicted box. A stationary object can be missed for longer than that (a
bus parks in front of it); when ByteTrack then starts a new track, `StationaryTracker` looks up the ids it
has seen recently: a new track of the same class whose box overlaps a remembered, currently unused box by
IoU >= `reassociate_iou` (within `memory_s`) takes that stable id back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from inference.detections import Detections, box_iou


@dataclass
class _Memory:
    class_id: int
    box: np.ndarray
    last_seen: datetime


class StationaryTracker:
    """`update(detections, t)` → the detections that belong to confirmed tracks, with stable `tracker_id`s."""

    def __init__(
        self,
        fps: float,
        track_buffer_s: float = 30.0,
        reassociate_iou: float = 0.5,
        memory_s: float = 600.0,
        high_thresh: float = 0.25,
        low_thresh: float = 0.1,
        match_thresh: float = 0.8,
    ):
        from ultralytics.engine.results import Boxes
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        self._boxes = Boxes
        args = IterableSimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=high_thresh,
            track_low_thresh=low_thresh,
            new_track_thresh=high_thresh,
            track_buffer=max(1, round(track_buffer_s * fps)),
            match_thresh=match_thresh,
            fuse_score=True,
        )
        self._bt = BYTETracker(args)
        self.reassociate_iou = reassociate_iou
        self.memory_s = memory_s
        self._alias: dict[int, int] = {}  # ByteTrack id -> stable id
        self._memory: dict[int, _Memory] = {}  # stable id -> last box
        self._ids = itertools.count(1)
        self.reassociated = 0

    def update(self, detections: Detections, t: datetime) -> Detections:
        n = len(detections)
        data = np.zeros((n, 6), np.float32)
        if n:
            data[:, :4] = detections.xyxy
            data[:, 4] = detections.confidence
            data[:, 5] = detections.class_id
        rows = self._bt.update(self._boxes(data, (1, 1)))
        self._memory = {k: m for k, m in self._memory.items() if (t - m.last_seen).total_seconds() <= self.memory_s}
        idx: list[int] = []
        ids: list[int] = []
        active: set[int] = set()
        for row in rows:
            bt_id, det = int(row[4]), int(row[7])
            if not 0 <= det < n:
                continue
            stable = self._alias.get(bt_id)
            if stable is None:
                stable = self._reassociate(int(detections.class_id[det]), detections.xyxy[det], active)
                self._alias[bt_id] = stable
            if stable in active:  # two ByteTrack tracks on one remembered object: keep the first
                continue
            active.add(stable)
            idx.append(det)
            ids.append(stable)
            self._memory[stable] = _Memory(int(detections.class_id[det]), detections.xyxy[det].copy(), t)
        live = {int(s.track_id) for s in (*self._bt.tracked_stracks, *self._bt.lost_stracks)}
        self._alias = {k: v for k, v in self._alias.items() if k in live}
        out = detections[np.asarray(idx, np.int64)] if idx else detections[np.zeros(0, np.int64)]
        return out.with_tracker_id(np.asarray(ids, np.int64))

    def _reassociate(self, class_id: int, box: np.ndarray, active: set[int]) -> int:
        in_use = active | set(self._alias.values())
        cands = [(k, m) for k, m in self._memory.items() if m.class_id == class_id and k not in in_use]
        if cands:
            overlaps = box_iou(box[None, :], np.stack([m.box for _, m in cands]))[0]
            j = int(np.argmax(overlaps))
            if overlaps[j] >= self.reassociate_iou:
                self.reassociated += 1
                return cands[j][0]
        return next(self._ids)

"""The pieces of the stream path in isolation: tracking ids across misses, rules' timing, tilt, zones, geo,
leases, back-off, the detector holder."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import redis

from inference.detections import Detections
from inference.frame import Frame
from inference.holder import DetectorHolder
from inference.streams.camera_geo import CameraGeo
from inference.streams.config import CameraConfig
from inference.streams.leases import Leases
from inference.streams.rules import CameraRules, tilt_from_boxes
from inference.streams.source import backoff_delay
from inference.streams.tracking import StationaryTracker
from models.taxonomy import load_taxonomy

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NAMES = {0: "stall", 1: "garbage", 2: "garbage_bin", 3: "signboard", 4: "construction"}


def dets(*rows: tuple[float, float, float, float, int]) -> Detections:
    if not rows:
        return Detections.empty(NAMES)
    arr = np.array(rows, np.float32)
    return Detections(arr[:, :4], np.full(len(rows), 0.9), arr[:, 4].astype(int), names=NAMES)


def frame(t: float) -> Frame:
    return Frame(np.zeros((480, 640, 3), np.uint8), "camera:c", T0 + timedelta(seconds=t))


def test_stationary_object_keeps_its_id_across_a_long_miss() -> None:
    tr = StationaryTracker(fps=2, track_buffer_s=2, reassociate_iou=0.5)
    d = dets((10, 10, 60, 60, 0), (200, 200, 260, 280, 1))
    first = [tr.update(d, T0 + timedelta(seconds=i / 2)).tracker_id.tolist() for i in range(4)]
    assert first[-1] == [1, 2]
    for i in range(4, 40):  # 18 s without a detection: ByteTrack drops both tracks after 2 s
        assert len(tr.update(dets(), T0 + timedelta(seconds=i / 2))) == 0
    again = [tr.update(d, T0 + timedelta(seconds=i / 2)).tracker_id.tolist() for i in range(40, 43)]
    assert again[-1] == [1, 2] and tr.reassociated == 2
    # a different object elsewhere gets a new id
    moved = tr.update(dets((400, 10, 450, 60, 0)), T0 + timedelta(seconds=22))
    moved = tr.update(dets((400, 10, 450, 60, 0)), T0 + timedelta(seconds=22.5))
    assert moved.tracker_id.tolist() == [3]


def _rules(**cam: Any) -> CameraRules:
    return CameraRules(CameraConfig.model_validate({"id": "c", "url": "rtsp://h/x", **cam}), load_taxonomy())


def test_stall_needs_dwell_in_zone_outside_permitted_hours() -> None:
    zone = {"name": "z", "kind": "no_vending", "points": [[0, 100], [300, 100], [300, 480], [0, 480]]}
    rules = _rules(
        zones=[zone],
        rules={"street_stall": {"dwell_s": 3, "permitted_hours": [{"start": "11:00", "end": "12:00:02"}]}},
    )
    inside, outside = (10, 50, 100, 200, 0), (400, 50, 500, 200, 0)
    fired = []
    for i in range(20):  # 0.5 s apart: 10 s
        d = dets(inside, outside).with_tracker_id(np.array([1, 2]))
        fired += [(i, e) for e in rules.update(frame(i / 2), d, "v1")]
    # the stall outside the zone never fires; inside it fires once after 3 s of dwell, once the permitted
    # window (until 12:00:02) is over
    assert [(i, e.category, e.tracker_id) for i, e in fired] == [(6, "street_stall", 1)]
    e = fired[0][1]
    assert e.model_version == "v1" and {x.kind for x in e.evidence} == {"snapshot", "crop", "frame"}


def _garbage_events(times: tuple[float, ...], persist_s: float) -> int:
    rules = _rules(rules={"garbage": {"persist_s": persist_s}, "gap_s": 2})
    return sum(
        len(rules.update(frame(t), dets((10, 10, 50, 50, 1)).with_tracker_id(np.array([7])), "v1")) for t in times
    )


def test_gaps_longer_than_gap_s_do_not_count_as_presence() -> None:
    away = (0, 1, 2, 10, 11)  # seen 2 s, away 8 s (> gap_s), seen 1 s: 3 s of presence, not 11
    assert _garbage_events(away, persist_s=3.5) == 0
    assert _garbage_events((*away, 11.5), persist_s=3.5) == 1
    assert _garbage_events(tuple(range(12)), persist_s=3.5) == 1  # once per track, however long it stays


@pytest.mark.parametrize("deg", [0.0, 5.0, 12.0, 20.0, 30.0])
def test_tilt_is_recovered_from_the_box_of_a_turned_sign(deg: float) -> None:
    w, h = 180.0, 54.0
    th = np.radians(deg)
    bw, bh = w * np.cos(th) + h * np.sin(th), w * np.sin(th) + h * np.cos(th)
    assert tilt_from_boxes(np.array([0, 0, w, h]), np.array([0, 0, bw, bh])) == pytest.approx(deg, abs=0.5)


def test_sign_that_moved_fires_once() -> None:
    rules = _rules(rules={"billboard_hazard": {"baseline_s": 1, "confirm_frames": 2, "moved_frac": 0.5}})
    out = []
    for i in range(12):
        x = 100 if i < 6 else 300  # jumps 200 px to the right after 3 s
        out += rules.update(frame(i / 2), dets((x, 50, x + 150, 95, 3)).with_tracker_id(np.array([4])), "v1")
    assert [e.category for e in out] == ["billboard_hazard"]


def test_construction_only_in_watch_zone_when_required() -> None:
    cfg = {"rules": {"illegal_construction": {"persist_s": 1, "require_zone": True}}}
    rules = _rules(**cfg)
    out = []
    for i in range(6):
        out += rules.update(frame(i), dets((10, 10, 200, 200, 4)).with_tracker_id(np.array([1])), "v1")
    assert out == []  # require_zone and the camera has no construction_watch zone


def test_mask_zone_and_homography() -> None:
    cam = CameraConfig.model_validate(
        {
            "id": "c",
            "url": "rtsp://h/x",
            "geo": {
                "lat": 31.0,
                "lon": 121.0,
                "homography": [
                    {"pixel": [0, 400], "lat": 31.0, "lon": 121.0},
                    {"pixel": [600, 400], "lat": 31.0, "lon": 121.001},
                    {"pixel": [0, 100], "lat": 31.001, "lon": 121.0},
                    {"pixel": [600, 100], "lat": 31.001, "lon": 121.001},
                ],
            },
        }
    )
    geo = CameraGeo(cam.geo)
    p = geo.locate((250, 200, 350, 250))  # ground point (300, 250): the middle of the mapped square
    assert p is not None and p.lat == pytest.approx(31.0005, abs=1e-6) and p.lon == pytest.approx(121.0005, abs=1e-6)
    with pytest.raises(ValueError, match="one line"):
        CameraConfig.model_validate(
            {
                "id": "c",
                "url": "rtsp://h/x",
                "geo": {
                    "lat": 31.0,
                    "lon": 121.0,
                    "homography": [{"pixel": [i, i], "lat": 31.0 + i * 1e-5, "lon": 121.0} for i in range(4)],
                },
            }
        )


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 8.0, rng) for n in range(8)]
    assert all(0.25 <= d <= 8.0 for d in delays)
    assert delays[0] <= 0.5 and 2.0 <= delays[3] <= 4.0 and 4.0 <= delays[7] <= 8.0
    assert len({round(backoff_delay(3, 0.5, 8.0, rng), 6) for _ in range(10)}) > 1  # jitter


def test_leases_share_and_expire(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    prefix = "test-leases"
    for k in r.scan_iter(match=f"{prefix}:*"):
        r.delete(k)
    a = Leases(r, "a", ttl_s=0.5, prefix=prefix)
    b = Leases(r, "b", ttl_s=0.5, prefix=prefix)
    cams = ["c1", "c2", "c3", "c4"]
    assert a.balance(cams) == set(cams)  # alone: all of them
    b.balance(cams)  # b announces itself; a gives two back on its next round, b takes them
    a.balance(cams)
    got_b = b.balance(cams)
    assert len(a.held) == 2 and len(got_b) == 2 and a.held.isdisjoint(got_b)
    assert all(a.owner(c) in {"a", "b"} for c in cams)
    # a dies: nothing renews its leases; after the TTL b holds everything
    import time

    time.sleep(0.7)
    assert b.balance(cams) == set(cams)
    assert a.balance(cams) == set()  # a's renewals fail: it knows it lost them
    b.release_all()
    assert all(b.owner(c) is None for c in cams)


class _Fake:
    def __init__(self, version: str):
        self.version = version

    def predict(self, frames: Any) -> list[Detections]:
        return [Detections.empty() for _ in frames]


def test_detector_holder_reloads_when_the_wanted_version_changes() -> None:
    wanted = ["v1"]
    holder = DetectorHolder(_Fake, lambda: wanted[0], poll_s=0.0, background=False)
    assert holder.maybe_reload() is False
    wanted[0] = "v2"
    assert holder.maybe_reload() is True and holder.get().version == "v2"

    def load(version: str) -> _Fake:
        if version != "v1":
            raise RuntimeError("bad weights")
        return _Fake(version)

    wanted2 = ["v1"]
    holder2 = DetectorHolder(load, lambda: wanted2[0], poll_s=0.0, background=False)
    wanted2[0] = "v3"
    assert holder2.maybe_reload() is False and holder2.get().version == "v1"
    fixed = DetectorHolder.fixed(_Fake("v1"))
    assert fixed.maybe_reload() is False and fixed.get().version == "v1"

"""Survey video + DJI SRT flight log (frames placed by the log entry nearest in time; one object seen over many
frames of a moving drone → one case at its ground position), and a drone photo next to a street camera."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from cases.feedback import FeedbackStore
from cityeye.config import SamplingSettings
from inference.detections import Detections
from inference.frame import Frame
from inference.geo import enu_to_wgs84
from inference.sampling import ActiveSampler
from inference.survey.flightlog import parse_csv, parse_srt
from tests.inference.survey.conftest import Env
from tests.inference.survey.factories import LAT0, LON0, distance_m, expected_latlon
from tests.integration.security.corpus import long_video

W, H, FPS, HEIGHT = 640, 480, 10, 50.0
F = 24.0 / float(np.hypot(36, 24)) * float(np.hypot(W, H))
GSD = HEIGHT / F
PILE = (5.0, 20.0)  # east, north of the take-off point, metres


class RedBlobDetector:
    """A real (if simple) detector for the test: saturated red regions are garbage piles."""

    version = "red-blob-1"
    names = {0: "garbage"}

    def predict(self, frames: list[Frame]) -> list[Detections]:
        out = []
        for f in frames:
            hsv = cv2.cvtColor(f.image, cv2.COLOR_BGR2HSV)
            mask = (((hsv[..., 0] < 8) | (hsv[..., 0] > 172)) & (hsv[..., 1] > 150) & (hsv[..., 2] > 120)).astype(
                np.uint8
            )
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, a in stats[1:] if a > 50]
            out.append(
                Detections(
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.full(len(boxes), 0.9),
                    np.zeros(len(boxes)),
                    names=self.names,
                )
            )
        return out


def _flight(tmp_path: Path) -> tuple[Path, Path]:
    """A 6 s nadir flight north at 5 m/s over textured ground with one red pile; video + SRT per frame."""
    rng = np.random.default_rng(0)
    gh, gw = 1400, 1000
    ground = cv2.GaussianBlur(rng.integers(60, 140, (gh, gw, 3), dtype=np.uint8), (7, 7), 0)
    gx0, gy0 = gw // 2, gh - 300  # ground pixel of the take-off point
    px, py = gx0 + PILE[0] / GSD, gy0 - PILE[1] / GSD
    cv2.circle(ground, (int(round(px)), int(round(py))), 12, (20, 20, 230), -1)
    video = tmp_path / "DJI_0042.MP4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    blocks = []
    for k in range(6 * FPS):
        north = 5.0 * k / FPS
        cy = gy0 - north / GSD
        m = np.float32([[1, 0, -(gx0 - W / 2)], [0, 1, -(cy - H / 2)]])
        writer.write(cv2.warpAffine(ground, m, (W, H), flags=cv2.INTER_LINEAR))
        lat, lon = enu_to_wgs84(LAT0, LON0, np.array([0.0]), np.array([north]))
        t0, t1 = k * 100, (k + 1) * 100  # milliseconds
        stamp = f"00:00:{t0 // 1000:02d},{t0 % 1000:03d} --> 00:00:{t1 // 1000:02d},{t1 % 1000:03d}"
        blocks.append(
            f'{k + 1}\n{stamp}\n<font size="28">FrameCnt: {k + 1}, DiffTime: 100ms\n'
            f"[iso: 100] [focal_len: 24.00] [latitude: {lat[0]:.7f}] [longitude: {lon[0]:.7f}] "
            f"[rel_alt: {HEIGHT:.3f} abs_alt: 62.000] [gb_yaw: 0.0 gb_pitch: -90.0 gb_roll: 0.0]</font>\n"
        )
    writer.release()
    srt = tmp_path / "DJI_0042.SRT"
    srt.write_text("\n".join(blocks))
    return video, srt


def test_a_pile_seen_from_a_moving_drone_is_one_case_at_its_ground_position(env: Env, tmp_path: Path) -> None:
    video, srt = _flight(tmp_path)
    survey = env.store.create("jingan-2", flight={"date": datetime(2026, 11, 20, 3, tzinfo=UTC).isoformat()})
    env.add(survey.id, video, srt)
    store = FeedbackStore(env.service.sessions, env.settings.feedback_dir)
    every_frame = SamplingSettings(rate=1.0, random_rate=1.0, per_source_per_hour=100_000)
    sampler = ActiveSampler(every_frame, store, seed=0)
    result = env.processor(RedBlobDetector(), sampler=sampler).run(survey.id)
    assert result.file_errors == 0, result.errors
    # active learning: every analysed video frame was offered, and kept (rate 1) with the survey's source id
    samples = store.list(origin="sample")
    assert len(samples) == sampler.offered > 0
    [source] = {r.source_id for r in samples}  # one video, one source
    assert source.startswith(f"survey:{survey.area}:")
    cases = env.service.list_cases().items
    assert len(cases) == 1 and cases[0].category == "garbage"
    want = expected_latlon(LAT0, LON0, *PILE)
    assert distance_m(want[0], want[1], cases[0].lat, cases[0].lon) < 1.0
    assert cases[0].observation_count == 1  # one event for the whole flight, seen in many frames
    [finding] = env.store.findings(survey.id)
    assert finding.lat is not None and "seen in" in finding.note


def test_flight_log_readers() -> None:
    srt = parse_srt(
        "1\n00:00:01,500 --> 00:00:01,533\n[latitude: 31.5] [longitude: 121.25] [rel_alt: 80.5 abs_alt: 90]\n\n"
        "2\n00:00:02,000 --> 00:00:02,033\n[latitude: 0.0] [longitude: 0.0]\n"
    )
    assert [(e.t_s, e.lat, e.lon, e.height_m) for e in srt.entries] == [(1.5, 31.5, 121.25, 80.5)]
    assert srt.nearest(1.9) is not None and srt.nearest(3.0) is None
    log = parse_csv(
        "time_s,Latitude,Longitude,height_m,gimbal_pitch\n0,31.1,121.1,60,-90\n1,31.2,121.2,nan,-60\nx,1,2,3,4\n"
    )
    assert [(e.t_s, e.height_m, e.pitch) for e in log.entries] == [(0.0, 60.0, -90.0), (1.0, None, -60.0)]
    assert log.pose_at(0.2, 640, 480) is None  # no focal length in this log
    pose = log.pose_at(0.2, 640, 480, focal35_mm=24)
    assert pose is not None and pose.height_m == 60 and pose.pitch_deg == -90
    assert parse_csv("a,b\n1,2\n").entries == []


def test_a_pile_seen_by_a_street_camera_and_in_a_drone_photo_is_one_case(env: Env, tmp_path: Path) -> None:
    """The issue's example: the same garbage pile, reported by a camera, then found in a survey photo."""
    from inference.frame import GeoContext
    from tests.cases.factories import make_event
    from tests.inference.survey.factories import WHEN, pixel_of, write_drone_photo

    w, h, height = 1200, 900, 60.0
    f = 24.0 / float(np.hypot(36, 24)) * float(np.hypot(w, h))
    pile = (12.0, -7.0)
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(60, 140, (h, w, 3), dtype=np.uint8), (7, 7), 0)
    u, v = pixel_of(*pile, height, 20.0, -90.0, f, w / 2, h / 2)
    cv2.circle(image, (int(round(u)), int(round(v))), 14, (20, 20, 230), -1)
    photo = write_drone_photo(tmp_path / "DJI_0100.JPG", image, height=height, yaw=20.0)
    camera = env.service.ingest(
        make_event(
            category="garbage", source_id="cam-3", start=WHEN, geo=GeoContext(*expected_latlon(LAT0, LON0, 14.0, -5.0))
        )
    )
    survey = env.store.create("jingan-2")
    env.add(survey.id, photo)
    env.processor(RedBlobDetector()).run(survey.id)
    cases = env.service.list_cases().items
    assert [c.id for c in cases] == [camera.case_id] and cases[0].observation_count == 2
    [finding] = env.store.findings(survey.id)
    want = expected_latlon(LAT0, LON0, *pile)
    assert finding.case_id == camera.case_id and distance_m(want[0], want[1], finding.lat, finding.lon) < 0.5


class CountingDetector(RedBlobDetector):
    def __init__(self) -> None:
        self.frames = 0

    def predict(self, frames: list[Frame]) -> list[Detections]:
        self.frames += len(frames)
        return super().predict(frames)


def test_a_long_video_is_a_file_error_before_any_frame_is_decoded(env: Env, tmp_path: Path) -> None:
    """20,000 frames declared at 1 fps (~600 KB): 20,000 detector runs before the cap; now a per-file error."""
    video = tmp_path / "long.mp4"
    video.write_bytes(long_video())
    survey = env.store.create("xuhui-9")
    env.add(survey.id, video)
    detector = CountingDetector()
    result = env.processor(detector).run(survey.id)
    assert result.file_errors == 1 and detector.frames == 0
    assert "video is 20000 s long; the limit is 10800 s" in str(result.errors)


def test_video_frames_stop_at_the_frame_and_duration_caps(tmp_path: Path) -> None:
    from inference.files import MediaError, video_frames

    video = tmp_path / "v.mp4"
    video.write_bytes(long_video(frames=60, fps=10))
    assert len(list(video_frames(video, 10))) == 60
    with pytest.raises(MediaError, match="more than 20 sampled frames"):
        list(video_frames(video, 10, max_frames=20))
    with pytest.raises(MediaError, match="video is 6 s long; the limit is 5 s"):
        list(video_frames(video, 10, max_s=5))

"""Fixtures of the stream tests: one H.264 scene video for the session, camera configs, worker settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cityeye.config import Settings, StreamSettings
from datasets.synthetic import TimelineItem
from tests.inference.streams.helpers import h264_scene_video

SEED = 5
SIZE = (640, 480)
DURATION_S = 12.0


@pytest.fixture(scope="session")
def scene(session_data_dir: Path) -> tuple[Path, list[TimelineItem]]:
    """A 12 s street scene: a stall appears (~2.3 s) and stays, garbage appears (~5.3 s) and stays, a sign
    tilts 0 → 20° (3.6-7.2 s), and a second stall is there for only ~1 s (transient)."""
    video = session_data_dir / "streams" / "scene.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    timeline = h264_scene_video(video, seed=SEED, duration_s=DURATION_S, fps=10, size=SIZE)
    return video, timeline


def camera(camera_id: str, url: str, **extra: Any) -> dict[str, Any]:
    """A camera dict: a no-vending zone over the pavement/road, short rule times for a 12 s video."""
    return {
        "id": camera_id,
        "url": url,
        "fps": 5,
        "zones": [
            {"name": "pavement", "kind": "no_vending", "points": [[0, 250], [640, 250], [640, 480], [0, 480]]},
            {"name": "sky", "kind": "mask", "points": [[0, 0], [640, 0], [640, 40], [0, 40]]},
        ],
        "geo": {
            "lat": 31.2300,
            "lon": 121.4700,
            "homography": [
                {"pixel": [0, 480], "lat": 31.2300, "lon": 121.4700},
                {"pixel": [640, 480], "lat": 31.2300, "lon": 121.4710},
                {"pixel": [0, 250], "lat": 31.2303, "lon": 121.4700},
                {"pixel": [640, 250], "lat": 31.2303, "lon": 121.4710},
            ],
        },
        "rules": {
            "street_stall": {"dwell_s": 3},
            "garbage": {"persist_s": 2},
            "billboard_hazard": {"tilt_deg": 10, "baseline_s": 1},
        },
        **extra,
    }


def stream_settings(data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        streams=StreamSettings(
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
            stall_timeout_s=4.0,
            open_timeout_s=5.0,
            cameras_refresh_s=0.5,
            status_interval_s=0.5,
            snapshot_interval_s=1.0,
            lease_ttl_s=3.0,
            heartbeat_s=0.5,
        ),
        **extra,
    )

"""An HTTP MJPEG camera (ffmpeg as the HTTP server, `-listen 1`): frames arrive through the same source
code; when the server goes away the source backs off and reconnects to the next server on that port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from datasets.synthetic import TimelineItem
from inference.streams.source import CameraSource, SourceOptions
from tests.inference.streams.helpers import wait_for
from tests.servers import free_port


def mjpeg_server(video: Path, port: int) -> subprocess.Popen[bytes]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (check.sh installs it)")
    return subprocess.Popen(
        [ffmpeg, "-loglevel", "error", "-re", "-i", str(video), "-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg",
         "-listen", "1", f"http://127.0.0.1:{port}/cam.mjpg"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_http_mjpeg_camera_and_reconnect(scene: tuple[Path, list[TimelineItem]]) -> None:
    video, _ = scene
    port = free_port()
    server = mjpeg_server(video, port)
    src = CameraSource(
        "http-cam",
        f"http://127.0.0.1:{port}/cam.mjpg",
        SourceOptions(fps=5, reconnect_min_s=0.2, reconnect_max_s=1.0, open_timeout_s=3.0),
    )
    src.start()
    try:
        wait_for(lambda: src.status().frames >= 5, 20, "frames over HTTP")
        frame = src.latest()
        assert frame is not None and frame.image.shape == (480, 640, 3) and frame.source_id == "camera:http-cam"
        server.kill()
        server.wait(timeout=10)
        wait_for(lambda: src.status().reconnects >= 1, 20, "a reconnect attempt")
        frames = src.status().frames
        server = mjpeg_server(video, port)  # the camera comes back on the same address
        wait_for(lambda: src.status().frames >= frames + 5, 30, "frames after the reconnect")
        assert src.status().state == "streaming"
    finally:
        src.stop()
        server.kill()
        server.wait(timeout=10)

"""Test parts for the stream tests: a real RTSP server process, H.264 scene videos, and a detector double.

`GroundTruthDetector` replaces only the neural network: it finds objects in the decoded frames by their
difference to the generator's known empty background and names each by the timeline item it overlaps, so
the rule/case assertions do not depend on how well a tiny model detects synthetic objects. Everything else
(RTSP, decoding, reconnects, tracking, rules, Redis leases, the case store) is the real code.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from datasets.synthetic import CLASS_NAMES, TimelineItem, generate_video, street_background
from inference.detections import Detections
from inference.frame import Frame
from tests.servers import wait_port

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def h264_scene_video(out: Path, seed: int, duration_s: float, fps: float, size: tuple[int, int]) -> list[TimelineItem]:
    """The generator's scene video, re-encoded to H.264 (what cameras send) with a keyframe every second."""
    raw = out.with_suffix(".mp4v.mp4")
    timeline = generate_video(raw, seed=seed, duration_s=duration_s, fps=fps, size=size)
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed (check.sh installs it)"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-i", str(raw), "-c:v", "libx264", "-preset", "ultrafast",
         "-tune", "zerolatency", "-g", str(int(fps)), "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    raw.unlink()
    return timeline


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pattern_video(out: Path, duration_s: float, fps: float, size: tuple[int, int]) -> Path:
    """A moving test pattern, H.264 with a keyframe every second: a long, cheap stream for many cameras."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed (check.sh installs it)"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={size[0]}x{size[1]}:rate={fps:g}:duration={duration_s:g}", "-c:v", "libx264",
         "-preset", "ultrafast", "-g", str(max(1, int(fps))), "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    return out


class RtspServer:
    """gst-rtsp-server in a system-python3 subprocess, serving `video` at rtsp://127.0.0.1:PORT/cam, or with
    `cameras=N` N independent streams at rtsp://127.0.0.1:PORT/cam0 … cam{N-1} (`urls`)."""

    def __init__(self, video: Path, port: int, log: Path, cameras: int = 0):
        self.video, self.port, self.log, self.cameras = video, port, log, cameras
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    @property
    def urls(self) -> list[str]:
        return [f"{self.url}{i}" for i in range(self.cameras)] if self.cameras else [self.url]

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [
                SYSTEM_PYTHON,
                str(HERE.parent.parent / "integration" / "streams" / "rtsp_server.py"),
                str(self.port),
                "/cam",
                str(self.video),
                *([str(self.cameras)] if self.cameras else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_port(self.port, timeout=20)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port on loopback that accepts connections and never answers (a hung camera). Yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)  # read nothing, write nothing
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        sock.close()


@contextmanager
def rtsp_server(video: Path, port: int, log: Path, cameras: int = 0) -> Iterator[RtspServer]:
    server = RtspServer(video, port, log, cameras)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class GroundTruthDetector:
    """Objects = connected regions that differ from the empty background, named by the timeline item they
    overlap most (regions of one item are merged into one box). Confidence 0.9."""

    version = "ground-truth-double"

    def __init__(self, seed: int, size: tuple[int, int], timeline: Sequence[TimelineItem], threshold: int = 40):
        self.background = street_background(seed, size).astype(np.int16)
        self.timeline = list(timeline)
        self.threshold = threshold
        self.names = dict(enumerate(CLASS_NAMES))
        self.calls = 0
        self.batch_sizes: list[int] = []

    def _detect(self, image: np.ndarray) -> Detections:
        if image.shape != self.background.shape:
            return Detections.empty(self.names)
        diff = np.abs(image.astype(np.int16) - self.background).max(axis=2) > self.threshold
        mask = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes: dict[int, list[float]] = {}
        for x, y, w, h, area in stats[1:n]:
            if area < 40:
                continue
            comp = (float(x), float(y), float(x + w), float(y + h))
            best, best_overlap = -1, 0.0
            for k, item in enumerate(self.timeline):
                ix = max(0.0, min(comp[2], item.xyxy[2] + 20) - max(comp[0], item.xyxy[0] - 20))
                iy = max(0.0, min(comp[3], item.xyxy[3] + 20) - max(comp[1], item.xyxy[1] - 20))
                overlap = ix * iy / max(1.0, w * h)
                if overlap > best_overlap:
                    best, best_overlap = k, overlap
            if best < 0 or best_overlap < 0.5:
                continue
            b = boxes.setdefault(best, list(comp))
            b[:] = [min(b[0], comp[0]), min(b[1], comp[1]), max(b[2], comp[2]), max(b[3], comp[3])]
        if not boxes:
            return Detections.empty(self.names)
        keys = sorted(boxes)
        cls = [CLASS_NAMES.index(self.timeline[k].class_name) for k in keys]
        return Detections(
            np.array([boxes[k] for k in keys], np.float32), np.full(len(keys), 0.9), cls, names=self.names
        )

    def predict(self, frames: Sequence[Frame]) -> list[Detections]:
        self.calls += 1
        self.batch_sizes.append(len(frames))
        return [self._detect(f.image) for f in frames]

"""Many cameras in one process, from one real GStreamer RTSP server: every camera delivers, and a camera that
hangs on open (a port that accepts and never answers), refuses, or freezes mid-stream delays no other one."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from inference.streams.source import CameraSource, SourceOptions
from tests.inference.streams.helpers import SYSTEM_PYTHON, pattern_video, rtsp_server, silent_server, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.skipif(
    not Path(SYSTEM_PYTHON).exists(), reason="needs the system python3 with GStreamer (check.sh installs it)"
)

LIVE = 12
OPEN_TIMEOUT_S = 25.0  # the hung camera's open lasts this long; the live ones must not wait for it


@contextmanager
def watchdog(sources: list[CameraSource]) -> Iterator[None]:
    """What the worker's control thread does: check every source twice a second."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.5):
            for s in sources:
                s.check()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)


def test_twelve_rtsp_cameras_deliver_despite_hung_refusing_and_frozen_ones(tmp_path: Path) -> None:
    video = pattern_video(tmp_path / "pattern.mp4", duration_s=90, fps=5, size=(320, 240))
    opts = SourceOptions(fps=5, reconnect_min_s=0.5, reconnect_max_s=2.0, open_timeout_s=OPEN_TIMEOUT_S)
    with (
        rtsp_server(video, free_port(), tmp_path / "rtsp.log", cameras=LIVE) as server,
        rtsp_server(video, free_port(), tmp_path / "frozen.log") as frozen_server,
        silent_server() as silent_port,
    ):
        refused_port = free_port()
        # the bad cameras are started first: with a serial open, everyone behind them would wait
        hung = CameraSource("hung", f"rtsp://127.0.0.1:{silent_port}/cam", opts)
        refused = CameraSource("refused", f"rtsp://127.0.0.1:{refused_port}/cam", opts)
        frozen = CameraSource("frozen", frozen_server.url, opts)
        live = [CameraSource(f"cam{i}", url, opts) for i, url in enumerate(server.urls)]
        everyone = [hung, refused, frozen, *live]
        started = time.monotonic()
        for s in everyone:
            s.start()
        try:
            with watchdog(everyone):
                wait_for(lambda: all(s.status().frames >= 3 for s in [*live, frozen]), 20, "frames from every camera")
                first_round = time.monotonic() - started
                # the hung camera is still inside its open: nobody waited for it
                assert first_round < OPEN_TIMEOUT_S
                assert hung.status().state == "connecting" and hung.status().frames == 0
                st = refused.status()
                assert st.frames == 0 and st.reconnects >= 1 and st.last_error
                assert "refused" in st.last_error.lower()

                # a hung read: the frozen server keeps its TCP connection open and sends nothing
                assert frozen_server.proc is not None
                frozen_server.proc.send_signal(signal.SIGSTOP)
                try:
                    time.sleep(1.0)
                    stuck = frozen.status().frames
                    before = {s.camera_id: s.status().frames for s in live}
                    time.sleep(4.0)
                    assert frozen.status().frames == stuck
                    for s in live:  # 4 s at 5 fps: ~20 frames each; every live camera kept going
                        assert s.status().frames >= before[s.camera_id] + 8, s.status()
                        assert s.status().state == "streaming"
                finally:
                    frozen_server.proc.send_signal(signal.SIGCONT)

                # after its open timeout the hung camera's ffmpeg is killed and it retries, alone
                wait_for(lambda: hung.status().reconnects >= 1, OPEN_TIMEOUT_S + 10, "the hung open to time out")
                assert hung.status().frames == 0 and "cannot open" in (hung.status().last_error or "")
                for s in live:
                    assert s.status().state == "streaming"
        finally:
            for s in everyone:
                s.stop(timeout=2)
    for s in everyone:  # no decoder process is left behind
        assert s._decoder is None or s._decoder.proc.poll() is not None

"""A real RTSP server (GStreamer) → `StreamWorker` → cases: one case per planted problem, none for the
transient stall; the server killed mid-stream and restarted → the worker reconnects, no duplicate case."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cases.orm import Observation
from cityeye.commands.streams import stream_process
from datasets.synthetic import TimelineItem
from inference.holder import DetectorHolder
from inference.streams.config import CameraConfig
from inference.streams.runner import snapshot_path
from tests.inference.streams.conftest import SEED, SIZE, camera, stream_settings
from tests.inference.streams.helpers import SYSTEM_PYTHON, GroundTruthDetector, rtsp_server, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.skipif(
    not Path(SYSTEM_PYTHON).exists(), reason="needs the system python3 with GStreamer (check.sh installs it)"
)


def test_rtsp_scene_one_case_per_problem_and_reconnect(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    detector = GroundTruthDetector(SEED, SIZE, timeline)
    settings = stream_settings(tmp_path / "data")
    port = free_port()
    with rtsp_server(video, port, tmp_path / "rtsp.log") as server:
        process = stream_process(settings, holder=DetectorHolder.fixed(detector))
        worker, service = process.worker, process.runtime.cases
        process.cameras.create(CameraConfig.model_validate(camera("gate-1", server.url)))
        stop = threading.Event()
        thread = threading.Thread(target=process.run, args=(stop,), daemon=True)
        thread.start()
        try:

            def categories() -> Counter[str]:
                return Counter(c.category for c in service.list_cases().items)

            wait_for(lambda: len(categories()) == 3, 40, "the three planted problems to become cases")
            status = process.cameras.status("gate-1")
            assert status is not None and status["state"] == "streaming" and status["frames"] > 0

            server.kill()  # mid-stream: the camera goes away
            wait_for(lambda: worker.runner.status()["gate-1"]["state"] != "streaming", 15, "the loss to be seen")
            server.start()  # same port; the stream plays again from the start (the stall etc. reappear)
            frames_before = worker.runner.status()["gate-1"]["frames"]
            wait_for(
                lambda: worker.runner.status()["gate-1"]["frames"] > frames_before + 35,
                40,
                "frames after the reconnect",
            )
            st = worker.runner.status()["gate-1"]
            assert st["reconnects"] >= 1
            assert st["state"] == "streaming"
        finally:
            stop.set()
            thread.join(timeout=20)

    cases = service.list_cases().items
    # exactly one case per planted problem (stall, garbage, tilted sign); the transient stall made none,
    # and nothing seen again after the reconnect opened a second case
    assert sorted(c.category for c in cases) == ["billboard_hazard", "garbage", "street_stall"]
    stall = next(c for c in cases if c.category == "street_stall")
    planted = next(t for t in timeline if t.class_name == "stall" and not t.attrs.get("transient"))
    assert stall.x1 < planted.xyxy[2] and stall.x2 > planted.xyxy[0]  # the staying stall, not the transient one
    for c in cases:
        assert c.source_id == "camera:gate-1"
        assert c.lat is not None and 31.229 < c.lat < 31.232 and c.lon is not None and 121.469 < c.lon < 121.472
        record = service.get_case(c.id)
        assert {e.kind for e in record.evidence} == {"snapshot", "crop", "frame"}
        obs: list[Observation] = record.observations
        assert all(o.model_version == "ground-truth-double" and o.tracker_id is not None for o in obs)
    # the detector saw every camera frame the sources delivered, in batches
    assert detector.calls > 20
    assert snapshot_path(settings.data_dir, "gate-1").stat().st_size > 1000


def test_watchdog_restarts_a_stalled_decoder(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    """The server freezes (SIGSTOP: the TCP connection stays open, no data comes): the watchdog abandons the
    blocked decoder after stall_timeout_s and a fresh one reconnects once the server runs again."""
    import signal

    from inference.streams.source import CameraSource, SourceOptions

    video, _ = scene
    with rtsp_server(video, free_port(), tmp_path / "rtsp.log") as server:
        src = CameraSource("frozen", server.url, SourceOptions(fps=5, stall_timeout_s=2.0, reconnect_min_s=0.2))
        src.start()
        try:
            wait_for(lambda: src.status().frames > 5, 20, "frames")
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and src.status().watchdog_restarts == 0:
                    src.check()  # what the worker's control thread does every round
                    time.sleep(0.2)
                st = src.status()
                assert st.watchdog_restarts >= 1 and st.last_error and "stalled" in st.last_error
            finally:
                server.proc.send_signal(signal.SIGCONT)
            frames = src.status().frames
            wait_for(lambda: src.status().frames > frames + 5, 30, "frames from the fresh decoder")
            assert src.status().state == "streaming"
        finally:
            src.stop()

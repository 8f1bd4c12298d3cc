"""Benchmark: camera streams (issue 5), ratios measured in one run on the same frames and weights.

    python bench/streams.py [--model production|PATH] [--backend auto|onnx|pytorch] [--cameras 4] [--seconds 8]
                            [--repeats 3] [--p5-rounds 3]

P1  pipeline fps ÷ raw model.predict fps. The pipeline is the real path of `cityeye streams`: 4 file cameras
    (the generator's scene video, decode threads, fps cap), the newest frame of each camera per round, one
    batched `Detector.predict`, tracking, rules and case ingestion (SQLite); a round's time is all of
    `StreamRunner.step()`. The raw rate is ultralytics' `model.predict` of the same model object on the very
    frames of that round, in one batch, timed right after it.
P2  4 cameras batched ÷ 4 cameras one frame at a time: the same pipeline, rounds alternating between one
    detector call for all cameras' frames and one call per frame.
Rounds of the three kinds are interleaved, so the load of a shared machine drifts over all of them alike.
P5  frame → case visible in the API, p95, embedded mode: a `StreamWorker` and the API (uvicorn, real HTTP)
    in one process on one SQLite file; a poller reads GET /cases every 20 ms; latency = the time a case is
    first listed − the capture time of the frame that completed its rule (the case's `last_seen`).

The frames are the project's synthetic street scenes (a stall that stays, garbage, a tilting sign); the model
is the registry's (default: production, the bundled one), ONNX Runtime on the CPU as a worker runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = (640, 480)


def cam(cid: str, video: Path, fps: float, loop: bool) -> dict[str, Any]:
    return {
        "id": cid,
        "url": f"file://{video}",
        "fps": fps,
        "loop": loop,
        "zones": [{"name": "road", "kind": "no_vending", "points": [[0, 250], [640, 250], [640, 480], [0, 480]]}],
        "rules": {"street_stall": {"dwell_s": 3}, "garbage": {"persist_s": 2}, "billboard_hazard": {"tilt_deg": 10}},
    }


class OneAtATime:
    """The same detector, called once per frame (the unbatched baseline of P2)."""

    def __init__(self, detector: Any):
        self.detector = detector
        self.version = detector.version

    def predict(self, frames: Any) -> list[Any]:
        return [self.detector.predict([f])[0] for f in frames]


def interleaved(settings: Any, detector: Any, video: Path, n_cams: int, seconds: float) -> tuple[float, float, float]:
    """(pipeline fps batched, raw model.predict fps, pipeline fps one frame at a time), measured round by round.

    One StreamRunner with n_cams looping file cameras. Rounds alternate between the batched detector and the
    one-at-a-time wrapper (swapped between rounds through the DetectorHolder, as a live model reload would);
    after each batched round ultralytics' `model.predict` of the same model runs on the very frames of that
    round, in one batch. Load drift on a shared machine hits all three alike.
    """
    from cases.db import make_engine, migrate, session_factory
    from cases.service import CaseService
    from inference.holder import DetectorHolder
    from inference.streams.config import CameraConfig
    from inference.streams.runner import StreamRunner
    from models.taxonomy import load_taxonomy

    engine = make_engine(settings)
    migrate(settings, engine)
    service = CaseService(session_factory(engine), settings, load_taxonomy())
    holder = DetectorHolder.fixed(detector)
    runner = StreamRunner(holder, load_taxonomy(), service.ingest_many, settings.streams)
    runner.set_cameras([CameraConfig.model_validate(cam(f"c{i}", video, 20, True)) for i in range(n_cams)])
    last: list[list[Any]] = []
    orig = runner.collect

    def collect(wait_s: float) -> Any:
        got = orig(wait_s)
        last[:] = [[f for _, f in got]]
        return got

    runner.collect = collect  # type: ignore[method-assign]
    model, cfg = detector._model, detector.cfg
    one = OneAtATime(detector)
    n = {"b": 0, "s": 0, "r": 0}
    t = {"b": 0.0, "s": 0.0, "r": 0.0}
    try:
        warm = time.perf_counter() + 3.0
        while time.perf_counter() < warm:
            runner.step()
        start, k = time.perf_counter(), 0
        while time.perf_counter() - start < 2 * seconds:
            mode = "b" if k % 2 == 0 else "s"
            holder.swap(detector if mode == "b" else one)
            t0 = time.perf_counter()
            got = runner.step()
            t[mode] += time.perf_counter() - t0
            n[mode] += got
            if mode == "b" and got:
                imgs = [f.image for f in last[0]]
                t0 = time.perf_counter()
                model.predict(imgs, imgsz=detector.imgsz, conf=cfg.conf, iou=cfg.iou, max_det=cfg.max_det,
                              device=cfg.device, verbose=False, batch=len(imgs))  # fmt: skip
                t["r"] += time.perf_counter() - t0
                n["r"] += len(imgs)
            k += 1
        return n["b"] / t["b"], n["r"] / t["r"], n["s"] / t["s"]
    finally:
        runner.stop()
        engine.dispose()


def p5(settings: Any, detector: Any, video: Path, n_cams: int, rounds: int) -> list[float]:
    import uvicorn

    from cityeye.app import build_app
    from cityeye.commands.streams import stream_process
    from inference.holder import DetectorHolder
    from inference.streams.config import CameraConfig
    from tests.servers import free_port, wait_port

    process = stream_process(settings, holder=DetectorHolder.fixed(detector))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(settings), host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_port(port)
    seen: dict[int, float] = {}
    latencies: list[float] = []
    stop_poll = threading.Event()

    def poll() -> None:
        while not stop_poll.is_set():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cases?limit=200", timeout=5) as r:
                now = time.time()
                for c in json.load(r)["items"]:
                    if c["id"] not in seen:
                        seen[c["id"]] = now
                        latencies.append(now - datetime.fromisoformat(c["last_seen"]).timestamp())
            stop_poll.wait(0.02)

    stop = threading.Event()
    threading.Thread(target=poll, daemon=True).start()
    runner = threading.Thread(target=process.run, args=(stop,), daemon=True)
    runner.start()
    try:
        for r in range(rounds):
            ids = [f"r{r}-c{i}" for i in range(n_cams)]
            for cid in ids:
                process.cameras.create(CameraConfig.model_validate(cam(cid, video, 10, False)))
            target = (r + 1) * n_cams * 3
            deadline = time.monotonic() + 60
            while len(seen) < target and time.monotonic() < deadline:
                time.sleep(0.1)
            for cid in ids:
                process.cameras.delete(cid)
    finally:
        stop.set()
        stop_poll.set()
        runner.join(timeout=20)
        server.should_exit = True
    return latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="production", help="registry version or .pt/.onnx file")
    ap.add_argument("--data-dir", default=os.environ.get("CITYEYE_DATA_DIR", "cityeye-data"))
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="measured time per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--p5-rounds", type=int, default=3)
    ap.add_argument("--backend", default="auto", choices=["auto", "onnx", "pytorch"], help="as detector.backend")
    args = ap.parse_args()

    from models.offline import configure_ultralytics

    data_dir = Path(args.data_dir)
    configure_ultralytics(data_dir)
    from cityeye.config import AuthSettings, DetectorSettings, Settings, StreamSettings
    from datasets.synthetic import generate_video
    from inference.detector import Detector

    work = Path(tempfile.mkdtemp(prefix="cityeye-bench-streams-"))
    fast = work / "scene-20fps.mp4"  # 4 × 20 fps: more than the detector takes, so it never waits (P1, P2)
    generate_video(fast, seed=5, duration_s=12, fps=20, size=SIZE)
    real = work / "scene-10fps.mp4"
    generate_video(real, seed=5, duration_s=12, fps=10, size=SIZE)
    detector = Detector.load(
        data_dir / "models", DetectorSettings(model=args.model, batch=args.cameras, backend=args.backend)
    )
    print(f"model {detector.version} ({detector.loaded.backend}, imgsz {detector.imgsz}), {args.cameras} cameras, "
          f"{os.cpu_count()} CPUs")  # fmt: skip

    def settings(name: str) -> Settings:
        streams = StreamSettings(cameras_refresh_s=0.2, status_interval_s=1.0)
        return Settings(data_dir=work / name, auth=AuthSettings(open_read=True), streams=streams)

    p1, p2 = [], []
    for i in range(args.repeats):
        fps_b, raw, fps_s = interleaved(settings(f"r{i}"), detector, fast, args.cameras, args.seconds)
        p1.append(fps_b / raw)
        p2.append(fps_b / fps_s)
        print(
            f"  repeat {i + 1}: pipeline {fps_b:.1f} fps, raw model.predict {raw:.1f} fps, "
            f"one at a time {fps_s:.1f} fps"
        )
    spread = "(repeats: {})".format
    print(f"P1  pipeline fps ÷ raw model.predict fps = {statistics.median(p1):.2f}   (goal >= 0.95) "
          f"{spread(', '.join(f'{r:.2f}' for r in p1))}")  # fmt: skip
    print(f"P2  {args.cameras} cameras batched ÷ one at a time = {statistics.median(p2):.2f}   (goal >= 1.3) "
          f"{spread(', '.join(f'{r:.2f}' for r in p2))}")  # fmt: skip
    lat = sorted(p5(settings("p5"), detector, real, args.cameras, args.p5_rounds))
    if lat:
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"P5  frame → case in the API: p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s "
              f"over {len(lat)} cases   (goal p95 < 2 s)")  # fmt: skip
    else:
        print("P5  no case was made (the model found nothing)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

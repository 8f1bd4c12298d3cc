"""Benchmark: RTSP cameras per stream worker, from one real GStreamer RTSP server on loopback.

    python bench/cameras_per_worker.py [--cameras 16] [--minutes 5] [--size 320x240] [--fps 5]
    python bench/cameras_per_worker.py --compare-open [--cameras 10] [--size 1280x720]

Default: one `cityeye streams` worker (`stream_process`, the real decode, watchdog, runner, status, SQLite)
holds N RTSP cameras (N mounts of one gst-rtsp-server process, each its own stream of a moving H.264 test
pattern) for `--minutes`; the detector is a null double (this measures the camera side, not the model).
Reported: seconds from start until every camera delivered its first frame, cameras that did within 30 s,
the longest gap between two frames of any camera (status polled every 0.5 s), watchdog restarts,
reconnects, frames per camera, CPU seconds of the worker and its ffmpeg children, the load average.

--compare-open: time to the first frame of N cameras opened together plus one that accepts and never answers,
(a) plain `cv2.VideoCapture` in threads (OpenCV's FFmpeg backend, default and short probe), no cityeye code,
(b) `CameraSource` (one ffmpeg process per camera). The figure behind the choice in docs/streams.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class NullDetector:
    version = "null"

    def __init__(self) -> None:
        from datasets.synthetic import CLASS_NAMES

        self.names = dict(enumerate(CLASS_NAMES))

    def predict(self, frames: Any) -> list[Any]:
        from inference.detections import Detections

        return [Detections.empty(self.names) for _ in frames]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_s() -> dict[str, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"worker": me.ru_utime + me.ru_stime, "children": kids.ru_utime + kids.ru_stime}


def children_mem_mb() -> list[tuple[float, float]]:
    """(RSS, PSS) in MB of this process's ffmpeg children; PSS shares the common library pages out."""
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())], capture_output=True, text=True)
    mem = []
    for row in out.stdout.splitlines():
        pid, _, comm = row.strip().partition(" ")
        if comm.strip() != "ffmpeg":
            continue
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
        mem.append((int(fields["Rss"].split()[0]) / 1024, int(fields["Pss"].split()[0]) / 1024))
    return mem


def hold(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from cityeye.commands.streams import stream_process
    from cityeye.config import Settings, StreamSettings
    from inference.holder import DetectorHolder
    from inference.streams.config import CameraConfig
    from tests.inference.streams.helpers import pattern_video, rtsp_server
    from tests.servers import free_port

    w, h = args.size
    video = pattern_video(work / "pattern.mp4", duration_s=args.minutes * 60 + 90, fps=args.fps, size=(w, h))
    settings = Settings(data_dir=work / "data", streams=StreamSettings(status_interval_s=0.5))
    with rtsp_server(video, free_port(), work / "rtsp.log", cameras=args.cameras) as server:
        process = stream_process(settings, holder=DetectorHolder.fixed(NullDetector()))
        for i, url in enumerate(server.urls):
            process.cameras.create(CameraConfig.model_validate({"id": f"cam{i}", "url": url, "fps": args.fps}))
        cpu0, load0 = cpu_s(), load()
        stop = threading.Event()
        thread = threading.Thread(target=process.run, args=(stop,), daemon=True)
        started = time.monotonic()
        thread.start()
        first: dict[str, float] = {}
        last_change: dict[str, float] = {}
        frames: dict[str, int] = {}
        max_gap = 0.0
        assigned: float | None = None
        end = started + args.minutes * 60
        try:
            while time.monotonic() < end:
                time.sleep(0.5)
                now = time.monotonic()
                current = process.worker.runner.status()
                if assigned is None and len(current) == args.cameras:
                    assigned = now - started
                for cid, st in current.items():
                    n = st["frames"]
                    if n > frames.get(cid, 0):
                        first.setdefault(cid, now - started)
                        if cid in last_change:
                            max_gap = max(max_gap, now - last_change[cid])
                        last_change[cid] = now
                        frames[cid] = n
                for cid in first:  # a camera silent right now counts too
                    max_gap = max(max_gap, now - last_change[cid])
            status = process.worker.runner.status()
            mem = children_mem_mb()
        finally:
            stop.set()
            thread.join(timeout=30)
        cpu1 = cpu_s()
    elapsed = time.monotonic() - started
    return {
        "cameras": args.cameras,
        "size": f"{w}x{h}",
        "camera_fps": args.fps,
        "seconds": round(elapsed, 1),
        "cameras_assigned_s": round(assigned, 2) if assigned is not None else None,
        "all_first_frame_s": round(max(first.values()), 2) if len(first) == args.cameras else None,
        "cameras_within_30s": sum(1 for t in first.values() if t <= 30),
        "longest_gap_s": round(max_gap, 2),
        "watchdog_restarts": sum(s["watchdog_restarts"] for s in status.values()),
        "reconnects": sum(s["reconnects"] for s in status.values()),
        "frames_per_camera_min": min(frames.values(), default=0),
        "frames_per_camera_max": max(frames.values(), default=0),
        "ffmpeg_processes": len(mem),
        "ffmpeg_rss_mb_each_max": round(max((r for r, _ in mem), default=0), 1),
        "ffmpeg_pss_mb_total": round(sum(p for _, p in mem), 1),
        "cpu_s_worker": round(cpu1["worker"] - cpu0["worker"], 1),
        "cpu_s_ffmpeg": round(cpu1["children"] - cpu0["children"], 1),
        "loadavg_start": load0,
        "loadavg_end": load(),
        "cores": os.cpu_count(),
    }


def opencv_first_frames(urls: list[str], probe: str | None, timeout: float) -> list[float | None]:
    import cv2

    if probe:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;tcp|{probe}"
    else:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    out: list[float | None] = [None] * len(urls)
    t0 = time.monotonic()

    def one(i: int) -> None:
        cap = cv2.VideoCapture(urls[i], cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000])
        if cap.isOpened() and cap.read()[0]:
            out[i] = round(time.monotonic() - t0, 2)
        cap.release()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return out


def source_first_frames(urls: list[str], timeout: float) -> list[float | None]:
    from inference.streams.source import CameraSource, SourceOptions

    srcs = [CameraSource(f"c{i}", u, SourceOptions(fps=5, open_timeout_s=10)) for i, u in enumerate(urls)]
    out: list[float | None] = [None] * len(urls)
    t0 = time.monotonic()
    for s in srcs:
        s.start()
    while time.monotonic() - t0 < timeout and any(o is None for o in out[1:]):
        for i, s in enumerate(srcs):
            if out[i] is None and s.status().frames > 0:
                out[i] = round(time.monotonic() - t0, 2)
        time.sleep(0.02)
    for s in srcs:
        s.stop(timeout=2)
    return out


def compare_open(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from tests.inference.streams.helpers import pattern_video, rtsp_server, silent_server
    from tests.servers import free_port

    w, h = args.size
    video = pattern_video(work / "pattern.mp4", duration_s=120, fps=args.fps, size=(w, h))
    result: dict[str, Any] = {"cameras": args.cameras, "size": f"{w}x{h}", "plus": "1 hung endpoint, started first"}
    with rtsp_server(video, free_port(), work / "rtsp.log", cameras=args.cameras) as server, silent_server() as port:
        urls = [f"rtsp://127.0.0.1:{port}/cam", *server.urls]
        short = "analyzeduration;500000|probesize;100000"
        runs = {
            "opencv_threads_default_probe": lambda: opencv_first_frames(urls, None, 90),
            "opencv_threads_short_probe": lambda: opencv_first_frames(urls, short, 90),
            "ffmpeg_process_per_camera": lambda: source_first_frames(urls, 90),
        }
        for name, run in runs.items():
            t = run()[1:]
            done = [x for x in t if x is not None]
            result[name] = {"first_frame_s_max": max(done, default=None), "delivered": len(done), "load": load()}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--size", default="320x240", type=lambda s: tuple(int(x) for x in s.split("x")))
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--compare-open", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityeye-bench-cams-") as tmp:
        result = compare_open(args, Path(tmp)) if args.compare_open else hold(args, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

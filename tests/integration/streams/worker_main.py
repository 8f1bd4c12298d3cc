"""A `cityeye streams` worker process for the scale-out test: the real StreamWorker (Redis leases, sources,
tracking, rules, case store) with the ground-truth detector double in place of the network.

    python -m tests.integration.streams.worker_main DATA_DIR REDIS_URL
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from cityeye.commands.streams import stream_process
from datasets.synthetic import default_timeline
from inference.holder import DetectorHolder
from tests.inference.streams.conftest import DURATION_S, SEED, SIZE, stream_settings
from tests.inference.streams.helpers import GroundTruthDetector


def main() -> None:
    data_dir, redis_url = Path(sys.argv[1]), sys.argv[2]
    settings = stream_settings(data_dir, redis_url=redis_url)
    detector = GroundTruthDetector(SEED, SIZE, default_timeline(SEED, DURATION_S, SIZE))
    process = stream_process(settings, holder=DetectorHolder.fixed(detector))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"worker {process.worker.worker_id}", flush=True)
    process.run(stop)


if __name__ == "__main__":
    main()

"""Real servers for tests, on loopback only: Redis, and `cityeye worker` processes (Celery)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class RedisServer:
    """A `redis-server` on a free loopback port, no persistence; `restart()` keeps the port."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (check.sh installs it)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cityeye_env(data_dir: Path, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `cityeye` subprocess: this checkout first on the path, its own data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYEYE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CITYEYE_DATA_DIR"] = str(data_dir)
    if redis_url:
        env["CITYEYE_REDIS_URL"] = redis_url
    env.update(extra)
    return env


@contextmanager
def cityeye_worker(
    data_dir: Path, redis_url: str, *args: str, log: Path | None = None, new_session: bool = False, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `cityeye worker` process; killed (SIGKILL) at exit if it is still running.

    `new_session`: the worker and its pool processes get their own process group, so a test can kill them all
    at once (`os.killpg(proc.pid, SIGKILL)`), as a power cut would."""
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log or data_dir / "worker.log", "ab")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityeye.cli", "worker", *args],
        env=cityeye_env(data_dir, redis_url, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=new_session,
    )
    try:
        yield proc
    finally:
        if new_session:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the pool processes too
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()

"""`cityeye serve` trusts X-Forwarded-For only from `api.forwarded_allow_ips` (default: nobody), so a client on
the host cannot forge its address past the auth-failure limit; behind a configured proxy, the forwarded address
is the client's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import REPO, cityeye_env, free_port


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[str]:
    data_dir.mkdir(parents=True)
    port = free_port()
    log = open(data_dir / "serve.log", "ab")  # noqa: SIM115 (closed below)
    env = {"CITYEYE_OPS__AUTH_FAILURES_PER_MIN": "2", "CITYEYE_OPS__READY_MODEL": "false", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityeye.cli", "serve", "--port", str(port)],
        env=cityeye_env(data_dir, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (data_dir / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def statuses(url: str) -> list[int]:
    """Three unknown keys, each from a different forged X-Forwarded-For address."""
    return [
        httpx.get(
            f"{url}/cases", headers={"X-API-Key": "ce_abcdefgh_guess", "X-Forwarded-For": f"203.0.113.{n}"}, timeout=10
        ).status_code
        for n in range(3)
    ]


def test_a_forged_forwarded_for_does_not_escape_the_limit_by_default(tmp_path: Path) -> None:
    with serve(tmp_path / "direct") as url:
        assert statuses(url) == [401, 401, 429]  # all counted against 127.0.0.1, the TCP peer


def test_behind_a_listed_proxy_the_forwarded_address_is_the_client(tmp_path: Path) -> None:
    with serve(tmp_path / "proxied", CITYEYE_API__FORWARDED_ALLOW_IPS='["127.0.0.1"]') as url:
        assert statuses(url) == [401, 401, 401]  # three clients behind the proxy, each with its own count

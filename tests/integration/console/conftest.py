"""A real `cityeye serve` on a seeded data dir, and a real headless Chromium driven by Selenium.

The browser is Debian's `chromium` with its `chromium-driver` (check.sh installs both); Selenium is pointed at
them, so its driver manager never looks anything up. Screenshots go to `<data_dir>/screenshots` and, when
`$CITYEYE_ARTIFACTS` is set (CI), are copied there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.console.seed import City, seed_city
from tests.servers import REPO, cityeye_env, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@dataclass
class Server:
    url: str
    city: City
    proc: subprocess.Popen[bytes]

    @property
    def data_dir(self) -> Path:
        return self.city.settings.data_dir

    def api(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.city.keys[role]}, timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    port = free_port()
    city = seed_city(data_dir, port=port)
    log = open(data_dir / "serve.log", "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityeye.cli", "--config", str(city.config_file), "serve"],
        env=cityeye_env(data_dir),
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
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"cityeye serve did not start: {(data_dir / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield Server(url, city, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed (check.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--lang=en-GB",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(server: Server) -> Iterator[Path]:
    out = server.data_dir / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    yield out
    artifacts = os.environ.get("CITYEYE_ARTIFACTS")
    if artifacts:
        dest = Path(artifacts) / "console-screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy2(png, dest / png.name)

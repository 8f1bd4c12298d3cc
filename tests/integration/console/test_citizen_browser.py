"""A citizen on a phone (Chromium with mobile emulation, 390×844, touch) against a real `cityeye serve`: their app
posts a report through Open311, the status page shows it in Chinese and English, and the same problem reported
a second time by someone else is the same case. Screenshots at phone size (`citizen-*.png`) go to the artefacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from tests.integration.console.conftest import CHROMEDRIVER, CHROMIUM, Server
from tests.integration.console.seed import BASE_LAT, BASE_LON

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PHONE = {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": True}
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36"
GARBAGE = "0102"
SPOT = (BASE_LAT + 0.03, BASE_LON + 0.03)  # away from the seeded cases: the citizens' problem is new


@pytest.fixture(scope="module")
def phone(server: Server) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed (check.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE, "userAgent": UA})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def photo() -> bytes:
    img = np.zeros((480, 640, 3), np.uint8)
    img[200:400, 150:500] = (40, 90, 160)  # a pile
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def post(server: Server, metres: float, ref: str, with_photo: bool) -> dict[str, str]:
    """The citizens' app: the spec's form fields, api_key in the body, the photo as multipart `media`."""
    data = {
        "api_key": server.city.keys["reporter"],
        "service_code": GARBAGE,
        "lat": str(SPOT[0] + metres / 111_195.0),
        "long": str(SPOT[1]),
        "description": "路边垃圾堆 / rubbish heaped at the kerb",
        "email": "citizen@example.org",
        "client_ref": ref,
    }
    files = {"media": ("pile.jpg", photo(), "image/jpeg")} if with_photo else None
    r = httpx.post(f"{server.url}/open311/v2/requests.json", data=data, files=files, timeout=20)
    assert r.status_code == 201, r.text
    row: dict[str, str] = r.json()[0]
    return row


def no_sideways_scroll(driver: Any) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_citizen_reports_through_open311_and_follows_it_on_the_phone(
    phone: Any, server: Server, screenshots: Path
) -> None:
    first = post(server, 0, "phone-1", with_photo=True)
    second = post(server, 6, "phone-2", with_photo=False)  # someone else, 6 m away: the same pile
    assert second["service_request_id"] == first["service_request_id"]
    again = httpx.post(  # the first app retries (a lost answer): the same request, not a third observation
        f"{server.url}/open311/v2/requests.json",
        data={"api_key": server.city.keys["reporter"], "service_code": GARBAGE, "lat": str(SPOT[0]),
              "long": str(SPOT[1]), "client_ref": "phone-1"},
        timeout=20,
    )  # fmt: skip
    assert again.status_code == 200 and again.json()[0]["token"] == first["token"]

    phone.get(f"{server.url}/console/report/{first['token']}")
    assert phone.execute_script("return window.innerWidth") == 390
    WebDriverWait(phone, 15).until(lambda d: d.find_element(By.ID, "status").text)
    assert phone.find_element(By.ID, "status").get_attribute("data-status") == "detected"
    assert phone.find_element(By.ID, "status").text == "已受理"
    assert phone.find_element(By.ID, "request").text == first["service_request_id"]
    assert phone.find_element(By.ID, "seen").text == "2"  # two reports, one case
    assert "暴露垃圾" in phone.page_source
    assert "citizen@example.org" not in phone.page_source
    assert no_sideways_scroll(phone)
    lang = phone.find_element(By.ID, "lang")
    assert lang.size["height"] >= 40  # a touch target
    phone.save_screenshot(str(screenshots / "citizen-01-status-zh.png"))

    lang.click()
    WebDriverWait(phone, 15).until(lambda d: d.find_element(By.ID, "status").text == "received")
    assert "Garbage overflow" in phone.page_source and no_sideways_scroll(phone)
    phone.save_screenshot(str(screenshots / "citizen-02-status-en.png"))

    phone.get(f"{server.url}/console/report/{second['token']}?lang=en")  # the second reporter sees the same case
    WebDriverWait(phone, 15).until(lambda d: d.find_element(By.ID, "request").text)
    assert phone.find_element(By.ID, "request").text == first["service_request_id"]
    phone.save_screenshot(str(screenshots / "citizen-03-second-reporter-en.png"))

    # the case in the staff API: one case, two citizen observations, the first one's photo as evidence
    with server.api("admin") as api:
        case = api.get(f"/cases/{first['service_request_id']}").json()
    sources = [o["source_id"] for o in case["observations"]]
    assert sources == ["open311:reporter-1", "open311:reporter-1"]
    assert [e["kind"] for e in case["evidence"]] == ["frame"]
    assert "citizen@example.org" not in str(case)
    errors = [e for e in phone.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert errors == []  # nothing the CSP blocked, no script errors

"""The console on a phone (小屏干), in a real headless Chromium with mobile emulation (390×844, touch) and a fake
position (CDP Emulation.setGeolocationOverride), against a real `cityeye serve`: the crew of a district logs in,
sees its dispatched cases nearest first, opens one, handles it with a photo (the upload fails once offline and
is retried), and the API has the case handled with the photo as evidence at the phone's position; an inspector
reports a new problem with a photo. No page scrolls sideways; each screen is screenshotted at phone size."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.integration.console.conftest import CHROMEDRIVER, CHROMIUM, Server
from tests.integration.console.seed import DISTRICTS

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.integration.console.test_browser import css, shot, visible, wait  # noqa: E402

Driver = Any
WIDTH, HEIGHT = 390, 844
HERE = (31.2304 + 0.0015, 121.4737 - 0.004)  # in huangpu, west of the square


@pytest.fixture(scope="module")
def phone(server: Server) -> Iterator[Driver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed (check.sh installs them)")
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-GB"):
        options.add_argument(arg)
    options.add_experimental_option(
        "mobileEmulation",
        {
            "deviceMetrics": {"width": WIDTH, "height": HEIGHT, "pixelRatio": 3.0, "touch": True, "mobile": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Mobile Safari/537.36",
        },
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": ["geolocation"]})
    driver.execute_cdp_cmd(
        "Emulation.setGeolocationOverride", {"latitude": HERE[0], "longitude": HERE[1], "accuracy": 12}
    )
    try:
        yield driver
    finally:
        driver.quit()


def no_sideways_scroll(driver: Driver, where: str) -> None:
    width, inner = driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")
    assert inner == WIDTH, f"{where}: not at phone width ({inner})"
    assert width <= inner, f"{where}: the page scrolls sideways ({width} > {inner})"


def phone_login(driver: Driver, server: Server, key: str, role: str) -> None:
    driver.get(f"{server.url}/console/")
    driver.execute_script("sessionStorage.clear(); localStorage.setItem('cityeye.lang', 'en'); location.hash = '';")
    driver.refresh()
    visible(driver, "#login-key").send_keys(server.city.keys[key])
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "whoami").get_attribute("data-role") == role)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    rad = math.pi / 180
    s = (
        math.sin((b[0] - a[0]) * rad / 2) ** 2
        + math.cos(a[0] * rad) * math.cos(b[0] * rad) * math.sin((b[1] - a[1]) * rad / 2) ** 2
    )
    return 2 * 6371000 * math.asin(math.sqrt(s))


def test_the_crew_handles_the_nearest_case_with_a_photo(
    phone: Driver, server: Server, screenshots: Path, tmp_path: Path
) -> None:
    with server.api("admin") as api:
        registered = api.get("/cases", params={"status": "registered", "district": "huangpu"}).json()["items"]
        assert len(registered) >= 2, "the seed has too few registered cases in huangpu"
        for c in registered[:2]:  # more than one case to sort
            body = {"version": c["version"], "department": "sanitation"}
            assert api.post(f"/cases/{c['id']}/dispatch", json=body).status_code == 200
        items = api.get("/cases", params={"status": "dispatched", "limit": 500}).json()["items"]

    phone.get(f"{server.url}/console/")
    phone.execute_script("sessionStorage.clear(); localStorage.setItem('cityeye.lang', 'en');")
    phone.refresh()
    visible(phone, "#login-key")
    no_sideways_scroll(phone, "login")
    shot(phone, screenshots, "phone-1-login")
    phone_login(phone, server, "crew-huangpu", "department")
    assert phone.execute_script("return location.hash") == "#/mine"  # a phone opens on my cases

    # my cases: the dispatched cases of huangpu, nearest to the (fake) phone position first
    wait(phone, lambda d: d.find_element(By.ID, "mine-where").get_attribute("data-source") == "gps")
    mine = {c["id"]: c for c in items if c["district"] == "huangpu"}
    assert len(mine) >= 3 and len(mine) < len(items), "the seed has no dispatched case in huangpu, or none elsewhere"
    rows = phone.find_elements(By.CSS_SELECTOR, "li.mine-item")
    ids = [int(r.get_attribute("data-case-id")) for r in rows]
    assert set(ids) == set(mine)
    expected = sorted(mine, key=lambda i: metres(HERE, (mine[i]["lat"], mine[i]["lon"])) if mine[i]["lat"] else 1e9)
    assert ids == expected
    for row in rows:
        geo = row.find_element(By.CSS_SELECTOR, "a.geo").get_attribute("href")
        c = mine[int(row.get_attribute("data-case-id"))]
        assert geo.startswith(f"geo:{c['lat']},{c['lon']}?q=")
        size = row.find_element(By.CSS_SELECTOR, "a.mine-open").size
        assert size["height"] >= 44, "touch target under 44 px"
    assert phone.execute_script("return location.hash") == "#/mine"
    no_sideways_scroll(phone, "my cases")
    shot(phone, screenshots, "phone-2-my-cases")

    # open the nearest: its evidence, directions and the photo button
    case_id = ids[0]
    rows[0].find_element(By.CSS_SELECTOR, "a.mine-open").click()
    wait(phone, lambda d: d.find_element(By.ID, "mine-case").get_attribute("data-case-id") == str(case_id))
    wait(
        phone,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('img.evidence-photo')].some(i => i.naturalWidth > 0)"
        ),
    )
    assert css(phone, "#case-status").get_attribute("data-status") == "dispatched"
    assert phone.find_element(By.CSS_SELECTOR, "label.photo-button").size["height"] >= 44
    no_sideways_scroll(phone, "case")
    shot(phone, screenshots, "phone-3-case")

    # handle with a photo: offline the upload fails and offers a retry; back online the retry goes through
    photo = tmp_path / "handled.jpg"
    from datasets.synthetic import generate_scene

    cv2.imwrite(str(photo), generate_scene("street", seed=9, size=(1280, 960)).image)
    phone.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    phone.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    phone.find_element(By.ID, "handle-photo").send_keys(str(photo))
    retry = visible(phone, "#upload-retry")
    assert "failed" in phone.find_element(By.ID, "upload-text").text
    shot(phone, screenshots, "phone-4-upload-failed")
    slow = {"offline": False, "latency": 150, "downloadThroughput": 200_000, "uploadThroughput": 100_000}
    phone.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
    retry.click()
    wait(phone, lambda d: d.find_element(By.ID, "case-status").get_attribute("data-status") == "handled", 60)
    wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "img.evidence-photo[data-kind=handled]"))
    phone.execute_cdp_cmd(
        "Network.emulateNetworkConditions", {**slow, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    )
    no_sideways_scroll(phone, "handled")
    shot(phone, screenshots, "phone-5-handled")

    with server.api("admin") as api:
        detail = api.get(f"/cases/{case_id}").json()
    assert detail["status"] == "handled"
    photos = [e for e in detail["evidence"] if e["kind"] == "handled"]
    assert len(photos) == 1 and (photos[0]["width"], photos[0]["height"]) == (1280, 960)
    obs = next(o for o in detail["observations"] if o["id"] == photos[0]["observation_id"])
    assert obs["source_id"] == "handled:crew-huangpu"
    assert abs(obs["lat"] - HERE[0]) < 1e-6 and abs(obs["lon"] - HERE[1]) < 1e-6
    handled = [a for a in detail["audit"] if a["action"] == "handled"]
    assert len(handled) == 1 and handled[0]["actor"] == "crew-huangpu"

    # back on my cases the handled one is gone
    phone.find_element(By.ID, "mine-back").click()
    wait(phone, lambda d: d.find_element(By.ID, "mine-where").get_attribute("data-source") == "gps")
    left = [int(r.get_attribute("data-case-id")) for r in phone.find_elements(By.CSS_SELECTOR, "li.mine-item")]
    assert case_id not in left and set(left) == set(mine) - {case_id}


def test_the_map_and_the_queue_fit_the_phone(phone: Driver, server: Server, screenshots: Path) -> None:
    phone_login(phone, server, "dispatcher", "dispatcher")
    css(phone, "#nav-map").click()
    wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "path.case-marker"))
    top = phone.find_element(By.ID, "topbar").rect
    map_box = phone.find_element(By.ID, "map").rect
    assert map_box["y"] >= top["y"] + top["height"] - 1, "the header covers the map"
    assert not phone.find_element(By.CSS_SELECTOR, ".legend").is_displayed()
    no_sideways_scroll(phone, "map")
    shot(phone, screenshots, "phone-6-map")
    css(phone, "#nav-queue").click()
    css(phone, "tr.case-row")
    no_sideways_scroll(phone, "queue")
    shot(phone, screenshots, "phone-7-queue")


def test_an_inspector_reports_a_problem_with_a_photo(
    phone: Driver, server: Server, screenshots: Path, tmp_path: Path
) -> None:
    phone_login(phone, server, "inspector", "inspector")
    css(phone, "#mine-report").click()
    wait(phone, lambda d: d.find_element(By.ID, "report-where").get_attribute("data-source") == "gps")
    phone.find_element(By.CSS_SELECTOR, "#report-category option[value=garbage]").click()
    phone.find_element(By.ID, "report-description").send_keys("bags by the bus stop")
    no_sideways_scroll(phone, "report")
    shot(phone, screenshots, "phone-8-report")
    photo = tmp_path / "report.jpg"
    from datasets.synthetic import generate_scene

    cv2.imwrite(str(photo), generate_scene("street", seed=11, size=(800, 600)).image)
    phone.find_element(By.ID, "report-photo").send_keys(str(photo))
    done = visible(phone, "#report-done")
    case_id = int(done.get_attribute("data-case-id"))
    shot(phone, screenshots, "phone-9-reported")
    with server.api("admin") as api:
        detail = api.get(f"/cases/{case_id}").json()
    assert detail["category"] == "garbage" and detail["district"] == "huangpu"
    reports = [o for o in detail["observations"] if o["source_id"] == "manual:inspector-1"]
    assert reports and abs(reports[0]["lat"] - HERE[0]) < 1e-6
    assert any(e["kind"] == "frame" for e in detail["evidence"])
    assert any("bags by the bus stop" in (a["note"] or "") for a in detail["audit"])
    x0, y0, x1, y1 = DISTRICTS["huangpu"]
    assert x0 <= HERE[1] <= x1 and y0 <= HERE[0] <= y1

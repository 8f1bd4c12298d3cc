"""End to end in a real headless Chromium against a real `cityeye serve`: log in, the cases on the map and in
the queue, open a case, dispatch it, see the status change; bulk actions; roles; languages; no outside requests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console.conftest import Server
from tests.servers import REPO, cityeye_env

pytest.importorskip("selenium")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

Driver = Any


def wait(driver: Driver, condition: Any, timeout: float = 15) -> Any:
    # the pages re-render after each answer: an element read a moment ago may be gone, so look again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def css(driver: Driver, selector: str) -> Any:
    return wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def visible(driver: Driver, selector: str) -> Any:
    return wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def login(driver: Driver, server: Server, role: str) -> None:
    driver.get(f"{server.url}/console/#/map")
    driver.execute_script("sessionStorage.clear(); localStorage.setItem('cityeye.lang', 'en');")
    driver.refresh()  # a fresh page without a key: the login form
    key = visible(driver, "#login-key")
    key.send_keys(server.city.keys[role])
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "whoami").get_attribute("data-role") == role)


def go(driver: Driver, server: Server, route: str) -> None:
    driver.execute_script("location.hash = arguments[0];", route)


def shot(driver: Driver, screenshots: Path, name: str) -> None:
    assert driver.save_screenshot(str(screenshots / f"{name}.png"))


def open_cases(server: Server, role: str = "admin") -> list[dict[str, Any]]:
    with server.api(role) as api:
        items = api.get("/cases", params={"limit": 500}).json()["items"]
    return [c for c in items if c["status"] not in ("closed", "dismissed")]


def test_wrong_key_is_refused(browser: Driver, server: Server) -> None:
    browser.get(f"{server.url}/console/")
    browser.execute_script("sessionStorage.clear();")
    browser.refresh()
    visible(browser, "#login-key").send_keys("ce_deadbeef_not-a-real-key")
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: "unknown API key" in d.find_element(By.ID, "login-error").text)
    assert browser.find_elements(By.ID, "whoami") == []


def test_dispatcher_sees_map_and_queue_and_dispatches_a_case(
    browser: Driver, server: Server, screenshots: Path
) -> None:
    login(browser, server, "dispatcher")
    # the map: one circle per open case with a position, coloured by category, ringed by status
    expected = [c for c in open_cases(server) if c["lat"] is not None]
    no_position = [c for c in open_cases(server) if c["lat"] is None]
    assert expected and no_position, "the seed made no open cases with and without a position"
    wait(browser, lambda d: d.find_element(By.ID, "map-count").get_attribute("data-placed") == str(len(expected)))
    markers = browser.find_elements(By.CSS_SELECTOR, "path.case-marker")
    assert len(markers) == len(expected)
    # the cases without a position are listed beside the map
    unplaced = browser.find_elements(By.CSS_SELECTOR, "#unplaced a.unplaced-case")
    assert sorted(int(a.get_attribute("data-case-id")) for a in unplaced) == sorted(c["id"] for c in no_position)
    shot(browser, screenshots, "01-map")
    # the cameras layer: cam-1 has a position
    label = next(
        x for x in browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers label") if "Cameras" in x.text
    )
    label.find_element(By.TAG_NAME, "input").click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.camera-marker")) == 1)
    label.find_element(By.TAG_NAME, "input").click()
    # click a marker → its case card
    target = next(c for c in expected if c["status"] == "registered")
    marker = browser.find_element(By.CSS_SELECTOR, f"path.case-{target['id']}")
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));", marker)
    wait(browser, lambda d: d.find_element(By.ID, "case-card").get_attribute("data-case-id") == str(target["id"]))
    assert visible(browser, "#card-status").text == "Registered"
    shot(browser, screenshots, "02-map-case-card")

    # the queue, by priority: every case, overdue ones highlighted
    go(browser, server, "#/queue")
    with server.api("dispatcher") as api:
        page = api.get("/cases", params={"sort": "priority", "limit": 50}).json()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.case-row")) == page["total"])
    overdue = {c["id"] for c in page["items"] if c["overdue"]}
    assert overdue, "the seed made no overdue case"

    def queue_matches(d: Driver) -> bool:  # read in a wait: the queue refreshes itself every 30 s
        rows = d.find_elements(By.CSS_SELECTOR, "tr.case-row")
        ids = [int(r.get_attribute("data-case-id")) for r in rows]
        late = {int(r.get_attribute("data-case-id")) for r in rows if "overdue" in r.get_attribute("class")}
        return ids == [c["id"] for c in page["items"]] and late == overdue

    wait(browser, queue_matches)
    shot(browser, screenshots, "03-queue")

    # open the registered case from the queue and dispatch it
    browser.find_element(By.CSS_SELECTOR, f"tr.case-row[data-case-id='{target['id']}'] a").click()
    assert visible(browser, "#case-status").get_attribute("data-status") == "registered"
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#evidence svg image[href^='blob:']")) >= 1)
    assert browser.find_elements(By.CSS_SELECTOR, "#evidence figure.snapshot g.box rect"), "no box drawn"
    browser.find_element(By.CSS_SELECTOR, "#evidence figure.snapshot svg").click()  # full size, box included
    visible(browser, ".lightbox svg g.box rect")
    browser.find_element(By.CSS_SELECTOR, ".lightbox").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".lightbox") == [])
    buttons = {b.get_attribute("data-action") for b in browser.find_elements(By.CSS_SELECTOR, "#actions button.action")}
    assert buttons == {"dispatch", "note"}  # a dispatcher may dispatch a registered case, and add notes
    shot(browser, screenshots, "04-case")
    browser.find_element(By.CSS_SELECTOR, "#actions button[data-action='dispatch']").click()
    visible(browser, "#actions input[name='department']").send_keys("sanitation-east")
    browser.find_element(By.ID, "action-submit").click()
    wait(browser, lambda d: d.find_element(By.ID, "case-status").get_attribute("data-status") == "dispatched")
    assert browser.find_elements(By.CSS_SELECTOR, "#audit tr[data-action='dispatch']")
    shot(browser, screenshots, "05-case-dispatched")
    with server.api("admin") as api:
        case = api.get(f"/cases/{target['id']}").json()
    assert case["status"] == "dispatched" and case["department"] == "sanitation-east"
    assert case["audit"][-1]["actor"] == "dispatcher-1"


def test_operator_registers_cases_in_bulk(browser: Driver, server: Server, screenshots: Path) -> None:
    login(browser, server, "operator")
    go(browser, server, "#/queue")
    css(browser, "#q-status")
    browser.execute_script(
        "const s = document.getElementById('q-status'); s.value = 'detected'; s.dispatchEvent(new Event('change'));"
    )

    def detected_rows(d: Driver) -> list[str] | None:
        # the queue re-renders while the filter applies: wait for a settled list of at least two detected rows
        # (an empty list in between would pass a bare all(...)), and read the ids in the same look
        rows = d.find_elements(By.CSS_SELECTOR, "tr.case-row")
        if len(rows) < 2 or any(r.get_attribute("data-status") != "detected" for r in rows):
            return None
        return [r.get_attribute("data-case-id") for r in rows[:2]]

    ids = [int(i) for i in wait(browser, detected_rows)]
    for case_id in ids:
        wait(
            browser,
            lambda d, case_id=case_id: d.find_element(
                By.CSS_SELECTOR, f'tr.case-row[data-case-id="{case_id}"] input.row-select'
            ),
        ).click()
    options = {o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#bulk-action option")}
    assert options == {"register", "close", "dismiss"}  # the operator's case actions
    wait(browser, lambda d: d.find_element(By.ID, "bulk-apply").is_enabled())
    shot(browser, screenshots, "06-queue-bulk")
    browser.find_element(By.ID, "bulk-apply").click()
    wait(browser, lambda d: "Register: 2 done" in d.find_element(By.ID, "toast").get_attribute("textContent"))
    with server.api("operator") as api:
        assert [api.get(f"/cases/{i}").json()["status"] for i in ids] == ["registered", "registered"]


def test_models_page_promote_button_by_role(browser: Driver, server: Server, screenshots: Path) -> None:
    with server.api("admin") as api:
        config = api.get("/console/config").json()
    login(browser, server, "dispatcher")
    go(browser, server, "#/models")
    css(browser, "#models tr[data-stage='production']")
    assert browser.find_elements(By.CSS_SELECTOR, "button.promote") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#model-metrics tbody tr")
    shot(browser, screenshots, "07-models-dispatcher")
    login(browser, server, "data_team")
    go(browser, server, "#/models")
    css(browser, "#models tr[data-stage='production']")
    # the data team sees promote on candidates, where the server has a promotion route
    candidates = browser.find_elements(By.CSS_SELECTOR, "#models tr[data-stage='candidate']")
    promote = browser.find_elements(By.CSS_SELECTOR, "button.promote")
    assert len(promote) == (len(candidates) if config["model_promotion"] else 0)
    shot(browser, screenshots, "08-models-data-team")
    assert config["model_promotion"], "the server has POST /models/{version}/promote"
    # promote the candidate (better on every category: the gate lets it through), then roll back
    browser.find_element(By.CSS_SELECTOR, "button.promote[data-version='v2']").click()
    css(browser, "#models tr[data-version='v2'][data-stage='production']")
    css(browser, "#models tr[data-version='v1'][data-stage='archived']")
    browser.find_element(By.CSS_SELECTOR, "button.rollback[data-version='v2']").click()
    css(browser, "#models tr[data-version='v1'][data-stage='production']")
    with server.api("data_team") as api:
        assert api.get("/models/production").json()["version"] == "v1"


def test_chinese_labels_and_no_outside_requests(browser: Driver, server: Server, screenshots: Path) -> None:
    login(browser, server, "shift_lead")
    go(browser, server, "#/queue")
    css(browser, "tr.case-row")
    browser.find_element(By.ID, "lang-toggle").click()
    wait(browser, lambda d: d.find_element(By.ID, "nav-queue").text == "案件队列")
    zh_status = {"发现", "立案", "派遣", "处置", "核查", "结案", "作废"}
    zh_category = ("占道经营", "暴露垃圾", "私搭乱建", "广告牌匾")

    def queue_in_chinese(d: Driver) -> bool:  # the table re-renders after the switch: wait for the new one
        rows = d.find_elements(By.CSS_SELECTOR, "tr.case-row")
        statuses = {r.find_element(By.CSS_SELECTOR, ".badge[class*='status-']").text for r in rows}
        texts = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]
        return bool(rows) and statuses <= zh_status and all(t.startswith(zh_category) for t in texts)

    wait(browser, queue_in_chinese)
    shot(browser, screenshots, "09-queue-zh")
    go(browser, server, "#/map")
    css(browser, "path.case-marker")
    shot(browser, screenshots, "10-map-zh")
    browser.find_element(By.ID, "lang-toggle").click()
    wait(browser, lambda d: d.find_element(By.ID, "nav-queue").text == "Case queue")
    # everything the page loaded came from the cityeye server itself
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert urls and all(u.startswith(server.url) or u.startswith("blob:") or u.startswith("data:") for u in urls), urls
    # and nothing the page tried was blocked by the console's Content-Security-Policy
    blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []


def test_logout_forgets_the_key(browser: Driver, server: Server) -> None:
    login(browser, server, "inspector")
    browser.find_element(By.ID, "logout").click()
    visible(browser, "#login-key")
    assert browser.execute_script("return sessionStorage.getItem('cityeye.key');") is None
    browser.refresh()  # a new page load: nothing remembers the key
    visible(browser, "#login-key")
    assert browser.find_elements(By.ID, "whoami") == []


def click_image_at(driver: Driver, selector: str, x: float, y: float, width: float, height: float) -> None:
    """A click on an SVG picture at image pixel (x, y), as a person's mouse would send it."""
    driver.execute_script(
        """const [sel, x, y, w, h] = arguments; const el = document.querySelector(sel);
        el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();
        el.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: r.left + x / w * r.width,
                                                  clientY: r.top + y / h * r.height}));""",
        selector,
        x,
        y,
        width,
        height,
    )


def test_cameras_status_snapshot_and_zone_drawing(browser: Driver, server: Server, screenshots: Path) -> None:
    login(browser, server, "dispatcher")  # may look, may not change cameras
    go(browser, server, "#/cameras")
    css(browser, "tr.camera-row[data-camera='cam-2']")
    assert browser.find_elements(By.CSS_SELECTOR, "button.camera-edit, #camera-add") == []

    login(browser, server, "admin")
    go(browser, server, "#/cameras")
    row1 = css(browser, "tr.camera-row[data-camera='cam-1']")
    assert "streaming" in row1.text and "2.0" in row1.text
    row2 = browser.find_element(By.CSS_SELECTOR, "tr.camera-row[data-camera='cam-2']")
    assert "reconnecting" in row2.text and "connection refused" in row2.text and "4" in row2.text
    # the latest snapshot with its zone drawn
    row1.find_element(By.CSS_SELECTOR, "button.camera-view").click()
    css(browser, "#camera-detail svg image[href^='blob:']")
    assert browser.find_elements(By.CSS_SELECTOR, "#camera-detail g.zone[data-zone='sidewalk'] polygon")
    shot(browser, screenshots, "11-cameras")

    # draw a construction-watch zone on the snapshot (960 x 720) and save the camera
    browser.find_element(By.CSS_SELECTOR, "tr.camera-row[data-camera='cam-1'] button.camera-edit").click()
    css(browser, "#zone-canvas svg image[href^='blob:']")
    points = [(600, 60), (900, 60), (900, 300), (600, 300)]
    for x, y in points:
        click_image_at(browser, "#zone-canvas svg", x, y, 960, 720)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#zone-canvas g.drawing circle")) == 4)
    browser.find_element(By.ID, "zone-name").send_keys("roof")
    browser.execute_script(
        "const s = document.getElementById('zone-kind'); s.value = 'construction_watch';"
        "s.dispatchEvent(new Event('change'));"
    )
    browser.find_element(By.ID, "zone-close").click()
    css(browser, "#zone-canvas g.zone[data-zone='roof'] polygon")
    shot(browser, screenshots, "12-camera-zone-drawn")
    browser.find_element(By.ID, "camera-save").click()
    wait(browser, lambda d: d.find_elements(By.ID, "camera-form") == [])
    with server.api("admin") as api:
        zones = {z["name"]: z for z in api.get("/cameras/cam-1").json()["config"]["zones"]}
    assert zones["roof"]["kind"] == "construction_watch" and "sidewalk" in zones
    assert all(
        abs(px - x) <= 2 and abs(py - y) <= 2 for (px, py), (x, y) in zip(zones["roof"]["points"], points, strict=True)
    )

    # a new camera; a bad URL is refused with the server's message
    browser.find_element(By.ID, "camera-add").click()
    visible(browser, "#camera-form input[name='id']").send_keys("cam-3")
    browser.find_element(By.CSS_SELECTOR, "#camera-form input[name='url']").send_keys("ftp://10.0.0.7/x")
    browser.find_element(By.ID, "camera-save").click()
    wait(browser, lambda d: "url scheme must be one of" in d.find_element(By.ID, "toast").get_attribute("textContent"))
    url = browser.find_element(By.CSS_SELECTOR, "#camera-form input[name='url']")
    url.clear()
    url.send_keys("rtsp://10.0.0.7/stream")
    browser.find_element(By.ID, "camera-save").click()
    css(browser, "tr.camera-row[data-camera='cam-3']")


def test_survey_upload_progress_and_findings_on_the_map(
    browser: Driver, server: Server, screenshots: Path, tmp_path: Path
) -> None:
    from datasets.synthetic import generate_scene
    from tests.inference.survey.factories import write_drone_photo

    # a geotagged nadir drone photo (EXIF GPS + DJI XMP) over the seeded districts
    photo = write_drone_photo(
        tmp_path / "DJI_0001.JPG", generate_scene("aerial", seed=11, size=(1280, 960)).image, height=60.0
    )
    login(browser, server, "dispatcher")  # may look at surveys, may not upload
    go(browser, server, "#/surveys")
    css(browser, "#surveys")
    assert browser.find_elements(By.ID, "survey-create") == []

    login(browser, server, "inspector")
    go(browser, server, "#/surveys")
    visible(browser, "#survey-area").send_keys("huangpu")
    browser.find_element(By.ID, "survey-name").send_keys("flight 1")
    browser.find_element(By.ID, "survey-create-submit").click()
    visible(browser, "#survey-files-input").send_keys(str(photo))
    browser.find_element(By.ID, "survey-upload").click()
    # watch the processing progress until the survey is done: it only goes up, and ends at 100 %
    seen: list[int] = []

    def done(d: Driver) -> bool:
        seen.append(int(d.find_element(By.ID, "survey-progress").get_attribute("value")))
        return d.find_element(By.ID, "survey-status").get_attribute("data-status") in ("done", "failed")

    wait(browser, done, timeout=120)
    assert browser.find_element(By.ID, "survey-status").get_attribute("data-status") == "done"
    assert seen[-1] == 100 and seen == sorted(seen)
    assert browser.find_element(By.ID, "upload-done").get_attribute("value") == "100"
    survey_id = int(browser.find_element(By.CSS_SELECTOR, "tr.survey-row").get_attribute("data-survey"))
    with server.api("inspector") as api:
        findings = api.get(f"/surveys/{survey_id}/report").json()["findings"]["features"]
    assert findings, "the detector found nothing in the drone photo"
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#survey-findings tbody tr")) == len(findings))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#survey-map path.finding-marker")) == len(findings))
    shot(browser, screenshots, "13-survey-report")

    # the survey findings layer of the main map
    go(browser, server, "#/map")
    css(browser, "path.case-marker")
    label = next(
        x for x in browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers label") if "Survey" in x.text
    )
    label.find_element(By.TAG_NAME, "input").click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.finding-marker")) == len(findings))
    shot(browser, screenshots, "14-map-survey-findings")


def test_a_revoked_key_stops_the_polling_and_returns_to_the_login_page(browser: Driver, server: Server) -> None:
    def keys(*args: str) -> str:
        cli = [sys.executable, "-m", "cityeye.cli", "--config", str(server.city.config_file), "keys", *args]
        done = subprocess.run(cli, env=cityeye_env(server.data_dir), cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    token = keys("create", "--role", "dispatcher", "--name", "stale-tab").splitlines()[1]
    browser.get(f"{server.url}/console/#/map")
    browser.execute_script("sessionStorage.clear(); localStorage.setItem('cityeye.lang', 'en');")
    browser.refresh()
    visible(browser, "#login-key").send_keys(token)
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: d.find_element(By.ID, "whoami").get_attribute("data-role") == "dispatcher")
    go(browser, server, "#/cameras")  # this page polls every 5 s
    css(browser, "tr.camera-row[data-camera='cam-1']")
    keys("revoke", "stale-tab")
    # the next poll gets 401: the console goes back to the login page with the server's reason
    error = visible(browser, "#login-error")
    wait(browser, lambda d: "revoked" in d.find_element(By.ID, "login-error").text, timeout=15)
    assert "stale-tab" in error.text
    assert browser.execute_script("return sessionStorage.getItem('cityeye.key');") is None
    log = server.data_dir / "serve.log"
    seen = len(log.read_bytes())
    time.sleep(11)  # two more polling periods: nothing more is asked
    assert " /cameras" not in log.read_bytes()[seen:].decode("utf-8", "replace")


def test_api_docs_load_offline_from_vendored_files_under_the_csp(
    browser: Driver, server: Server, screenshots: Path
) -> None:
    browser.get(f"{server.url}/docs")
    browser.get_log("browser")  # start from a clean log
    browser.execute_script("sessionStorage.clear();")
    browser.refresh()
    # keys exist: the document needs one, the page asks
    message = visible(browser, "#docs-key-message")
    assert "needs an API key" in message.text
    visible(browser, "#docs-key-input").send_keys(server.city.keys["data_team"])
    browser.find_element(By.ID, "docs-key-submit").click()
    css(browser, ".swagger-ui .opblock")  # Swagger UI drew the operations
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 20)
    shot(browser, screenshots, "20-swagger-ui")
    browser.get(f"{server.url}/redoc")  # the key stays with the tab
    wait(browser, lambda d: "List Cases" in d.find_element(By.ID, "ui").text, timeout=30)
    shot(browser, screenshots, "21-redoc")
    # the one outside reference in either bundle, ReDoc's footer logo, is what the policy is there to stop
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert [m for m in blocked if logo not in m] == []
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert urls and all(u.startswith(server.url) or u.startswith(("blob:", "data:")) for u in urls if u != logo), urls
    assert logo not in urls or any(logo in m for m in blocked)

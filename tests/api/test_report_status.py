"""The reporter's side (掌上查): the tokenised status page in Chinese and English, the handling photo once the case
is verified, and the citizen limits, which never touch the inspectors' and operators' API."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.console import content_security_policy
from cases.lifecycle import Action, Actor, Role, Verdict
from cases.service import CaseService
from cityeye.config import ApiSettings, AuthSettings, Open311Settings, Settings
from tests.api.conftest import Keys
from tests.api.open311_client import GeoReportClient
from tests.api.test_open311_post import GARBAGE, here
from tests.api.test_reports_api import jpeg


@pytest.fixture
def citizen(client: TestClient, keys: Keys) -> GeoReportClient:
    return GeoReportClient(client, keys.store.create("qingdao-app", Role.REPORTER).token)


def post(citizen: GeoReportClient, metres: float = 0.0, **fields: str) -> dict[str, str]:
    status, rows = citizen.post_request(service_code=GARBAGE, **here(metres), **fields)
    assert status == 201, rows
    return rows[0]


def test_the_status_page_in_chinese_and_english_and_twice_reported_is_one_case(
    client: TestClient, citizen: GeoReportClient, settings: Settings
) -> None:
    first = post(citizen, description="垃圾 <script>x</script>")
    second = post(citizen, metres=5)  # the same pile, reported again
    assert second["service_request_id"] == first["service_request_id"]
    del client.headers["X-API-Key"]  # the page needs no key: the token is the key
    zh = client.get(f"/console/report/{first['token']}")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert zh.headers["content-security-policy"] == content_security_policy(settings)
    assert zh.headers["referrer-policy"] == "no-referrer"
    assert 'lang="zh-CN"' in zh.text and "已受理" in zh.text and "暴露垃圾" in zh.text
    assert f'<span id="request">{first["service_request_id"]}</span>' in zh.text
    assert '<span id="seen">2</span>' in zh.text
    assert "<script" not in zh.text  # nothing the citizen wrote is echoed; and the page has no script
    en = client.get(f"/console/report/{second['token']}", params={"lang": "en"})
    assert 'lang="en"' in en.text and "received" in en.text and "Garbage overflow" in en.text
    missing = client.get("/console/report/" + "A" * 22, params={"lang": "en"})
    assert missing.status_code == 404 and "No such report" in missing.text
    assert client.get("/console/report/..%2F..%2Fetc").status_code == 404


def test_a_pending_report_shows_that_it_is_received(client: TestClient, citizen: GeoReportClient) -> None:
    _, rows = citizen.post_request(service_code=GARBAGE, address_string="香港中路 61 号")
    page = client.get(f"/console/report/{rows[0]['token']}")
    assert page.status_code == 200 and "待城市管理人员定位后立案" in page.text


def test_the_handling_photo_shows_once_the_case_is_verified(
    client: TestClient, citizen: GeoReportClient, service: CaseService, keys: Keys
) -> None:
    row = post(citizen)
    case_id = int(row["service_request_id"])
    version = service.get_case(case_id).case.version
    for action, role, kwargs in [
        (Action.REGISTER, Role.OPERATOR, {}),
        (Action.DISPATCH, Role.DISPATCHER, {"department": "sanitation"}),
    ]:
        version = service.act(case_id, action, Actor(role.value, role), version=version, **kwargs).version  # type: ignore[arg-type]
    # the crew handles it with a photo (the phone console's route)
    r = client.post(
        f"/cases/{case_id}/handled/photo",
        data={"version": str(version), "lat": str(here()["lat"]),
              "lon": str(here()["long"]), "client_ref": "fix-1"},
        files={"photo": ("fixed.jpg", jpeg(32, 24), "image/jpeg")},
        headers=keys[Role.DEPARTMENT],
    )  # fmt: skip
    assert r.status_code == 200, r.text
    version = r.json()["version"] if "version" in r.json() else r.json()["case"]["version"]
    # handled, not verified yet: no photo for the reporter
    _, seen = citizen.get_request(str(case_id))
    assert seen[0]["media_url"] is None or "handled" not in seen[0]["media_url"]
    assert client.get(f"/console/report/{row['token']}/photo").status_code == 404
    service.act(case_id, Action.VERIFY, Actor("i", Role.INSPECTOR), version=version, verdict=Verdict.CONFIRMED)
    _, seen = citizen.get_request(str(case_id))
    assert seen[0]["media_url"].endswith(f"/open311/v2/requests/{case_id}/handled.jpg")
    assert seen[0]["status_notes"] == "verified"
    photo = client.get(seen[0]["media_url"], params={"api_key": citizen.api_key})
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    page = client.get(f"/console/report/{row['token']}", params={"lang": "en"})
    assert "verified" in page.text and 'id="photo"' in page.text
    assert client.get(f"/console/report/{row['token']}/photo").content == photo.content


@pytest.fixture
def limited(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        api=ApiSettings(page_size_max=20),
        auth=AuthSettings(open_read=False),
        open311=Open311Settings(reports_per_ip_per_min=5, reports_per_app_per_min=8, lookups_per_ip_per_min=6),
    )


def test_a_citizen_flood_is_limited_per_ip_and_per_app_and_the_staff_api_goes_on(
    client: TestClient, keys: Keys, limited: Settings
) -> None:
    """Measured: the flood's answers by status, and the staff API's answers and latency during the flood."""
    app = client.app.state.citizen_limits  # type: ignore[attr-defined]
    app.__init__(limited.open311)  # this test's limits on the running app
    flood_app = keys.store.create("flood-app", Role.REPORTER).token
    inspector = keys[Role.INSPECTOR]
    flood: Counter[int] = Counter()
    staff: Counter[int] = Counter()
    staff_s: list[float] = []
    for i in range(30):
        r = client.post(
            "/open311/v2/requests.json",
            data={"api_key": flood_app, "service_code": GARBAGE, **here(100 * i)},  # type: ignore[dict-item]
        )
        flood[r.status_code] += 1
        if r.status_code == 429:
            assert "reports this minute" in r.json()[0]["description"] and int(r.headers["retry-after"]) >= 1
        t0 = time.perf_counter()
        s = client.post(
            "/reports",
            data={"category": "garbage", "lat": "31.3", "lon": str(121.0 + i / 1000)},
            headers=inspector,
        )
        staff[s.status_code] += 1
        staff[client.get("/cases", headers=inspector).status_code] += 1
        staff_s.append(time.perf_counter() - t0)
    assert flood == {201: 5, 429: 25}  # per IP: 5 a minute from this address, whatever the key
    assert staff == {201: 30, 200: 30}  # the inspector at the same address: never limited
    print(f"flood {dict(flood)}; staff {dict(staff)}; staff p max {max(staff_s) * 1000:.0f} ms")
    # per app: 8 a minute, however many addresses (the IP window is reset to isolate the app's)
    app.per_ip = type(app.per_ip)(1000)
    other = Counter(
        client.post(
            "/open311/v2/requests.xml",
            data={"api_key": flood_app, "service_code": GARBAGE, **here(100 * (40 + i))},  # type: ignore[dict-item]
        ).status_code
        for i in range(10)
    )
    assert other == {201: 3, 429: 7}  # 5 of its 8 were spent above
    # lookups: 6 a minute per address; bad app keys fill the citizen auth window, not the staff one
    looks = Counter(client.get("/console/report/" + "B" * 22).status_code for _ in range(10))
    assert looks == {404: 6, 429: 4}
    bad = Counter(
        client.post("/open311/v2/requests.json", data={"api_key": "ce_bad_bad", "service_code": GARBAGE}).status_code
        for _ in range(25)
    )
    assert bad[401] == 20 and bad[429] == 5  # ops.auth_failures_per_min = 20, counted for citizen paths
    assert client.get("/cases", headers=inspector).status_code == 200


def test_citizen_photo_uploads_fill_their_own_upload_window_not_the_staffs(tmp_path: Path) -> None:
    """ops.uploads_per_min counts citizen paths apart: 8 citizen photos with a limit of 5 → 5 answered, 3 × 429
    (upload_rate), while the inspector's photo reports from the same address all go through."""
    from cityeye.app import build_app
    from cityeye.config import OpsSettings

    settings = Settings(
        data_dir=tmp_path / "data",
        auth=AuthSettings(open_read=False),
        ops=OpsSettings(uploads_per_min=5),
        open311=Open311Settings(reports_per_ip_per_min=1000),
    )
    with TestClient(build_app(settings)) as client:
        store = client.app.state.services.api_keys  # type: ignore[attr-defined]
        app_key = store.create("app", Role.REPORTER).token
        inspector = {"X-API-Key": store.create("insp", Role.INSPECTOR).token}
        citizen, staff = Counter[int](), Counter[int]()
        for i in range(8):
            files = {"media": ("p.jpg", jpeg(), "image/jpeg")}
            data = {"api_key": app_key, "service_code": GARBAGE, **here(100 * i)}
            citizen[client.post("/open311/v2/requests.json", data=data, files=files).status_code] += 1  # type: ignore[arg-type]
        for i in range(5):
            r = client.post(
                "/reports",
                data={"category": "garbage", "lat": "31.3", "lon": str(121.0 + i / 1000)},
                files={"photo": ("p.jpg", jpeg(), "image/jpeg")},
                headers=inspector,
            )
            staff[r.status_code] += 1
    assert citizen == {201: 5, 429: 3}
    assert staff == {201: 5}

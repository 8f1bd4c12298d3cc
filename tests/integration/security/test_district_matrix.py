"""District scoping, route by route, from the OpenAPI document: a key bound to district A can neither read nor
change anything of district B (403/404, or a list without B's items), and nothing is written (every table's
rows and every file under the data dir compared before and after each route).

Every route of the tags below must have a recipe here: a route added later without one fails the test, so a new
case-derived route cannot be left unscoped by forgetting it. Routes that are not district-scoped say why in
`NOT_SCOPED`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from cases.actions import HandledPhoto
from cases.cameras import SqlCameraStore
from cases.lifecycle import Action, Actor, Role, Verdict
from cityeye.app import build_app
from cityeye.config import AuthSettings, LifecycleSettings, Settings
from inference.event import Event, EvidenceImage
from inference.frame import GeoContext
from inference.streams.config import CameraConfig
from inference.streams.runner import snapshot_path
from tests.integration.security.snapshot import files, table_rows

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`", category=StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SCOPED_TAGS = {"cases", "feedback", "cameras", "surveys", "reports", "open311"}
# route -> why it is not district-scoped (checked: every entry must still exist)
NOT_SCOPED = {
    ("GET", "/open311/v2/services.{fmt}"): "the taxonomy's services, no case data",
    ("GET", "/permits"): "the permit register is per survey area, city-wide reference data",
    ("POST", "/permits"): "the permit register is per survey area, city-wide reference data",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "the token is the reporter's secret; answers a request id only",
}
DISTRICTS = {
    "huangpu": [121.455, 31.215, 121.4737, 31.245],
    "Jingan": {"name": "静安", "bbox": [121.4737, 31.215, 121.492, 31.245]},
}
A, B = "huangpu", "jingan"
HANDLED = 6  # the case of each district that is handled and verified, with a photo of the fix
LIFECYCLE = LifecycleSettings.model_validate({"districts": DISTRICTS})
BACKENDS = ["sqlite", "postgres"]


@dataclass
class City:
    client: TestClient
    engine: Engine
    data_dir: Path
    cases: dict[str, list[int]]  # district -> case ids
    feedback_b: int
    camera_b: str
    survey_b: int
    keys_a: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> headers of a key bound to A
    admin: dict[str, str] = field(default_factory=dict)  # an unbound admin key


def _event(i: int, district: str, now: datetime) -> Event:
    x0, y0, x1, y1 = LIFECYCLE.districts[district].bbox  # type: ignore[misc]
    lat = y0 + (y1 - y0) * (0.1 + 0.1 * i)
    lon = x0 + (x1 - x0) * 0.5
    image = np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    start = now - timedelta(minutes=10 + i)
    return Event(
        category="garbage",
        class_name="garbage",
        source_id=f"cam-{district}-{i}",
        start=start,
        end=start + timedelta(seconds=30),
        bbox=(4.0, 4.0, 40.0, 40.0),
        confidence=0.9,
        mean_confidence=0.8,
        frames_seen=5,
        model_version="v1",
        evidence=(EvidenceImage(image, "snapshot"), EvidenceImage(image, "frame")),
        geo=GeoContext(lat=lat, lon=lon),
    )


@pytest.fixture(params=BACKENDS)
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[City]:
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgres" else None
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        auth=AuthSettings(open_read=False),
        lifecycle=LIFECYCLE,
    )
    with TestClient(build_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        service, keys = services.cases, services.api_keys
        now = datetime.now(UTC)
        admin = Actor("seed", Role.ADMIN)
        cases: dict[str, list[int]] = {A: [], B: []}
        for district in (A, B):
            for i in range(8):  # 16 cases in two districts
                result = service.ingest(_event(i, district, now))
                assert result.created
                cases[district].append(result.case_id)
        for district in (A, B):  # a verdict keeps the frames for the data team: one feedback frame each
            case = service.get_case(cases[district][0]).case
            service.act(case.id, Action.VERIFY, admin, version=case.version, verdict=Verdict.FALSE_POSITIVE)
        for district in (A, B):  # walked to verified with a photo of the fix: Open311 shows it
            case_id = cases[district][HANDLED]
            case = service.act(case_id, Action.REGISTER, admin, version=1)
            case = service.act(case_id, Action.DISPATCH, admin, version=case.version, department="sanitation")
            fix = HandledPhoto(np.full((48, 64, 3), 90, np.uint8), now, case.lat, case.lon, f"fix-{district}")
            case = service.handled_with_photo(case_id, admin, fix, version=case.version)
            service.act(case_id, Action.VERIFY, admin, version=case.version, verdict=Verdict.CONFIRMED)
        feedback_b = next(f.id for f in services.feedback.list() if f.case_id in cases[B])
        cameras = SqlCameraStore(services.sessions)
        for district in (A, B):
            cameras.create(CameraConfig(id=f"cam-{district}", url="rtsp://10.0.0.5/s", district=district))
            snap = snapshot_path(settings.data_dir, f"cam-{district}")
            snap.parent.mkdir(parents=True, exist_ok=True)
            snap.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
        surveys = services.surveys
        for district in (A, B):
            survey = surveys.create("area-1", f"survey of {district}", district=district)
            surveys.set_status(survey.id, "done")
            report = services.paths.survey_report(survey.id)
            report.mkdir(parents=True, exist_ok=True)
            (report / "index.html").write_text("<p>report</p>", encoding="utf-8")
            survey_b = survey.id
        c = City(client, services.engine, settings.data_dir, cases, feedback_b, f"cam-{B}", survey_b)
        for role in Role:
            c.keys_a[role.value] = {"X-API-Key": keys.create(f"{role.value}-a", role, ["Huangpu"]).token}
        c.admin = {"X-API-Key": keys.create("admin-all", Role.ADMIN).token}
        yield c


# ---- recipes: one request per route, aimed at district B -------------------------------------------------------
Recipe = Callable[[City], dict[str, Any]]


def _case(c: City) -> int:
    return c.cases[B][3]


def _jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), 120, np.uint8))
    assert ok
    return data.tobytes()


def _action(name: str, **body: Any) -> Recipe:
    return lambda c: {"url": f"/cases/{_case(c)}/{name}", "json": {"version": 1, **body}}


def _camera_body(c: City) -> dict[str, Any]:
    return {"id": c.camera_b, "url": "rtsp://10.0.0.9/x", "district": A}


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/cases"): lambda c: {"url": "/cases", "list": True},
    ("GET", "/cases.geojson"): lambda c: {"url": "/cases.geojson", "list": True},
    ("GET", "/cases/{case_id}"): lambda c: {"url": f"/cases/{_case(c)}"},
    ("GET", "/cases/{case_id}/evidence/{n}"): lambda c: {"url": f"/cases/{_case(c)}/evidence/1"},
    ("POST", "/cases/{case_id}/register"): _action("register"),
    ("POST", "/cases/{case_id}/dispatch"): _action("dispatch", department="sanitation"),
    ("POST", "/cases/{case_id}/handled"): _action("handled"),
    ("POST", "/cases/{case_id}/verify"): _action("verify", verdict="duplicate"),
    ("POST", "/cases/{case_id}/close"): _action("close"),
    ("POST", "/cases/{case_id}/dismiss"): _action("dismiss", note="not ours"),
    ("POST", "/cases/{case_id}/handled/photo"): lambda c: {
        "url": f"/cases/{_case(c)}/handled/photo",
        "data": {"version": "1"},
        "files": {"photo": ("fix.jpg", _jpeg(), "image/jpeg")},
    },
    ("POST", "/cases/{case_id}/notes"): lambda c: {"url": f"/cases/{_case(c)}/notes", "json": {"note": "hi"}},
    ("POST", "/cases/merge"): lambda c: {
        "url": "/cases/merge",
        "json": {"source_id": c.cases[B][4], "target_id": c.cases[B][5], "version": 1, "target_version": 1},
    },
    ("GET", "/feedback"): lambda c: {"url": "/feedback", "list": True},
    ("GET", "/feedback/{feedback_id}/image"): lambda c: {"url": f"/feedback/{c.feedback_b}/image"},
    ("POST", "/feedback/corrections"): lambda c: {
        "url": "/feedback/corrections",
        "json": {"case_id": _case(c), "boxes": [{"class_name": "garbage", "xyxy": [1, 1, 9, 9]}]},
    },
    ("GET", "/cameras"): lambda c: {"url": "/cameras", "list": True},
    ("POST", "/cameras"): lambda c: {"url": "/cameras", "json": {"id": "cam-new", "url": "rtsp://h/x", "district": B}},
    ("GET", "/cameras/{camera_id}"): lambda c: {"url": f"/cameras/{c.camera_b}"},
    ("PUT", "/cameras/{camera_id}"): lambda c: {"url": f"/cameras/{c.camera_b}", "json": _camera_body(c)},
    ("DELETE", "/cameras/{camera_id}"): lambda c: {"url": f"/cameras/{c.camera_b}"},
    ("GET", "/cameras/{camera_id}/status"): lambda c: {"url": f"/cameras/{c.camera_b}/status"},
    ("GET", "/cameras/{camera_id}/snapshot"): lambda c: {"url": f"/cameras/{c.camera_b}/snapshot"},
    ("GET", "/surveys"): lambda c: {"url": "/surveys", "list": True},
    ("POST", "/surveys"): lambda c: {"url": "/surveys", "json": {"area": "area-1", "district": B}},
    ("GET", "/surveys/{survey_id}"): lambda c: {"url": f"/surveys/{c.survey_b}"},
    ("POST", "/surveys/{survey_id}/files"): lambda c: {
        "url": f"/surveys/{c.survey_b}/files",
        "files": {"files": ("a.srt", b"1\n00:00:00,000 --> 00:00:01,000\n[latitude: 31.2]\n", "text/plain")},
    },
    ("POST", "/surveys/{survey_id}/process"): lambda c: {"url": f"/surveys/{c.survey_b}/process"},
    ("GET", "/surveys/{survey_id}/report"): lambda c: {"url": f"/surveys/{c.survey_b}/report"},
    ("GET", "/surveys/{survey_id}/report/{asset}"): lambda c: {"url": f"/surveys/{c.survey_b}/report/index.html"},
    ("POST", "/reports"): lambda c: {"url": "/reports", "data": _report_at(c, join=True)},
    ("GET", "/open311/v2/requests.{fmt}"): lambda c: {"url": "/open311/v2/requests.json", "list": True},
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): lambda c: {"url": f"/open311/v2/requests/{_case(c)}.json"},
    ("GET", "/open311/v2/requests/{request_id}/handled.jpg"): lambda c: {
        "url": f"/open311/v2/requests/{c.cases[B][HANDLED]}/handled.jpg"
    },
    ("POST", "/open311/v2/requests.{fmt}"): lambda c: {
        "url": "/open311/v2/requests.json",
        "data": {"service_code": _code(c), "lat": _report_at(c, True)["lat"], "long": _report_at(c, True)["lon"]},
    },
}


def _code(c: City) -> str:
    return str(c.client.app.state.services.taxonomy.categories["garbage"].code)  # type: ignore[attr-defined]


def _report_at(c: City, join: bool) -> dict[str, str]:
    """A report on district B: on one of its cases (join) or on a new spot (a new case)."""
    x0, y0, x1, y1 = LIFECYCLE.districts[B].bbox  # type: ignore[misc]
    lat = y0 + (y1 - y0) * (0.4 if join else 0.95)
    return {"category": "garbage", "lat": str(lat), "lon": str(x0 + (x1 - x0) * 0.5)}


def _routes(client: TestClient) -> list[tuple[str, str, set[str]]]:
    out = []
    for path, ops in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, op in ops.items():
            tags = set(op.get("tags", []))
            if tags & SCOPED_TAGS:
                out.append((method.upper(), path, tags))
    return out


def _text(r: Any) -> str:
    return (
        r.text[:200]
        if "json" in r.headers.get("content-type", "") or "xml" in r.headers.get("content-type", "")
        else f"({r.headers.get('content-type')}, {len(r.content)} bytes)"
    )


def _b_ids(c: City) -> set[str]:
    return {str(i) for i in c.cases[B]}


def _leaks(c: City, route: tuple[str, str], body: Any) -> list[str]:
    """What of district B a list answer shows."""
    if route[1].startswith("/cases"):
        items = body["items"] if "items" in body else [f["properties"] for f in body["features"]]
        return [str(i["id"]) for i in items if str(i["id"]) in _b_ids(c) or i["district"] != A]
    if route[1] == "/feedback":
        return [str(f["id"]) for f in body if f["case_id"] not in c.cases[A]]
    if route[1] == "/cameras":
        return [cam["config"]["id"] for cam in body if cam["config"]["district"] != A]
    if route[1] == "/surveys":
        return [str(s["id"]) for s in body if s["district"] != A]
    if route[1].startswith("/open311"):
        return [r["service_request_id"] for r in body if str(r["service_request_id"]) in _b_ids(c)]
    raise AssertionError(f"no leak check for {route}")


def test_every_scoped_route_has_a_recipe(city: City) -> None:
    routes = {(m, p) for m, p, _ in _routes(city.client)}
    missing = sorted(routes - set(RECIPES) - set(NOT_SCOPED))
    assert not missing, f"routes of {sorted(SCOPED_TAGS)} without a district recipe (scope them, add one): {missing}"
    stale = sorted((set(RECIPES) | set(NOT_SCOPED)) - routes)
    assert not stale, f"recipes for routes that no longer exist: {stale}"


def test_keys_of_another_district_read_and_change_nothing(city: City) -> None:
    c = city
    failures: list[str] = []
    for method, path, _ in sorted(_routes(c.client)):
        route = (method, path)
        if route in NOT_SCOPED:
            continue
        recipe = RECIPES[route](c)
        is_list = recipe.pop("list", False)
        if method == "GET":  # the recipe names a real resource: an unbound admin key reads it
            control = c.client.request(method, headers=c.admin, **recipe)
            if control.status_code != 200:
                failures.append(f"{method} {path}: control read answered {control.status_code} {_text(control)}")
        before = (table_rows(c.engine), files(c.data_dir))
        for role, headers in c.keys_a.items():
            r = c.client.request(method, headers=headers, **recipe)
            if is_list:
                if r.status_code == 200:
                    leaked = _leaks(c, route, r.json())
                    if leaked:
                        failures.append(f"{method} {path} as {role}@{A}: lists district {B}'s {leaked}")
                elif r.status_code != 403:
                    failures.append(f"{method} {path} as {role}@{A}: {r.status_code} {_text(r)}")
            elif r.status_code not in (403, 404):
                failures.append(f"{method} {path} as {role}@{A}: {r.status_code} {_text(r)}")
        after = (table_rows(c.engine), files(c.data_dir))
        if before[0] != after[0]:
            changed = sorted(t for t in before[0] if before[0][t] != after[0].get(t))
            failures.append(f"{method} {path}: tables changed: {changed}")
        if before[1] != after[1]:
            failures.append(f"{method} {path}: files changed: {sorted(set(before[1]) ^ set(after[1]))[:5]}")
    assert not failures, "\n".join(failures)


def test_a_report_cannot_open_a_case_in_another_district(city: City) -> None:
    """With no description too: refused before anything is written."""
    c = city
    before = (table_rows(c.engine), files(c.data_dir))
    r = c.client.post("/reports", data=_report_at(c, join=False), headers=c.keys_a["inspector"])
    assert r.status_code == 403, r.text
    assert "district" in r.json()["detail"]
    assert (table_rows(c.engine), files(c.data_dir)) == before
    ok = c.client.post(
        "/reports", data={"category": "garbage", "lat": "31.2200", "lon": "121.46"}, headers=c.keys_a["inspector"]
    )
    assert ok.status_code == 201, ok.text

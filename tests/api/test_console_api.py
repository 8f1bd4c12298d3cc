"""The routes the console stands on: /me, /taxonomy, /console/config, /models, and the static files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.routes.console import CONSOLE_DIR
from cases.lifecycle import PERMISSIONS, TRANSITIONS, Action, Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, ConfigError, ConsoleSettings, LifecycleSettings, Settings
from tests.api.conftest import Keys, TestClient


def test_me_lists_the_roles_actions_and_their_statuses(client: TestClient, keys: Keys) -> None:
    for role in Role:
        body = client.get("/me", headers=keys[role]).json()
        assert body["name"] == f"{role.value}-1" and body["role"] == role.value
        assert set(body["actions"]) == {a.value for a in Action if role in PERMISSIONS[a]}
        for action in body["actions"]:
            assert set(body["action_from"][action]) == {s.value for s in TRANSITIONS[Action(action)][0]}
        assert body["model_actions"] == (["promote", "rollback"] if role in (Role.DATA_TEAM, Role.ADMIN) else [])
        assert body["camera_actions"] == (["edit"] if role is Role.ADMIN else [])
        surveyors = (Role.INSPECTOR, Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN)
        assert body["survey_actions"] == (["upload"] if role in surveyors else [])
        assert body["report_actions"] == (["report"] if role in surveyors else [])  # the same roles file reports
    dispatcher = client.get("/me", headers=keys[Role.DISPATCHER]).json()
    assert dispatcher["actions"] == ["dispatch", "note"]
    assert dispatcher["action_from"]["dispatch"] == ["registered", "dispatched"]


def test_me_needs_a_valid_key_where_reads_are_closed(client: TestClient) -> None:
    assert client.get("/me", headers={"X-API-Key": "ce_00000000_nope"}).status_code == 401
    del client.headers["X-API-Key"]
    r = client.get("/me")
    assert r.status_code == 401 and "needs an API key" in r.json()["detail"]


def test_me_without_key_where_reads_are_open(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path, auth=AuthSettings(open_read=True)))) as c:
        assert c.get("/me").json() == {
            "name": None,
            "role": None,
            "districts": [],
            "actions": [],
            "action_from": {},
            "model_actions": [],
            "camera_actions": [],
            "survey_actions": [],
            "report_actions": [],
        }


def test_taxonomy_has_both_languages(client: TestClient) -> None:
    cats = client.get("/taxonomy").json()["categories"]
    assert cats["garbage"]["name_zh"] == "暴露垃圾" and cats["garbage"]["code"] == "0102"
    assert {c["name_en"] for c in cats.values()} and all(c["name_zh"] for c in cats.values())


def test_console_config_districts_from_lifecycle_rectangles(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, lifecycle=LifecycleSettings(districts={"a": (1.0, 2.0, 3.0, 4.0)}))
    with TestClient(build_app(settings)) as c:
        cfg = c.get("/console/config").json()
    assert cfg["tile_url"] is None and cfg["page_size_max"] == 500
    (feature,) = cfg["districts"]["features"]
    assert feature["properties"]["name"] == "a"
    assert feature["geometry"]["coordinates"] == [[[1, 2], [3, 2], [3, 4], [1, 4], [1, 2]]]
    assert cfg["features"]["models"] is True  # GET /models exists
    assert cfg["features"]["forecast"] == ("/forecast" in c.app.openapi()["paths"])  # type: ignore[attr-defined]


def test_console_config_districts_and_tiles_from_settings(tmp_path: Path) -> None:
    outline = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "xuhui"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[121.4, 31.1], [121.5, 31.1], [121.5, 31.2], [121.4, 31.1]]],
                },
            }
        ],
    }
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps(outline), encoding="utf-8")
    console = ConsoleSettings(
        districts_geojson=path,
        tile_url="http://tiles.city.local/{z}/{x}/{y}.png",
        tile_attribution="© city survey office",
        center=(31.2, 121.45),
    )
    with TestClient(build_app(Settings(data_dir=tmp_path, console=console))) as c:
        cfg = c.get("/console/config").json()
    assert cfg["districts"] == outline
    assert cfg["tile_url"] == "http://tiles.city.local/{z}/{x}/{y}.png" and cfg["center"] == [31.2, 121.45]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "Feature"}', "must be a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}', "feature 0 has no"),
        (
            '{"type": "FeatureCollection", "features": [{"geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
            "feature 0 must have a Polygon or MultiPolygon geometry, got Point",
        ),
    ],
)
def test_bad_districts_file_fails_at_start_naming_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.geojson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        build_app(Settings(data_dir=tmp_path, console=ConsoleSettings(districts_geojson=path)))
    assert f"console.districts_geojson: {path}" in str(err.value) and message in str(err.value)


def test_missing_districts_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        build_app(Settings(data_dir=tmp_path, console=ConsoleSettings(districts_geojson=tmp_path / "none.json")))


def test_console_is_served_by_the_api(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console/"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in page.text
    leaflet = client.get("/console/vendor/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and "javascript" in leaflet.headers["content-type"]
    assert client.get("/console/js/app.js").status_code == 200
    assert client.get("/console/vendor/leaflet/images/marker-icon.png").headers["content-type"] == "image/png"


def test_api_docs_pages_load_only_files_of_this_server_under_the_console_csp(client: TestClient) -> None:
    import re

    for page, script in (("/docs", "swagger-ui/swagger-ui-bundle.js"), ("/redoc", "redoc/redoc.standalone.js")):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
        refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert refs and all(ref.startswith("/docs/assets/") or ref == "data:," for ref in refs), refs  # no CDN
        assert "<script>" not in r.text  # nothing inline: the policy allows only files
        assert f"/docs/assets/vendor/{script}" in refs
        for ref in refs:
            if ref.startswith("/"):
                asset = client.get(ref)
                assert asset.status_code == 200 and "content-security-policy" in asset.headers, ref
    assert client.get("/docs/assets/vendor/swagger-ui/VERSION").text == "swagger-ui-dist 5.35.0\n"


def test_console_can_be_turned_off(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path, console=ConsoleSettings(enabled=False)))) as c:
        assert c.get("/console/").status_code == 404
        assert c.get("/console/config").status_code == 404


def test_console_files_fetch_nothing_from_outside() -> None:
    """No CDN: every URL the console's own HTML, JS and CSS load is relative to the server."""
    own = [p for p in CONSOLE_DIR.rglob("*") if p.suffix in {".html", ".js", ".css"} and "vendor" not in p.parts]
    assert len(own) >= 8
    for path in own:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), path
        assert not re.search(r"(fetch|import)\s*\(?\s*[\"'`](https?:)?//", text), path
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", text), path


def test_models_lists_the_registry(client: TestClient) -> None:
    versions = client.get("/models").json()
    prod = [v for v in versions if v["stage"] == "production"]
    assert len(prod) == 1 and prod[0]["metrics"]["mAP50/all"] > 0
    assert client.get("/models/production").json()["version"] == prod[0]["version"]
    r = client.get("/models/nope")
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_console_config_says_whether_reads_need_a_key(tmp_path: Path, client: TestClient) -> None:
    assert client.get("/console/config").json()["reads_need_key"] is True  # auth.open_read: false
    with TestClient(build_app(Settings(data_dir=tmp_path / "a", auth=AuthSettings(open_read=True)))) as c:
        assert c.get("/console/config").json()["reads_need_key"] is False
    with TestClient(build_app(Settings(data_dir=tmp_path / "b"))) as c:  # null: open until the first key exists
        assert c.get("/console/config").json()["reads_need_key"] is False
        c.app.state.services.api_keys.create("first", Role.OPERATOR)  # type: ignore[attr-defined]
        assert c.get("/console/config").json()["reads_need_key"] is True


def test_console_pages_carry_a_content_security_policy(tmp_path: Path, client: TestClient) -> None:
    csp = client.get("/console/").headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp and "img-src 'self' blob: data:;" in csp
    assert client.get("/console/js/map.js").headers["content-security-policy"] == csp
    console = ConsoleSettings(tile_url="https://{s}.tiles.city.local/{z}/{x}/{y}.png")
    with TestClient(build_app(Settings(data_dir=tmp_path, console=console))) as c:
        csp = c.get("/console/").headers["content-security-policy"]
    assert "img-src 'self' blob: data: https://*.tiles.city.local;" in csp

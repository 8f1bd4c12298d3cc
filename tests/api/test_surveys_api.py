"""The survey API end to end in embedded mode: create, streamed upload (sniffing, zip slip, zip bomb,
idempotent re-upload), processing as a background task with progress, a truncated file failing alone, report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cases.lifecycle import Role
from cityeye.config import ApiSettings, AuthSettings, DetectorSettings, Settings
from datasets.synthetic import generate_scene
from tests.api.conftest import Keys
from tests.inference.survey.factories import jpeg_bytes, zip_bomb, zip_bytes


@pytest.fixture
def settings(tmp_path: Path, tiny_model: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        api=ApiSettings(page_size_max=20),
        auth=AuthSettings(open_read=False),
        detector=DetectorSettings(model=str(tiny_model), conf=0.01),
    )


def _files_on_disk(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def wait_done(client: TestClient, survey_id: int, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        body = client.get(f"/surveys/{survey_id}").json()
        seen.add(body["status"])
        if body["status"] in {"done", "failed"}:
            return body
        assert 0 <= body["percent"] <= 100
        time.sleep(0.2)
    raise AssertionError(f"survey {survey_id} not finished after {timeout} s (seen {seen})")


def test_upload_process_progress_and_report(client: TestClient, keys: Keys, settings: Settings, tmp_path: Path) -> None:
    assert client.post("/surveys", json={"area": "xuhui-3"}).status_code == 403  # the default key is data_team
    r = client.post(
        "/surveys",
        json={"area": "xuhui-3", "name": "November", "flight": {"drone": "M3E", "ground_altitude_m": 4.0}},
        headers=keys[Role.INSPECTOR],
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    hdr = keys[Role.INSPECTOR]
    photo = jpeg_bytes(generate_scene("aerial", seed=5, size=(1280, 960)).image, pitch=-90.0, yaw=30.0)
    other = jpeg_bytes(generate_scene("aerial", seed=6, size=(1280, 960)).image, pitch=-60.0, yaw=30.0)
    truncated = photo[: len(photo) // 2]
    files = [
        ("files", ("DJI_0001.JPG", photo, "image/jpeg")),
        ("files", ("DJI_0002.JPG", truncated, "image/jpeg")),
        ("files", ("batch.zip", zip_bytes({"sub/DJI_0003.JPG": other, "readme.txt": b"hello"}), "application/zip")),
    ]
    r = client.post(f"/surveys/{sid}/files", files=files, headers=hdr)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert [(f["name"], f["kind"], f["duplicate"]) for f in stored] == [
        ("DJI_0001.JPG", "jpeg", False),
        ("DJI_0002.JPG", "jpeg", False),
        ("DJI_0003.JPG", "jpeg", False),
    ]
    # the same content again (another name, even): idempotent
    r = client.post(f"/surveys/{sid}/files", files=[("files", ("again.jpg", photo, "image/jpeg"))], headers=hdr)
    assert r.status_code == 201 and r.json()[0]["duplicate"] is True and r.json()[0]["id"] == stored[0]["id"]
    # type by content, not by name
    r = client.post(
        f"/surveys/{sid}/files", files=[("files", ("fake.jpg", b"MZ\x90\x00" * 100, "image/jpeg"))], headers=hdr
    )
    assert r.status_code == 415 and "unsupported content" in r.json()["detail"]

    r = client.post(f"/surveys/{sid}/process", headers=hdr)
    assert r.status_code == 202 and r.json()["status"] in {"queued", "processing", "done"}
    body = wait_done(client, sid)
    assert body["status"] == "done" and body["percent"] == 100.0 and body["current_file"] is None
    assert (body["files_done"], body["files_total"]) == (3, 3)
    by_name = {f["name"]: f for f in body["files"]}
    assert by_name["DJI_0002.JPG"]["status"] == "error" and "truncated" in by_name["DJI_0002.JPG"]["error"]
    assert list(body["file_errors"]) == ["DJI_0002.JPG"]
    assert by_name["DJI_0001.JPG"]["status"] == by_name["DJI_0003.JPG"]["status"] == "done"
    assert str(settings.data_dir) not in by_name["DJI_0002.JPG"]["error"]  # no server paths in messages

    rep = client.get(f"/surveys/{sid}/report")
    assert rep.status_code == 200, rep.text
    report = rep.json()
    assert report["findings"]["type"] == "FeatureCollection"
    for f in report["findings"]["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert abs(lat - 31.2304) < 0.01 and abs(lon - 121.4737) < 0.01
    assets = set(report["assets"])
    assert {"index.html", "overview.jpg", "findings.geojson"} <= assets
    assert {f"annotated/{stored[0]['id']}.jpg", f"annotated/{stored[2]['id']}.jpg"} <= assets
    page = client.get(f"/surveys/{sid}/report/index.html")
    assert (
        page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "DJI_0002.JPG" in page.text
    )
    assert client.get(f"/surveys/{sid}/report/overview.jpg").content[:3] == b"\xff\xd8\xff"
    assert client.get(f"/surveys/{sid}/report/..%2F..%2F..%2Fcityeye.db").status_code == 404
    assert client.get("/surveys/999/report").status_code == 404


def test_zip_slip_and_zip_bomb_are_refused_and_nothing_lands_outside(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    hdr = keys[Role.OPERATOR]
    sid = client.post("/surveys", json={"area": "a"}, headers=hdr).json()["id"]
    root = settings.data_dir.parent
    before = _files_on_disk(root)
    img = jpeg_bytes(generate_scene("aerial", seed=1, size=(320, 240)).image)
    for name in ("../../evil.jpg", "/abs/evil.jpg", "ok/../../../evil.jpg", "C:/evil.jpg"):
        r = client.post(
            f"/surveys/{sid}/files",
            files=[("files", ("slip.zip", zip_bytes({"fine.jpg": img, name: img}), "application/zip"))],
            headers=hdr,
        )
        assert r.status_code == 422 and "zip slip" in r.json()["detail"], (name, r.text)
    r = client.post(
        f"/surveys/{sid}/files", files=[("files", ("bomb.zip", zip_bomb(), "application/zip"))], headers=hdr
    )
    assert r.status_code == 413 and "zip bomb" in r.json()["detail"]
    after = _files_on_disk(root)
    assert {p for p in after - before if "evil" in p.name} == set()
    new = after - before
    assert all(p.resolve().is_relative_to(settings.data_dir.resolve()) for p in new)
    assert not [p for p in new if "/surveys/" in str(p)]  # nothing of the refused archives was kept
    assert client.get(f"/surveys/{sid}").json()["files"] == []
    assert client.post(f"/surveys/{sid}/process", headers=hdr).status_code == 422  # no files yet


def test_permit_register_api(client: TestClient, keys: Keys) -> None:
    ring = [[121.47, 31.23], [121.48, 31.23], [121.48, 31.24], [121.47, 31.23]]
    gj = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "P-1"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        ],
    }
    assert client.post("/permits?area=xh", json=gj, headers=keys[Role.INSPECTOR]).status_code == 403
    r = client.post("/permits?area=xh", json=gj, headers=keys[Role.OPERATOR])
    assert r.status_code == 201 and r.json()[0]["name"] == "P-1"
    bad = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}],
    }
    r = client.post("/permits?area=xh", json=bad, headers=keys[Role.OPERATOR])
    assert r.status_code == 422 and "Polygon" in r.json()["detail"]
    assert [p["name"] for p in client.get("/permits?area=xh").json()] == ["P-1"]

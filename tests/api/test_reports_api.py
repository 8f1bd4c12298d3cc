"""Manual reports (POST /reports): one more source of the same cases, with the same dedup and role checks."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from cases.lifecycle import Role
from cases.service import CaseService
from tests.api.conftest import Keys
from tests.cases.factories import T0, make_event, north_of


def jpeg(w: int = 64, h: int = 48) -> bytes:
    img = np.full((h, w, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def report(
    client: TestClient, headers: dict[str, str], *, metres: float = 0.0, photo: bytes | None = None, **form: str
):
    geo = north_of(metres)
    data = {"category": "garbage", "lat": str(geo.lat), "lon": str(geo.lon), **form}
    files = {"photo": ("p.jpg", io.BytesIO(photo), "image/jpeg")} if photo is not None else None
    return client.post("/reports", data=data, files=files, headers=headers)


def test_an_inspectors_report_joins_the_camera_case_at_the_same_spot(
    client: TestClient, keys: Keys, service: CaseService
) -> None:
    camera = service.ingest(make_event(geo=north_of(0)))
    seen = (T0 + timedelta(hours=1)).isoformat()
    r = report(client, keys[Role.INSPECTOR], metres=10, photo=jpeg(), observed_at=seen, description="bags on kerb")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["case_id"], body["created"], body["merged"]) == (camera.case_id, False, True)
    detail = client.get(f"/cases/{camera.case_id}").json()
    sources = {o["source_id"] for o in detail["observations"]}
    assert sources == {"cam-1", "manual:inspector-1"}
    assert any(e["kind"] == "frame" for e in detail["evidence"])
    assert any("report: bags on kerb" in (a.get("note") or "") for a in detail["audit"])
    # 100 m away (garbage merges within 20 m) it is a problem of its own
    far = report(client, keys[Role.INSPECTOR], metres=100, observed_at=seen)
    assert far.status_code == 201 and far.json()["created"]


def test_a_retried_report_with_the_same_client_ref_is_one_event(client: TestClient, keys: Keys) -> None:
    first = report(client, keys[Role.OPERATOR], client_ref="call-1234", photo=jpeg())
    again = report(client, keys[Role.OPERATOR], client_ref="call-1234", photo=jpeg())
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] and again.json()["case_id"] == first.json()["case_id"]
    assert client.get("/cases").json()["total"] == 1


def test_roles_and_bad_reports_are_refused_and_store_nothing(client: TestClient, keys: Keys) -> None:
    assert report(client, keys[Role.DISPATCHER]).status_code == 403
    assert report(client, {"X-API-Key": ""}).status_code == 401
    bad = [
        report(client, keys[Role.INSPECTOR], category="flying_saucer"),
        report(client, keys[Role.INSPECTOR], lat="95"),
        report(client, keys[Role.INSPECTOR], photo=b"\xff\xd8\xff\xe0 not a jpeg"),
        report(client, keys[Role.INSPECTOR], photo=jpeg()[:200]),
        report(client, keys[Role.INSPECTOR], observed_at="2026-01-01T08:00:00"),
        report(client, keys[Role.INSPECTOR], observed_at="2999-01-01T08:00:00+00:00"),
    ]
    assert [r.status_code for r in bad] == [422] * len(bad), [r.text for r in bad]
    assert all(r.json()["detail"] for r in bad)
    assert "flying_saucer" in str(bad[0].json()["detail"])
    assert client.get("/cases").json()["total"] == 0


def test_an_oversized_photo_is_refused_while_it_arrives(client: TestClient, keys: Keys) -> None:
    """A 200 MB chunked body (no Content-Length), sent to the app as an ASGI server does, chunk by chunk: 413 once
    20 MB (+ the form) have arrived, the rest never read (before, the whole body up to ops.max_upload_mb was spooled
    first). A declared Content-Length over it is 413 before any byte is read."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\ngarbage\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="lat"\r\n\r\n31.2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="lon"\r\n\r\n121.4\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    chunks = [head, *([b"\xff" * (1 << 20)] * 200), f"\r\n--{boundary}--\r\n".encode()]
    key = keys[Role.INSPECTOR]["Authorization"]
    headers = [
        (b"authorization", key.encode()),
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/reports", "raw_path": b"/reports", "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    read = 0
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def call() -> None:
        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(call)
    assert statuses == [413]
    assert read <= 22, f"{read} of {len(chunks)} chunks read"
    r = client.post("/reports", content=b"x", headers={**keys[Role.INSPECTOR], "Content-Length": str(30 << 20)})
    assert r.status_code == 413
    assert client.get("/cases").json()["total"] == 0

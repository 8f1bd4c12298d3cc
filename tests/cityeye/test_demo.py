"""`cityeye demo` with the bundled default model: project-made media in, real detections, cases out.

This runs the committed default model (models/default/v1) through ONNX Runtime, exported on first use, on
the synthetic scene generator's media: no mocked detector, no fetched data.
"""

import json
import re

import pytest
from fastapi.testclient import TestClient

from cityeye.app import build_app
from cityeye.cli import main
from cityeye.config import load_settings
from datasets.synthetic import default_timeline


@pytest.mark.slow
def test_demo_finds_the_planted_problems(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CITYEYE_DATA_DIR", str(tmp_path / "data"))
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "model v1 (onnx)" in out
    with TestClient(build_app(load_settings())) as client:
        cases = client.get("/cases", params={"limit": 500}).json()["items"]
    assert cases, out
    video = [c for c in cases if "street_camera.mp4" in c["source_id"]]
    planted = {item.class_name for item in default_timeline(2026, 20, (960, 720)) if not item.attrs.get("transient")}
    found = {c["category"] for c in video}
    # the stall and the garbage pile that appear and stay in the video each become a case
    assert {"street_stall", "garbage"} <= found, (found, planted)
    # one case per planted object in the video, not one per frame
    assert len([c for c in video if c["category"] == "street_stall"]) == 1
    assert len([c for c in video if c["category"] == "garbage"]) == 1
    # the drone views show construction
    assert any(c["category"] == "illegal_construction" for c in cases)
    # a second run re-uses the media and the ONNX export and adds nothing
    assert main(["demo", "--no-serve"]) == 0
    again = capsys.readouterr().out
    assert re.findall(r"(\d+) new cases", again) and set(re.findall(r"(\d+) new cases", again)) == {"0"}
    with TestClient(build_app(load_settings())) as client:
        assert client.get("/cases").json()["total"] == len(cases)
    meta = json.loads((tmp_path / "data" / "models" / "registry.json").read_text())
    assert meta["versions"]["v1"]["stage"] == "production"

"""Feedback capture: verdicts keep the full frame + model version; corrections through the API; promotion
and rollback through the API by the data team only."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi.testclient import TestClient

from cases.lifecycle import Role
from cases.service import CaseService
from inference.event import EvidenceImage
from models.registry import ModelVersion, Registry
from tests.api.conftest import Keys
from tests.cases.factories import image, make_event


def frame_event(seed: int = 0, **kw):  # type: ignore[no-untyped-def]
    raw = image(96, 128, seed=seed)
    evidence = (
        EvidenceImage(raw.copy(), "snapshot"),
        EvidenceImage(raw[:20, :20].copy(), "crop"),
        EvidenceImage(raw, "frame"),
    )
    return make_event(evidence=evidence, model_version="m-7", **kw), raw


def open_case(service: CaseService, seed: int = 0, **kw) -> tuple[int, np.ndarray]:  # type: ignore[no-untyped-def]
    event, raw = frame_event(seed, **kw)
    return service.ingest(event).case_id, raw


def test_a_false_positive_verdict_keeps_the_full_frame_as_a_negative(
    client: TestClient, service: CaseService, keys: Keys
) -> None:
    case_id, raw = open_case(service)
    detail = client.get(f"/cases/{case_id}").json()
    assert [e["kind"] for e in detail["evidence"]] == ["snapshot", "crop", "frame"]
    r = client.post(
        f"/cases/{case_id}/verify",
        json={"verdict": "false_positive", "version": detail["version"]},
        headers=keys[Role.INSPECTOR],
    )
    assert r.status_code == 200, r.text
    rows = client.get("/feedback", params={"origin": "verdict"}).json()
    assert len(rows) == 1
    fb = rows[0]
    assert (fb["case_id"], fb["verdict"], fb["labelled"], fb["boxes"]) == (case_id, "false_positive", True, [])
    assert fb["model_version"] == "m-7" and (fb["width"], fb["height"]) == (128, 96)
    assert fb["predictions"][0]["class_name"] == "garbage"
    img = client.get(fb["image_url"])
    assert img.status_code == 200
    decoded = cv2.imdecode(np.frombuffer(img.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == raw.shape  # the whole frame, not the crop
    assert np.abs(decoded.astype(int) - raw.astype(int)).mean() < 8  # un-annotated (JPEG noise only)


def test_a_confirmed_verdict_keeps_its_box_as_a_pre_annotation_to_label(
    client: TestClient, service: CaseService, keys: Keys
) -> None:
    case_id, _ = open_case(service)
    v = client.get(f"/cases/{case_id}").json()["version"]
    client.post(f"/cases/{case_id}/verify", json={"verdict": "duplicate", "version": v}, headers=keys[Role.INSPECTOR])
    (fb,) = client.get("/feedback").json()
    assert (fb["verdict"], fb["labelled"]) == ("duplicate", False)
    assert fb["predictions"] == [{"class_name": "garbage", "xyxy": [10.0, 10.0, 40.0, 40.0]}]


def test_corrections_relabel_move_add_and_delete_boxes_on_the_full_frame(
    client: TestClient, service: CaseService, keys: Keys
) -> None:
    case_id, _ = open_case(service)
    boxes = [
        {"class_name": "stall", "xyxy": [12, 8, 44, 41]},  # relabelled and moved
        {"class_name": "signboard", "xyxy": [60, 5, 200, 30]},  # added; clipped to the 128 px frame
    ]
    r = client.post("/feedback/corrections", json={"case_id": case_id, "boxes": boxes}, headers=keys[Role.DATA_TEAM])
    assert r.status_code == 201, r.text
    fb = r.json()
    assert fb["origin"] == "correction" and fb["labelled"] and fb["model_version"] == "m-7"
    assert fb["boxes"] == [
        {"class_name": "stall", "xyxy": [12.0, 8.0, 44.0, 41.0]},
        {"class_name": "signboard", "xyxy": [60.0, 5.0, 128.0, 30.0]},
    ]
    # a second correction of the same frame replaces the first: here every box is deleted
    r = client.post("/feedback/corrections", json={"case_id": case_id, "boxes": []}, headers=keys[Role.INSPECTOR])
    assert r.status_code == 201 and r.json()["id"] == fb["id"] and r.json()["boxes"] == []
    assert len(client.get("/feedback", params={"origin": "correction"}).json()) == 1


def test_bad_corrections_are_4xx_with_a_message(client: TestClient, service: CaseService, keys: Keys) -> None:
    case_id, _ = open_case(service)
    h = keys[Role.DATA_TEAM]
    r = client.post(
        "/feedback/corrections",
        json={"case_id": case_id, "boxes": [{"class_name": "ufo", "xyxy": [1, 1, 9, 9]}]},
        headers=h,
    )
    assert r.status_code == 422 and "unknown class 'ufo'" in r.json()["detail"]
    r = client.post(
        "/feedback/corrections",
        json={"case_id": case_id, "boxes": [{"class_name": "stall", "xyxy": [500, 500, 600, 600]}]},
        headers=h,
    )
    assert r.status_code == 422 and "outside the 128x96 frame" in r.json()["detail"]
    assert client.post("/feedback/corrections", json={"case_id": 999, "boxes": []}, headers=h).status_code == 404
    r = client.post("/feedback/corrections", json={"case_id": case_id, "boxes": []}, headers=keys[Role.DISPATCHER])
    assert r.status_code == 403 and "needs role inspector or shift_lead or data_team or admin" in r.json()["detail"]
    # an observation ingested without its raw frame cannot be corrected (no full frame to label)
    old = service.ingest(make_event(source_id="cam-old", bbox=(300, 300, 340, 340))).case_id
    r = client.post("/feedback/corrections", json={"case_id": old, "boxes": []}, headers=h)
    assert r.status_code == 422 and "no raw frame" in r.json()["detail"]
    assert client.get("/feedback").json() == []


def test_promotion_and_rollback_through_the_api_by_the_data_team(
    client: TestClient,
    keys: Keys,
    tmp_path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    reg = Registry(settings.models_dir)
    prod = reg.get("production")
    weights = reg.weights(prod.version)
    base = dict(classes=prod.classes, val_hash="v1")
    reg.record_evaluation(prod.version, "v1", {"mAP50/stall": 0.5, "mAP50/garbage": 0.5})
    reg.register(weights, ModelVersion(version="worse", metrics={"mAP50/stall": 0.2, "mAP50/garbage": 0.6}, **base))
    reg.register(weights, ModelVersion(version="better", metrics={"mAP50/stall": 0.6, "mAP50/garbage": 0.49}, **base))
    h = keys[Role.DATA_TEAM]
    r = client.post("/models/worse/promote", json={}, headers=keys[Role.INSPECTOR])
    assert r.status_code == 403
    r = client.post("/models/worse/promote", json={}, headers=h)
    assert r.status_code == 409 and "mAP50/stall 0.200 < production 0.500" in r.json()["detail"]
    assert client.post("/models/worse/promote", json={"force": True}, headers=h).status_code == 422
    r = client.post("/models/better/promote", json={"note": "weekly run"}, headers=h)
    assert r.status_code == 200 and r.json()["stage"] == "production" and "weekly run" in r.json()["notes"]
    assert client.get("/models/production").json()["version"] == "better"
    r = client.post("/models/rollback", json={"note": "recall complaints"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == prod.version
    assert reg.get("better").stage == "archived" and "rolled back" in reg.get("better").notes
    assert client.get("/models/production").json()["version"] == prod.version

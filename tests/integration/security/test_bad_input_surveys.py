"""The bad-input corpus against survey uploads and processing: a file that cannot be a survey file is a 4xx at
upload (archives, non-media, empty); one that looks like media but is broken is a per-file error with a message
when the survey is processed, while the good file of the same survey is processed. The cases already in the
store and the files outside the survey's folder are untouched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cases.lifecycle import Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, DetectorSettings, Settings
from datasets.synthetic import generate_scene
from inference.event import EvidenceImage
from tests.api.conftest import TestClient
from tests.api.test_surveys_api import wait_done
from tests.cases.factories import T0, image, make_event, north_of
from tests.inference.survey.factories import jpeg_bytes
from tests.integration.security.corpus import ARCHIVE, GEO, MEDIA
from tests.integration.security.snapshot import table_rows

# what the upload answers for each kind: refused at the door, or stored and judged when processed
REFUSED_AT_UPLOAD = {
    "zip_bomb": 413,  # expands more than survey.zip_max_ratio
    "zip_slip": 422,
    "nested_zip": 422,  # nested archives are not extracted: nothing usable inside
    "corrupt_zip": 422,
    "corrupt_jpeg": 415,  # the content is sniffed, the name is not trusted
    "text_as_jpeg": 415,
    "html_as_png": 415,
    "elf_as_jpeg": 415,
    "zero_length_jpeg": 415,
    "zero_length_mp4": 415,
    "gif_as_webp": 415,
}
# a real video (its content decides, not its name); a photo whose GPS is impossible (read without a position)
DONE_WHEN_PROCESSED = {"mp4_as_jpeg", "exif_impossible_gps"}


def test_every_corpus_file_is_refused_or_a_file_error_and_nothing_else_changes(
    tmp_path: Path, tiny_model: Path
) -> None:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data,
        auth=AuthSettings(open_read=True),
        detector=DetectorSettings(model=str(tiny_model), conf=0.01),
    )
    with TestClient(build_app(settings), raise_server_exceptions=False) as client:
        service = client.app.state.services.cases  # type: ignore[attr-defined]
        for i in range(3):
            service.ingest(
                make_event(
                    geo=north_of(900 * i), start=T0 + timedelta(minutes=i), evidence=(EvidenceImage(image(seed=i)),)
                )
            )
        engine = service.sessions.kw["bind"]
        before = {t: rows for t, rows in table_rows(engine).items() if t in {"cases", "observations", "evidence"}}
        hdr = {"X-API-Key": client.app.state.services.api_keys.create("ops", Role.SHIFT_LEAD).token}  # type: ignore[attr-defined]
        sid = client.post("/surveys", json={"area": "corpus"}, headers=hdr).json()["id"]
        accepted: dict[str, str] = {}
        for bad in [*MEDIA, *ARCHIVE, *GEO]:
            upload = [("files", (bad.filename, bad.make(), "application/octet-stream"))]
            r = client.post(f"/surveys/{sid}/files", files=upload, headers=hdr)
            expected = REFUSED_AT_UPLOAD.get(bad.name, 201)
            assert r.status_code == expected, f"{bad.name}: {r.status_code} {r.text[:300]}"
            if r.status_code == 201:
                accepted[bad.name] = r.json()[0]["name"]
            else:
                assert r.json()["detail"], bad.name
        good = jpeg_bytes(generate_scene("aerial", seed=9, size=(960, 720)).image)
        assert client.post(f"/surveys/{sid}/files", files=[("files", ("good.jpg", good, "image/jpeg"))],
                           headers=hdr).status_code == 201  # fmt: skip
        assert client.post(f"/surveys/{sid}/process", headers=hdr).status_code == 202
        body = wait_done(client, sid, timeout=300)
        after = {t: rows for t, rows in table_rows(engine).items() if t in {"cases", "observations", "evidence"}}
        with engine.connect() as conn:
            off_globe = conn.exec_driver_sql(
                "SELECT count(*) FROM cases WHERE lat NOT BETWEEN -90 AND 90 OR lon NOT BETWEEN -180 AND 180"
            ).scalar_one()
    assert off_globe == 0  # an impossible GPS tag never places a case
    assert body["status"] == "done", body
    status = {f["name"]: f["status"] for f in body["files"]}
    assert status["good.jpg"] == "done"
    for name, stored_as in accepted.items():
        want = "done" if name in DONE_WHEN_PROCESSED else "error"
        assert status[stored_as] == want, f"{name}: {status[stored_as]} {body['file_errors'].get(stored_as)}"
        if want == "error":
            assert body["file_errors"][stored_as], name
    for table, rows in before.items():  # the cases that were there are as they were
        assert after[table][: len(rows)] == rows
    # nothing was written outside the survey's folder (zip slip), no archive was extracted anywhere
    outside = [p for p in tmp_path.rglob("*evil*")]
    assert outside == []
    assert not any(p.suffix == ".zip" for p in (data / "surveys").rglob("*"))


@pytest.mark.parametrize("area", ["", "a" * 200, "x\u0000y"], ids=["empty", "too_long", "nul"])
def test_bad_survey_bodies_are_422(area: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", auth=AuthSettings(open_read=True))
    with TestClient(build_app(settings), raise_server_exceptions=False) as client:
        hdr = {"X-API-Key": client.app.state.services.api_keys.create("ops", Role.SHIFT_LEAD).token}  # type: ignore[attr-defined]
        r = client.post("/surveys", json={"area": area}, headers=hdr)
        assert r.status_code == 422, r.text
        assert client.get("/surveys").json() == []

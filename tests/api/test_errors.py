"""The one error mapping (`api.errors`): each package's errors answer the status of their kind."""

from __future__ import annotations

import json
import time

import pytest

from api.errors import InputTooLarge, InvalidInput, ResourceNotFound, error_response, status_of
from cases.errors import (
    AuthError,
    CaseNotFound,
    EvidenceNotFound,
    EvidenceWriteError,
    FeedbackError,
    FeedbackNotFound,
    IllegalTransition,
    InvalidAction,
    InvalidEvent,
    InvalidFilter,
    MalformedUpload,
    PermissionDenied,
    SurveyNotFound,
    SurveyNotReady,
    UnsupportedUpload,
    UploadRejected,
    UploadTooLarge,
    VersionConflict,
    VersionRequired,
)
from cases.lifecycle import Role
from cases.scoring.errors import FeatureMismatch, LeakageError, ScorerFileError
from datasets.errors import DatasetBuildError, DatasetFormatError, LabelError, LabelingFormatError
from inference.errors import CameraConfigError, CameraExists, CameraNotFound, DetectorError, GeoError, MediaError
from models.config import ConfigError
from models.errors import (
    CityeyeError,
    LegacyCheckpointError,
    NothingToRollBack,
    PromotionRefused,
    RegistryError,
)
from tests.api.conftest import Keys, TestClient
from training.errors import LoopError, TrainingError

CASES: list[tuple[CityeyeError, int | None]] = [
    (CaseNotFound(1), 404),
    (EvidenceNotFound(1, 2), 404),
    (SurveyNotFound(1), 404),
    (FeedbackNotFound("feedback frame 1 not found"), 404),
    (CameraNotFound("camera 'x' not found"), 404),
    (RegistryError("model version 'v9' not found"), 404),
    (ResourceNotFound("no snapshot"), 404),
    (IllegalTransition(1, "close", "detected", "no"), 409),
    (VersionConflict(1, 2, 3), 409),
    (SurveyNotReady("survey 1 is queued"), 409),
    (CameraExists("camera 'x' already exists"), 409),
    (PromotionRefused("refused"), 409),
    (NothingToRollBack("nothing to roll back to"), 409),
    (LoopError("nothing new"), 409),
    (InvalidAction("bad"), 422),
    (InvalidEvent("bad"), 422),
    (InvalidFilter("bbox", "x", "bad"), 422),
    (FeedbackError("bad box"), 422),
    (UploadRejected("empty file"), 422),
    (CameraConfigError(["id: bad"]), 422),
    (MediaError("unreadable"), 422),
    (GeoError("no position"), 422),
    (LegacyCheckpointError("not a checkpoint"), 422),
    (DatasetBuildError("x"), 422),
    (DatasetFormatError("x"), 422),
    (LabelError("x"), 422),
    (LabelingFormatError("x"), 422),
    (TrainingError("run exists"), 422),
    (InvalidInput("bad"), 422),
    (MalformedUpload("malformed"), 400),
    (UploadTooLarge("too large"), 413),
    (InputTooLarge("photo larger than 20 MB"), 413),
    (UnsupportedUpload("unsupported"), 415),
    (VersionRequired("no version"), 428),
    (AuthError("no key"), 401),
    (PermissionDenied("no"), 403),
    (ScorerFileError("corrupt"), 503),
    (FeatureMismatch("other features"), 503),
    (DetectorError("cannot load"), 503),
    (EvidenceWriteError("disk full"), None),  # no kind: a fault of the server, HTTP 500
    (LeakageError("from the future"), None),
    (ConfigError(["api.port: bad"]), None),
]


@pytest.mark.parametrize(("exc", "code"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_status_by_kind(exc: CityeyeError, code: int | None) -> None:
    assert status_of(exc) == code


def test_callers_that_catch_builtin_errors_still_catch_them() -> None:
    for exc in (InvalidFilter("f", 1, "m"), UploadTooLarge("x"), FeedbackNotFound("x"), PromotionRefused("x")):
        assert isinstance(exc, ValueError)
    assert isinstance(CameraNotFound("x"), LookupError)
    assert isinstance(DetectorError("x"), RuntimeError) and isinstance(LoopError("x"), RuntimeError)
    assert isinstance(VersionRequired("x"), InvalidAction) and isinstance(FeedbackNotFound("x"), FeedbackError)


def test_bodies_and_headers() -> None:
    response = error_response(VersionConflict(7, 2, 3))
    assert response.headers["etag"] == '"3"'
    assert error_response(AuthError("no key")).headers["www-authenticate"] == "Bearer"
    invalid = error_response(InvalidFilter("bbox", "1,2", "bbox must be four numbers"))
    assert invalid.body == (
        b'{"detail":[{"type":"value_error","loc":["query","bbox"],"msg":"bbox must be four numbers","input":"1,2"}]}'
    )
    assert error_response(CaseNotFound(5)).body == b'{"detail":"case 5 not found"}'


def test_validation_errors_are_truncated(client: TestClient, keys: Keys) -> None:
    """A 1 MB body of 60,000 unknown keys is one short 422: the first errors, their inputs cut, and a count."""
    body = {f"k{i:05d}": "xxx" for i in range(60_000)}
    content = json.dumps(body).encode()
    assert 1_000_000 < len(content) < 1_048_576
    started = time.process_time()
    r = client.post(
        "/cases/1/register", content=content, headers={**keys[Role.OPERATOR], "Content-Type": "application/json"}
    )
    cpu = time.process_time() - started
    assert r.status_code == 422
    assert len(r.content) < 10_000, len(r.content)
    detail = r.json()["detail"]
    assert len(detail) == 20 + 1
    assert detail[0]["type"] in {"missing", "extra_forbidden"}
    assert all(len(json.dumps(d.get("input"))) <= 200 + 10 for d in detail)
    assert detail[-1] == {"type": "too_many_errors", "loc": [], "msg": f"{60_000 - 20} more errors not shown"}
    assert cpu < 1.0, cpu  # 1.3 s before the cut, most of it encoding 60,000 errors

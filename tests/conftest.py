"""Test-wide setup: ultralytics offline in a throw-away data dir, and shared factories/fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports ultralytics: its settings, fonts and runs go to a temporary data dir.
_SESSION_DATA = Path(tempfile.mkdtemp(prefix="cityeye-test-"))
os.environ.pop("CITYEYE_CONFIG", None)
from models.offline import configure_ultralytics  # noqa: E402

configure_ultralytics(_SESSION_DATA)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def session_data_dir() -> Path:
    return _SESSION_DATA


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


CLASSES = ["stall", "garbage", "garbage_bin", "signboard", "construction"]


@pytest.fixture(scope="session")
def tiny_model(session_data_dir: Path) -> Path:
    """A real detector: 1 epoch at 64 px on a few synthetic scenes, from a legacy YOLOv5 checkpoint.

    It is weak (it has seen 12 images), so tests that need detections lower the confidence threshold;
    what they exercise is the real load → predict → Detections → events → cases path.
    """
    import yaml

    from datasets.synthetic import write_yolo_dataset
    from tests.models.legacy_factory import write_legacy_checkpoint
    from training.base import base_checkpoint_from_legacy

    root = session_data_dir / "tiny"
    ds = root / "ds"
    write_yolo_dataset(ds, n_train=8, n_val=4, seed=1, size=(320, 240), class_names=tuple(CLASSES))
    (ds / "data.yaml").write_text(
        yaml.safe_dump(
            {"path": str(ds), "train": "images/train", "val": "images/val", "names": dict(enumerate(CLASSES))}
        )
    )
    legacy = root / "legacy-yolov5n.pt"
    write_legacy_checkpoint(legacy)
    base = base_checkpoint_from_legacy(legacy, CLASSES, root / "base.pt")
    from ultralytics import YOLO

    YOLO(str(base)).train(
        data=str(ds / "data.yaml"),
        epochs=1,
        imgsz=64,
        batch=4,
        workers=0,
        device="cpu",
        project=str(root / "runs"),
        name="tiny",
        exist_ok=True,
        plots=False,
        verbose=False,
        amp=False,
        seed=0,
    )
    best = root / "runs" / "tiny" / "weights" / "best.pt"
    assert best.is_file()
    return best


@pytest.fixture(scope="session")
def redis_url(session_data_dir: Path):  # type: ignore[no-untyped-def]
    """A real redis-server on loopback for the whole session (tests use their own key prefixes / db)."""
    from tests.servers import redis_server

    with redis_server(session_data_dir / "redis") as server:
        yield server.url

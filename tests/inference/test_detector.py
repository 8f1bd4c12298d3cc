"""The detector runtime on a real (tiny) model: PyTorch and ONNX, registry loading, parity."""

from datetime import UTC, datetime

import numpy as np
import pytest

from cityeye.config import DetectorSettings
from datasets.synthetic import generate_scene
from inference.detections import Detections
from inference.detector import Detector, DetectorError, export_onnx
from inference.frame import Frame
from models.registry import ModelVersion, Registry


def frames(n: int = 3) -> list[Frame]:
    return [
        Frame(generate_scene("street", seed=100 + i, size=(320, 240)).image, f"cam{i}", datetime.now(UTC))
        for i in range(n)
    ]


LOW = DetectorSettings(conf=0.001, imgsz=64, batch=2)


def test_pytorch_predict_batches_into_detections(tiny_model):
    det = Detector.from_file(tiny_model, LOW, version="tiny")
    out = det.predict(frames(3))
    assert len(out) == 3 and all(isinstance(d, Detections) for d in out)
    assert sum(len(d) for d in out) > 0
    d = next(d for d in out if len(d))
    assert d.names == det.names and set(d.names.values()) >= {"stall", "garbage"}
    assert np.all((d.confidence >= 0.001) & (d.confidence <= 1))


def test_onnx_export_matches_pytorch(tiny_model, tmp_path):
    onnx = export_onnx(tiny_model, imgsz=64, out=tmp_path / "tiny.onnx")
    pt_det = Detector.from_file(tiny_model, DetectorSettings(conf=0.05, imgsz=64, batch=4))
    ox_det = Detector.from_file(onnx, DetectorSettings(conf=0.05, imgsz=64, batch=4))
    assert ox_det.loaded.backend == "onnx"
    fs = frames(4)
    for a, b in zip(pt_det.predict(fs), ox_det.predict(fs), strict=True):
        # same boxes within tolerance: compare the confident ones, matched in order of confidence
        a, b = a[a.confidence > 0.1], b[b.confidence > 0.1]
        assert abs(len(a) - len(b)) <= 1
        n = min(len(a), len(b))
        if n:
            oa, ob = np.argsort(-a.confidence)[:n], np.argsort(-b.confidence)[:n]
            np.testing.assert_allclose(a.xyxy[oa], b.xyxy[ob], atol=2.0)
            np.testing.assert_allclose(a.confidence[oa], b.confidence[ob], atol=0.02)


def test_load_from_registry_exports_onnx_once(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models", bundled_dir=tmp_path / "no-bundled")
    reg.register(tiny_model, ModelVersion(version="tiny-1", classes=["stall"], imgsz=64))
    reg.promote("tiny-1")
    det = Detector.load(tmp_path / "models", DetectorSettings(imgsz=64, conf=0.001))
    assert det.version == "tiny-1" and det.loaded.backend == "onnx"
    assert (tmp_path / "models" / "tiny-1" / "model.onnx").is_file()
    det_pt = Detector.load(tmp_path / "models", DetectorSettings(imgsz=64, backend="pytorch"))
    assert det_pt.loaded.backend == "pytorch"


def test_bad_model_files(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        Detector.from_file(tmp_path / "nope.pt", LOW)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(DetectorError, match="cannot load"):
        Detector.from_file(junk, LOW)

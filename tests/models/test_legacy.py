import pickle
import zipfile

import pytest
import torch

from models.legacy import LegacyCheckpointError, init_from_legacy, read_legacy_state_dict
from tests.models.legacy_factory import write_legacy_checkpoint


def test_reads_legacy_checkpoint_without_yolov5_code(tmp_path):
    path = tmp_path / "yolov5n.pt"
    expected = write_legacy_checkpoint(path)
    # the file really references the YOLOv5 classes
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert b"models.common" in data and b"models.yolo" in data
    state = read_legacy_state_dict(path)
    assert set(state) == set(expected)
    for k in ("model.0.conv.weight", "model.23.cv3.conv.weight"):
        assert torch.equal(state[k], expected[k])


def test_init_copies_backbone_and_neck_keeps_head_fresh(tmp_path):
    from ultralytics.nn.tasks import DetectionModel

    path = tmp_path / "yolov5n.pt"
    expected = write_legacy_checkpoint(path, nc=80)
    model = DetectionModel("yolov5n.yaml", nc=3, verbose=False)
    copied = init_from_legacy(model, read_legacy_state_dict(path))
    body = [k for k in model.state_dict() if int(k.split(".")[1]) <= 23]
    assert copied == sorted(body)
    assert torch.equal(model.state_dict()["model.2.cv1.conv.weight"], expected["model.2.cv1.conv.weight"])
    assert not any(k.startswith("model.24.") for k in copied)


def test_refuses_code_in_pickle_and_garbage_files(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, bad, pickle_module=pickle)
    with pytest.raises(LegacyCheckpointError, match="refusing to unpickle"):
        read_legacy_state_dict(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(LegacyCheckpointError, match="not a readable"):
        read_legacy_state_dict(junk)
    with pytest.raises(LegacyCheckpointError, match="no such file"):
        read_legacy_state_dict(tmp_path / "missing.pt")

"""Build a YOLOv5-style legacy checkpoint in a test: classes that pickle as `models.yolo.Model`, `models.common.*`.

The weights come from ultralytics' own `yolov5n.yaml` model (same names and shapes as YOLOv5's), but every
module is re-classed to a stand-in whose module path is the YOLOv5 repo's, so the file needs the legacy
unpickler to load, exactly like a real YOLOv5 checkpoint.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
from torch import nn


def write_legacy_checkpoint(path: Path, nc: int = 80) -> dict[str, torch.Tensor]:
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=nc, verbose=False)
    fake_mods = {name: types.ModuleType(name) for name in ("models", "models.common", "models.yolo")}
    classes: dict[type, type] = {}

    def fake_class(cls: type, module: str) -> type:
        if cls not in classes:
            classes[cls] = type(cls.__name__, (nn.Module,), {"__module__": module})
            setattr(fake_mods[module], cls.__name__, classes[cls])
        return classes[cls]

    for m in model.modules():
        if m is not model and not type(m).__module__.startswith("torch.nn"):
            m.__class__ = fake_class(type(m), "models.common")
    legacy_model = type("Model", (nn.Module,), {"__module__": "models.yolo"})
    fake_mods["models.yolo"].Model = legacy_model  # type: ignore[attr-defined]
    model.__class__ = legacy_model
    saved = {name: sys.modules.get(name) for name in fake_mods}
    try:
        sys.modules.update(fake_mods)
        torch.save({"epoch": -1, "model": model, "ema": None, "optimizer": None}, path)
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    return {k: v.float() for k, v in model.state_dict().items()}

"""Read a legacy YOLOv5 checkpoint without the YOLOv5 code, and initialise an ultralytics model from it.

A YOLOv5 `.pt` is a pickle of the YOLOv5 repo's own classes (`models.yolo.Model`, `models.common.C3` …),
which cityeye neither installs nor vendors. `read_legacy_state_dict` unpickles it with an allow-list:
torch's tensor-rebuild helpers and `torch.nn` layers load as themselves, every `models.*` class becomes
a plain `nn.Module` stand-in (its attributes and sub-modules restore as usual), and anything else is
refused, so a hostile pickle cannot run code. The tensors are then collected by name
(`model.0.conv.weight` …).

The backbone and neck (layers 0–23) of YOLOv5 have the same names and shapes as ultralytics'
`yolov5n.yaml` family, so `init_from_legacy` copies them and leaves the (anchor-free) head fresh.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.errors import LegacyCheckpointError


class _LegacyModule(nn.Module):
    """Stand-in for any class of the YOLOv5 code: a bare module that keeps its children and tensors."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never run
        raise RuntimeError("legacy stand-in modules hold weights only")


_ALLOWED_PREFIXES = ("torch.nn.modules.", "torch._utils", "torch.storage", "torch._tensor")
_ALLOWED_NAMES = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("__builtin__", "set"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "dtype"),
}
_STORAGES = {
    "FloatStorage",
    "HalfStorage",
    "DoubleStorage",
    "LongStorage",
    "IntStorage",
    "BFloat16Storage",
    "ByteStorage",
    "BoolStorage",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "models" or module.startswith("models."):
            return _LegacyModule
        if module == "torch" and (name in _STORAGES or name in {"Size", "device", "dtype"}):
            return getattr(torch, name)
        if module.startswith(_ALLOWED_PREFIXES) or (module, name) in _ALLOWED_NAMES:
            module = "builtins" if module == "__builtin__" else module
            mod = __import__(module, fromlist=[name])
            return getattr(mod, name)
        raise LegacyCheckpointError(f"refusing to unpickle {module}.{name}: not a tensor or layer class")


_pickle_module = types.ModuleType("cityeye_legacy_pickle")
_pickle_module.Unpickler = _Unpickler  # type: ignore[attr-defined]
_pickle_module.load = pickle.load  # type: ignore[attr-defined]
_pickle_module.__name__ = "pickle"


def read_legacy_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a YOLOv5 checkpoint's model (EMA if present), by name, as float32 on the CPU."""
    p = Path(path)
    if not p.is_file():
        raise LegacyCheckpointError(f"{p}: no such file")
    try:
        ckpt = torch.load(p, map_location="cpu", pickle_module=_pickle_module, weights_only=False)
    except LegacyCheckpointError:
        raise
    except Exception as exc:  # torch raises many types for a bad archive
        raise LegacyCheckpointError(f"{p}: not a readable PyTorch checkpoint ({exc})") from exc
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else ckpt
    if isinstance(model, nn.Module):
        state = model.state_dict()
    elif isinstance(model, dict):
        state = model
    else:
        raise LegacyCheckpointError(f"{p}: no model found in the checkpoint")
    return {k: v.float() for k, v in state.items() if isinstance(v, torch.Tensor)}


def init_from_legacy(model: nn.Module, legacy: dict[str, torch.Tensor], max_layer: int = 23) -> list[str]:
    """Copy tensors `model.<i>.…` with i ≤ max_layer whose name and shape match; return the names copied."""
    target = model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    for name, tensor in legacy.items():
        parts = name.split(".")
        if len(parts) < 2 or parts[0] != "model" or not parts[1].isdigit() or int(parts[1]) > max_layer:
            continue
        if name in target and target[name].shape == tensor.shape:
            copied[name] = tensor.to(target[name].dtype)
    if not copied:
        raise LegacyCheckpointError("no tensor of the legacy checkpoint matches the model (wrong family?)")
    model.load_state_dict(copied, strict=False)
    return sorted(copied)

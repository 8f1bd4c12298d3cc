"""Starting weights for fine-tuning: an ultralytics checkpoint initialised from a legacy YOLOv5 `.pt`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import torch

from models.legacy import init_from_legacy, read_legacy_state_dict


def base_checkpoint_from_legacy(legacy_pt: Path, classes: list[str], out: Path, cfg: str = "yolov5n.yaml") -> Path:
    """Build ultralytics' `cfg` model for `classes`, copy backbone+neck from `legacy_pt`, save it to `out`.

    The result loads with `YOLO(out)` and fine-tunes like any ultralytics checkpoint; only the detection
    head starts fresh. Needs ultralytics configured offline first (models.offline).
    """
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(cfg, nc=len(classes), verbose=False)
    copied = init_from_legacy(model, read_legacy_state_dict(legacy_pt))
    model.names = dict(enumerate(classes))
    model.args = {"imgsz": 640}  # type: ignore[assignment]  # ultralytics keeps train args here
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "train_args": {},
            "date": datetime.now(UTC).isoformat(),
            "version": "cityeye-legacy-init",
            "cityeye": {"legacy_source": str(legacy_pt), "tensors_copied": len(copied)},
        },
        out,
    )
    return out

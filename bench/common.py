"""What the benchmarks share: the same weights as PyTorch and ONNX files, resolved the way workers do."""

from __future__ import annotations

from pathlib import Path


def model_files(model: str, data_dir: Path, imgsz: int) -> tuple[Path, Path]:
    """(.pt, .onnx) for a registry version or a .pt path; the ONNX file is exported once if missing."""
    from inference.detector import export_onnx
    from models.registry import Registry

    if model.endswith(".pt"):
        pt = Path(model)
        onnx = data_dir / "bench" / (pt.stem + ".onnx")
    else:
        reg = Registry(data_dir / "models")
        pt, onnx = reg.weights(model, "pt"), reg.weights(model, "onnx")
    if not onnx.is_file():
        export_onnx(pt, imgsz, onnx)
    return pt, onnx

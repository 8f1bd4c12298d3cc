"""Make ultralytics run fully offline, with its settings and fonts inside cityeye's data directory.

Call `configure_ultralytics(data_dir)` before the first `import ultralytics` (the CLI, the API app and the
workers do). Nothing is downloaded afterwards: hub, telemetry and pip auto-install are off, settings sync
is off, and the fonts its plots ask for (Arial.ttf, Arial.Unicode.ttf) are links to the DejaVu Sans that
matplotlib ships, so plotting never fetches a font.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _dejavu() -> Path | None:
    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    try:
        import matplotlib

        candidates.insert(0, Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:  # pragma: no cover - matplotlib is an ultralytics dependency
        pass
    return next((c for c in candidates if c.is_file()), None)


def configure_ultralytics(data_dir: Path) -> Path:
    """Point ultralytics at `<data_dir>/ultralytics` and switch off everything that reaches the network.

    Returns ultralytics' own settings folder (`<data_dir>/ultralytics/Ultralytics`).
    """
    root = (Path(data_dir) / "ultralytics").resolve()
    if "ultralytics" in sys.modules and os.environ.get("YOLO_CONFIG_DIR"):
        # ultralytics reads its config dir once, at import: a process keeps the first data dir's
        # settings folder (the offline switches are already in force from that first call)
        first = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
        if os.environ.get("YOLO_OFFLINE") == "1":
            return first
        raise RuntimeError("ultralytics was imported before configure_ultralytics(); it may go online")
    user_dir = root / "Ultralytics"  # ultralytics appends this to YOLO_CONFIG_DIR
    user_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(root)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    font = _dejavu()
    for name in FONT_NAMES:
        link = user_dir / name
        if font is not None and not link.exists():
            try:
                link.symlink_to(font)
            except OSError:
                link.write_bytes(font.read_bytes())
    from ultralytics.utils import SETTINGS

    wanted = {
        "sync": False,
        "hub": False,
        "clearml": False,
        "comet": False,
        "dvc": False,
        "mlflow": False,
        "neptune": False,
        "raytune": False,
        "tensorboard": False,
        "wandb": False,
        "runs_dir": str(root / "runs"),
        "weights_dir": str(root / "weights"),
        "datasets_dir": str(root / "datasets"),
    }
    changed = {k: v for k, v in wanted.items() if k in SETTINGS and SETTINGS[k] != v}
    if changed:
        SETTINGS.update(changed)
    return user_dir

"""Metrics of the inference layer: detector calls, loaded models, camera streams, survey images.

from inference import metrics
metrics.CAMERA_FPS.labels(camera="gate-3").set(fps)
with metrics.DETECTOR_LATENCY.labels(backend="onnx").time(): ...
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from models.metrics import LATENCY_BUCKETS as _LATENCY_BUCKETS

# ---- inference ---------------------------------------------------------------------------------------------
DETECTOR_LATENCY = Histogram(
    "cityeye_detector_latency_seconds",
    "Wall time of one detector call (a batch of frames)",
    ["backend"],
    buckets=_LATENCY_BUCKETS,
)
DETECTOR_FRAMES = Counter("cityeye_detector_frames_total", "Frames run through the detector", ["backend"])
MODEL_LOADED = Gauge(
    "cityeye_model_loaded", "1 for each detector version loaded in this process", ["version", "backend"]
)
_loaded: set[str] = set()


def model_loaded(version: str, backend: str) -> None:
    """Record that this process loaded detector `version` (shown by /ready and the gauge)."""
    MODEL_LOADED.labels(version=version, backend=backend).set(1)
    _loaded.add(f"{version}/{backend}")


def loaded_models() -> list[str]:
    return sorted(_loaded)


# ---- streams (per camera) ----------------------------------------------------------------------------------
CAMERA_FPS = Gauge("cityeye_camera_fps", "Frames per second processed, per camera", ["camera"])
CAMERA_UP = Gauge("cityeye_camera_up", "1 while the camera's stream is connected, else 0", ["camera"])
CAMERA_RECONNECTS = Counter("cityeye_camera_reconnects_total", "Stream reconnect attempts, per camera", ["camera"])
CAMERA_FRAMES = Counter("cityeye_camera_frames_total", "Frames read from the stream, per camera", ["camera"])

# ---- surveys -------------------------------------------------------------------------------------------------
SURVEY_IMAGES = Counter("cityeye_survey_images_total", "Survey images processed, by outcome (ok, error)", ["outcome"])
SURVEYS = Counter("cityeye_surveys_total", "Surveys finished, by outcome (done, failed)", ["outcome"])

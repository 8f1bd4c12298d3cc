"""Settings of the inference layer: the detector, the file pipeline's persistence rule, camera streams, drone
surveys and the active-learning sampler. Assembled into the service's settings by `cityeye/config.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config import StrictModel


class DetectorSettings(StrictModel):
    model: str = Field(
        default="production",
        description="registry version to load ('production' = the promoted one), or a path to a .pt/.onnx file",
    )
    backend: Literal["auto", "onnx", "pytorch"] = Field(
        default="auto", description="auto = ONNX Runtime when an .onnx export exists (CPU), else PyTorch"
    )
    imgsz: int | None = Field(
        default=None, ge=32, le=4096, description="inference size in pixels; default: the size the model was trained at"
    )
    conf: float = Field(default=0.25, gt=0, lt=1, description="minimum detection confidence")
    iou: float = Field(default=0.5, gt=0, lt=1, description="NMS IoU threshold")
    max_det: int = Field(default=100, ge=1, le=1000, description="most detections kept per frame")
    batch: int = Field(default=8, ge=1, le=256, description="frames per detector call")
    device: str = Field(default="cpu", description="'cpu' or a CUDA device such as '0'")
    threads: int = Field(default=0, ge=0, le=256, description="CPU threads for PyTorch; 0 = all cores")


class PersistenceSettings(StrictModel):
    min_frames: int = Field(default=3, ge=1, le=10_000, description="N: frames an object must be seen in")
    window_s: float = Field(default=10.0, gt=0, le=86_400, description="T: within this many seconds")
    iou_match: float = Field(default=0.3, gt=0, lt=1, description="IoU to count two boxes as one object")
    video_fps: float = Field(default=2.0, gt=0, le=60, description="frames per second sampled from videos")
    video_max_s: float = Field(
        default=10_800.0,
        gt=0,
        le=86_400,
        description="longest video read (seconds of video, by its own frame rate); a longer one is a file error, "
        "refused before decoding when its header says so",
    )
    video_max_frames: int = Field(
        default=20_000, ge=1, le=1_000_000, description="most frames sampled from one video (each is one detector run)"
    )


class StreamSettings(StrictModel):
    """`cityeye streams`: camera decoding, batching, tracking and (scale-out) Redis leases."""

    buffer_frames: int = Field(default=2, ge=1, le=100, description="decoded frames kept per camera (drop-oldest)")
    batch_wait_s: float = Field(
        default=0.05, gt=0, le=5, description="a round waits this long for the first new frame of any camera"
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, le=600, description="first reconnect delay (doubles, jitter)")
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600, description="longest reconnect delay")
    stall_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="watchdog: a decoder without a frame this long is restarted"
    )
    open_timeout_s: float = Field(default=10.0, gt=0, le=600, description="time to open a stream")
    track_buffer_s: float = Field(default=30.0, gt=0, le=3600, description="ByteTrack keeps a lost track this long")
    reassociate_iou: float = Field(
        default=0.5, gt=0, lt=1, description="a new track over a remembered stationary box takes its id back"
    )
    stationary_memory_s: float = Field(
        default=600.0, gt=0, le=86_400, description="how long a vanished object's box is remembered"
    )
    cameras_refresh_s: float = Field(default=5.0, gt=0, le=3600, description="how often the camera table is re-read")
    status_interval_s: float = Field(default=2.0, gt=0, le=600, description="how often camera status is stored")
    snapshot_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often each camera's latest snapshot is written"
    )
    lease_ttl_s: float = Field(
        default=10.0, gt=0, le=3600, description="scale-out: a dead worker's cameras move after this long"
    )
    heartbeat_s: float = Field(default=2.0, gt=0, le=600, description="scale-out: lease renewal interval")
    reload_check_s: float = Field(
        default=60.0, gt=0, le=86_400, description="how often the worker checks for a new production model"
    )
    ingest: Literal["direct", "spool"] = Field(
        default="direct",
        description="direct: the stream worker writes its events to the case store itself; spool: through the "
        "durable event spool (<data_dir>/spool/streams-<host>.db) to the cases.ingest_events task, so events "
        "survive a database outage (scale-out: needs `cityeye worker`)",
    )


class SurveySettings(StrictModel):
    """Drone surveys: upload limits, sliced inference, geo-location defaults, change detection."""

    max_file_mb: int = Field(default=2048, ge=1, le=1_048_576, description="largest single survey file in MiB")
    zip_max_members: int = Field(default=10_000, ge=1, le=1_000_000, description="most entries a zip may hold")
    zip_max_total_mb: int = Field(
        default=20_480, ge=1, le=1_048_576, description="most MiB a zip may expand to (counted while extracting)"
    )
    zip_max_ratio: float = Field(
        default=100.0, ge=2, le=100_000, description="a zip member expanding more than this many times is a zip bomb"
    )
    tile_size: int | None = Field(
        default=None,
        ge=32,
        le=4096,
        description="sliced inference: tile side in pixels; default: the detector's inference size (no downscaling)",
    )
    tile_overlap: float = Field(default=0.2, ge=0, lt=0.9, description="sliced inference: overlap of neighbours")
    full_image: bool = Field(default=True, description="sliced inference: also one pass over the whole image")
    sensor_width_mm: float | None = Field(
        default=None, gt=0, le=100, description="camera sensor width, when photos lack FocalLengthIn35mmFilm"
    )
    change_diff: float = Field(
        default=30.0, gt=0, le=255, description="change detection: colour difference (CIELAB) that counts as changed"
    )
    change_min_area_m2: float = Field(default=6.0, gt=0, description="smallest new structure, square metres")
    change_max_area_m2: float = Field(default=5000.0, gt=0, description="largest new structure, square metres")
    change_min_rectangularity: float = Field(
        default=0.85, gt=0, le=1, description="structure test: area / area of its rotated bounding rectangle"
    )


class SamplingSettings(StrictModel):
    """Active learning: which frames stream and survey workers keep for labelling (`inference/sampling.py`)."""

    enabled: bool = Field(default=True, description="offer frames to the sampler at all")
    low_conf: float = Field(default=0.25, ge=0, le=1, description="a detection below `high_conf` and at or above")
    high_conf: float = Field(default=0.5, ge=0, le=1, description="… this is uncertain: its frame is a candidate")
    contested_iou: float = Field(
        default=0.5, gt=0, le=1, description="two boxes of different classes overlapping this much are contested"
    )
    rate: float = Field(default=0.5, ge=0, le=1, description="share of uncertain/contested frames kept")
    random_rate: float = Field(default=0.0, ge=0, le=1, description="share of all other frames kept (a baseline)")
    per_source_per_hour: int = Field(default=30, ge=0, le=100_000, description="most frames kept per camera per hour")
    budget_mb: float = Field(default=2000.0, ge=0, description="stop sampling when kept samples take this much disk")

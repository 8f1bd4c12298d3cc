"""One settings model for the whole service: env vars (`CITYEYE_*`, nested with `__`) and an optional YAML file.

Every model forbids unknown keys, so a typo in a config file is an error that names the key, not a
silently ignored setting. `cityeye validate-config FILE` prints those errors with their key paths.
"""

from __future__ import annotations

import difflib
import math
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "CITYEYE_CONFIG"
_config_path: ContextVar[Path | None] = ContextVar("cityeye_config_path", default=None)


def _check_bbox(box: tuple[float, float, float, float]) -> None:
    """A [min_lon, min_lat, max_lon, max_lat] box in WGS84 with min < max (raises ValueError)."""
    min_lon, min_lat, max_lon, max_lat = box
    if not all(math.isfinite(v) for v in box):
        raise ValueError("box values must be finite numbers")
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ValueError(f"box must be [min_lon, min_lat, max_lon, max_lat] in degrees with min < max, got {list(box)}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectorSettings(_Strict):
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


class PersistenceSettings(_Strict):
    min_frames: int = Field(default=3, ge=1, le=10_000, description="N: frames an object must be seen in")
    window_s: float = Field(default=10.0, gt=0, le=86_400, description="T: within this many seconds")
    iou_match: float = Field(default=0.3, gt=0, lt=1, description="IoU to count two boxes as one object")
    video_fps: float = Field(default=2.0, gt=0, le=60, description="frames per second sampled from videos")


class CaseSettings(_Strict):
    merge_window_h: float = Field(
        default=72.0, gt=0, le=24 * 365, description="an event merges into an open case seen within this time"
    )
    overlap_iou: float = Field(
        default=0.2, gt=0, lt=1, description="without geo: boxes overlapping this much in one source merge"
    )
    evidence_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="`cityeye cases prune-evidence` deletes the evidence images of cases closed or dismissed "
        "longer ago than this; null keeps them forever. Open cases are never pruned",
    )


class ApiSettings(_Strict):
    host: str = Field(default="127.0.0.1", description="bind address of `cityeye serve`")
    port: int = Field(default=8000, ge=1, le=65535)
    page_size_max: int = Field(default=500, ge=1, le=10_000, description="largest page GET /cases returns")


class LifecycleSettings(_Strict):
    recurrence: Literal["reopen", "link", "off"] = Field(
        default="link",
        description="an event matching a case closed within recurrence_window_h: reopen it, open a new case "
        "linked to it as a repeat (repeat_of), or ignore the closed case",
    )
    recurrence_window_h: float = Field(default=168.0, gt=0, le=24 * 365, description="see recurrence")
    districts: dict[str, tuple[float, float, float, float]] = Field(
        default_factory=dict,
        description="district name -> [min_lon, min_lat, max_lon, max_lat]; a new case takes the first that "
        "holds its position",
    )

    @field_validator("districts")
    @classmethod
    def _boxes_are_real(
        cls, value: dict[str, tuple[float, float, float, float]]
    ) -> dict[str, tuple[float, float, float, float]]:
        for name, box in value.items():
            try:
                _check_bbox(box)
            except ValueError as exc:
                raise ValueError(f"district {name!r}: {exc}") from None
        return value


class AuthSettings(_Strict):
    open_read: bool | None = Field(
        default=None,
        description="true: reads need no API key; false: they do; null (default): they do once the first key "
        "exists (a fresh install can be browsed, `cityeye keys create` closes it)",
    )


class WebhookSettings(_Strict):
    url: str = Field(description="where to POST (http or https)")
    secret: str = Field(min_length=16, description="HMAC-SHA256 key of the X-Cityeye-Signature header")
    events: list[Literal["case.created", "case.status_changed"]] = Field(
        default=["case.created", "case.status_changed"], description="which events to send"
    )

    def model_post_init(self, _context: object) -> None:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http:// or https://, got {self.url[:80]!r}")
        low = self.secret.lower()
        if len(set(self.secret)) < 6 or any(w in low for w in ("changeme", "change-me", "placeholder", "example")):
            raise ValueError(
                "webhook secret looks like a placeholder: use a random string (e.g. `openssl rand -hex 32`)"
            )


class PushSettings(_Strict):
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=50, description="after this many failures a delivery is dead")
    backoff_s: float = Field(default=2.0, gt=0, le=3600, description="first retry delay; doubles each time")
    backoff_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="per POST")
    poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how often due deliveries (retries) are looked for: the in-process thread, or the beat "
        "schedule of `cityeye worker --beat` in scale-out",
    )


class OpsSettings(_Strict):
    """Operations: logs, metrics, readiness, request limits (see README "Operations")."""

    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line with request_id / camera_id / case_id fields"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    metrics: bool = Field(default=True, description="serve Prometheus metrics at GET /metrics")
    ready_model: bool = Field(
        default=True, description="GET /ready also checks that detector.model resolves to a weights file"
    )
    max_body_kb: int = Field(
        default=1024, ge=1, le=1_048_576, description="largest request body in KiB (JSON and forms); larger → 413"
    )
    max_upload_mb: int = Field(
        default=4096,
        ge=1,
        le=1_048_576,
        description="largest upload body in MiB (multipart, octet-stream, zip, image, video); larger → 413",
    )
    auth_failures_per_min: int = Field(
        default=20, ge=1, le=100_000, description="a client IP with this many 401s within a minute gets 429"
    )
    uploads_per_min: int = Field(default=60, ge=1, le=100_000, description="uploads per client IP per minute")
    outbound_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="connect/read timeout of outbound calls (Redis, Postgres connect)"
    )
    task_visibility_timeout_s: float = Field(
        default=3600.0,
        ge=1,
        le=7 * 86_400,
        description="a task not acknowledged this long after delivery (its worker died) is delivered again; "
        "longer than the longest task",
    )


class ConsoleSettings(_Strict):
    enabled: bool = Field(default=True, description="serve the web console at /console")
    tile_url: str | None = Field(
        default=None,
        description="base-map tile URL template with {z}/{x}/{y} (e.g. a city's own tile server); null: the map "
        "draws a plain coordinate grid with the district outlines, which works offline",
    )
    tile_attribution: str = Field(default="", max_length=500, description="credit line shown with the tiles")
    tile_max_zoom: int = Field(default=19, ge=1, le=24, description="highest zoom level the tile server has")
    districts_geojson: Path | None = Field(
        default=None,
        description="GeoJSON FeatureCollection of district outlines (Polygon/MultiPolygon; `properties.name`); "
        "null: the rectangles of lifecycle.districts",
    )
    center: tuple[float, float] | None = Field(
        default=None, description="[lat, lon] the map opens on when there are no cases to fit"
    )


class StreamSettings(_Strict):
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


class SurveySettings(_Strict):
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


class ScoringSettings(_Strict):
    """Predictive scoring on live cases (cases/scoring): P(confirmed), priority and reasons, and the forecast."""

    live: bool = Field(
        default=True,
        description="score new and changed cases after each commit with the promoted scorer (none promoted: "
        "cases stay unscored and sort=priority uses severity alone)",
    )
    top_reasons: int = Field(default=3, ge=0, le=15, description="reasons kept per case")
    refit_every_s: float | None = Field(
        default=None,
        ge=60,
        description="scale-out: refit the scorer (and the forecasts) from the case store's verdicts this often "
        "(Celery beat, `cases.scoring.refit`); null: only by `cityeye scoring fit --db`",
    )
    min_verdicts: int = Field(
        default=300, ge=1, description="verdicts needed before the learned model is tried against the prior"
    )
    radius_m: float = Field(default=50.0, gt=0, le=5000, description="radius of the location-history features")
    auto_promote: bool = Field(
        default=True,
        description="a refit promotes the scorer it fitted (its fit already chose prior or learned on held-out "
        "verdicts) and queues the rescoring of the open cases; false: it stays a candidate",
    )
    forecast_cell_m: list[float] = Field(
        default_factory=lambda: [250.0],
        description="grid cell sizes (metres) the periodic refit fits forecasts for (day and week each)",
    )
    forecast_min_days: int = Field(
        default=28, ge=21, description="days of confirmed-case history needed before a forecast is fitted"
    )


class SamplingSettings(_Strict):
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


class LoopSettings(_Strict):
    """The data team's loop (verdicts → dataset → retrain → compare → candidate); see README."""

    margin: float = Field(default=0.02, ge=0, le=1, description="largest allowed per-category mAP50 drop to promote")
    every_h: float | None = Field(
        default=None, gt=0, le=24 * 366, description="run `cityeye loop run` on Celery beat every N hours (null: off)"
    )
    base_dataset: str | None = Field(
        default=None, description="dataset version the first feedback dataset extends (default: production's)"
    )
    include_confirmed: bool = Field(
        default=False, description="also train on confirmed detections' boxes (frames may hold unlabelled objects)"
    )
    epochs: int = Field(default=10, ge=1, le=1000, description="fine-tuning epochs from the production weights")
    imgsz: int = Field(default=320, ge=32, le=4096)
    batch: int = Field(default=16, ge=1, le=1024)
    reload_poll_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often workers re-read the production pointer (embedded mode)"
    )
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)


class Settings(BaseSettings):
    """cityeye configuration. Precedence: init args > env vars > YAML file > defaults."""

    model_config = SettingsConfigDict(env_prefix="CITYEYE_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default=Path("cityeye-data"), description="database, evidence, models, datasets")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/cityeye.db"
    )
    redis_url: str | None = Field(default=None, description="set for scale-out (Celery, stream leases)")
    taxonomy: Path | None = Field(default=None, description="taxonomy YAML; default: the one shipped in models/")
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    persistence: PersistenceSettings = Field(default_factory=PersistenceSettings)
    cases: CaseSettings = Field(default_factory=CaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    streams: StreamSettings = Field(default_factory=StreamSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'cityeye.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def feedback_dir(self) -> Path:
        return self.data_dir / "feedback"

    @property
    def ultralytics_dir(self) -> Path:
        return self.data_dir / "ultralytics"


class ConfigError(ValueError):
    """A configuration file or value is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file ({exc.strerror or exc})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not a UTF-8 text file (byte {exc.start})"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({str(exc).splitlines()[0]})"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys, got {type(data).__name__}"])
    return data


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_path.get() or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
        return _read_yaml(path) if path else {}


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


def format_errors(exc: ValidationError, model: type[BaseModel] = Settings) -> list[str]:
    """One line per error: `key.path: message`, with the nearest valid key for unknown ones."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1, cutoff=0.5)
            msg = "unknown key" + (f" (did you mean '{near[0]}'?)" if near else "")
        lines.append(f"{path}: {msg}")
    return lines


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build `Settings` from keyword overrides > env vars > YAML file (`config_file` or $CITYEYE_CONFIG).

    Raises `ConfigError` with one `key.path: message` line per problem.
    """
    token = _config_path.set(Path(config_file) if config_file else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from exc
    finally:
        _config_path.reset(token)

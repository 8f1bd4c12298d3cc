"""The service's settings, assembled from the sections each package owns: env vars (`CITYEYE_*`, nested with
`__`) and an optional YAML file.

Sections live with the code they configure (`inference/settings.py`, `cases/settings.py`, `training/settings.py`,
`api/settings.py`); this module only puts them together, reads the sources and reports errors. Every model
forbids unknown keys, so a typo in a config file is an error that names the key, not a silently ignored setting.
`cityeye validate-config FILE` prints those errors with their key paths.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from api.settings import ApiSettings, ConsoleSettings, Open311Settings, OpsSettings
from cases.settings import (
    AuthSettings,
    CaseSettings,
    LifecycleSettings,
    PushSettings,
    ScoringSettings,
    WebhookSettings,
)
from inference.settings import (
    DetectorSettings,
    PersistenceSettings,
    SamplingSettings,
    StreamSettings,
    SurveySettings,
)
from models.config import ConfigError
from models.config import format_errors as _format_errors
from models.datadir import DataDir
from models.urls import WEBHOOK_SCHEMES, SecuritySettings, UrlRefused, check_outbound
from training.settings import LoopSettings

__all__ = [
    "ApiSettings",
    "AuthSettings",
    "CaseSettings",
    "ConfigError",
    "ConsoleSettings",
    "DetectorSettings",
    "LifecycleSettings",
    "LoopSettings",
    "Open311Settings",
    "OpsSettings",
    "PersistenceSettings",
    "PushSettings",
    "SamplingSettings",
    "ScoringSettings",
    "Settings",
    "StreamSettings",
    "SurveySettings",
    "WebhookSettings",
    "format_errors",
    "load_settings",
]

CONFIG_ENV = "CITYEYE_CONFIG"
_config_path: ContextVar[Path | None] = ContextVar("cityeye_config_path", default=None)


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
    open311: Open311Settings = Field(default_factory=Open311Settings)
    streams: StreamSettings = Field(default_factory=StreamSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @model_validator(mode="after")
    def _outbound_urls(self) -> Settings:
        """Webhook URLs follow the outbound-URL policy (`models/urls.py`, `security.allow_hosts`)."""
        for i, hook in enumerate(self.push.webhooks):
            try:
                check_outbound(hook.url, WEBHOOK_SCHEMES, self.security.allow_hosts, f"push.webhooks.{i}.url")
            except UrlRefused as exc:
                raise ValueError(str(exc)) from None
        return self

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
    def paths(self) -> DataDir:
        """The data dir's layout (every path under `data_dir`)."""
        return DataDir(self.data_dir)

    @property
    def db_url(self) -> str:
        return self.database_url or self.paths.sqlite_url

    @property
    def evidence_dir(self) -> Path:
        return self.paths.evidence

    @property
    def models_dir(self) -> Path:
        return self.paths.models

    @property
    def datasets_dir(self) -> Path:
        return self.paths.datasets

    @property
    def feedback_dir(self) -> Path:
        return self.paths.feedback

    @property
    def ultralytics_dir(self) -> Path:
        return self.paths.ultralytics


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


def format_errors(exc: ValidationError, model: type[BaseModel] = Settings) -> list[str]:
    """One line per error: `key.path: message`, with the nearest valid key for unknown ones."""
    return _format_errors(exc, model)


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

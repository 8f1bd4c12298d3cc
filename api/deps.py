"""What the API needs from the process, and the routes' typed dependencies (`service: ServiceDep`).

The API builds no service itself: `api.main.create_app` receives the process's services, typed by `Services`
below (the shell's `cityeye.runtime.Runtime` is one), and the routes get them from `app.state.services` through
the `...Dep` aliases, as in the FastAPI template's `deps.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, Request

from api.settings import ApiSettings, ConsoleSettings, Open311Settings, OpsSettings
from cases.auth import ApiKeys
from cases.feedback import FeedbackStore
from cases.scoring.registry import ForecastStore
from cases.service import CaseService
from cases.settings import AuthSettings, LifecycleSettings
from cases.surveys import SurveyStore
from inference.settings import DetectorSettings, SurveySettings
from models.datadir import DataDir
from models.jobs import JobQueue
from models.registry import Registry
from models.taxonomy import Taxonomy
from models.urls import SecuritySettings
from training.settings import LoopSettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class ApiConfig(Protocol):
    """The settings sections the API reads (the service's `Settings` has them all)."""

    @property
    def api(self) -> ApiSettings: ...
    @property
    def ops(self) -> OpsSettings: ...
    @property
    def console(self) -> ConsoleSettings: ...
    @property
    def open311(self) -> Open311Settings: ...  # citizens' report and lookup limits
    @property
    def auth(self) -> AuthSettings: ...
    @property
    def lifecycle(self) -> LifecycleSettings: ...  # the districts the console draws
    @property
    def loop(self) -> LoopSettings: ...  # the promotion margin
    @property
    def survey(self) -> SurveySettings: ...  # upload limits
    @property
    def detector(self) -> DetectorSettings: ...  # the model /ready checks
    @property
    def security(self) -> SecuritySettings: ...  # the outbound-URL policy for camera URLs
    @property
    def redis_url(self) -> str | None: ...


class Services(Protocol):
    """The process's services the API works with, built once by the shell (`cityeye.runtime.Runtime`)."""

    @property
    def settings(self) -> ApiConfig: ...
    @property
    def paths(self) -> DataDir: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def taxonomy(self) -> Taxonomy: ...
    @property
    def cases(self) -> CaseService: ...
    @property
    def api_keys(self) -> ApiKeys: ...
    @property
    def surveys(self) -> SurveyStore: ...
    @property
    def feedback(self) -> FeedbackStore: ...
    @property
    def detectors(self) -> Registry: ...
    @property
    def forecasts(self) -> ForecastStore: ...
    @property
    def jobs(self) -> JobQueue: ...


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(request: Request) -> ApiConfig:
    settings: ApiConfig = request.app.state.settings
    return settings


def get_paths(services: ServicesDep) -> DataDir:
    return services.paths


def get_case_service(services: ServicesDep) -> CaseService:
    return services.cases


def get_survey_store(services: ServicesDep) -> SurveyStore:
    return services.surveys


def get_feedback_store(services: ServicesDep) -> FeedbackStore:
    return services.feedback


def get_detectors(services: ServicesDep) -> Registry:
    return services.detectors


def get_forecasts(services: ServicesDep) -> ForecastStore:
    return services.forecasts


def get_jobs(services: ServicesDep) -> JobQueue:
    return services.jobs


SettingsDep = Annotated[ApiConfig, Depends(get_settings)]
PathsDep = Annotated[DataDir, Depends(get_paths)]
ServiceDep = Annotated[CaseService, Depends(get_case_service)]
SurveyStoreDep = Annotated[SurveyStore, Depends(get_survey_store)]
FeedbackStoreDep = Annotated[FeedbackStore, Depends(get_feedback_store)]
DetectorsDep = Annotated[Registry, Depends(get_detectors)]
ForecastsDep = Annotated[ForecastStore, Depends(get_forecasts)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]

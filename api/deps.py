"""Typed dependencies for the routes (`service: ServiceDep`), read from `app.state` set by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cases.service import CaseService
from cases.surveys import SurveyStore
from cityeye.config import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.case_service
    return service


def get_survey_store(request: Request) -> SurveyStore:
    store: SurveyStore = request.app.state.survey_store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[CaseService, Depends(get_case_service)]
SurveyStoreDep = Annotated[SurveyStore, Depends(get_survey_store)]

"""Typed dependencies for the routes (`service: ServiceDep`), read from `app.state` set by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cases.service import CaseService
from cityeye.config import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.case_service
    return service


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[CaseService, Depends(get_case_service)]

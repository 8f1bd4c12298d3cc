"""The API's own documentation: `/openapi.json`, `/docs` (Swagger UI) and `/redoc` (ReDoc).

The pages load Swagger UI and ReDoc from files vendored from npm (`api/console/vendor.sh`, SHA-256 checked, as
Leaflet is) and served here under the console's Content-Security-Policy: nothing comes from a CDN, so the pages
work on a network without internet and no third-party script runs on this origin. The pages themselves are static
shells; the document they show, `/openapi.json`, needs a key once any key exists (`ops.public: [docs]` opens it).
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from api.auth import KeysDep, unless_public
from api.deps import ApiConfig, SettingsDep
from api.routes.console import CONSOLE_DIR, content_security_policy

router = APIRouter(include_in_schema=False)
PAGES = CONSOLE_DIR / "apidocs"


def _page(name: str, settings: ApiConfig) -> FileResponse:
    return FileResponse(
        PAGES / name,
        media_type="text/html",
        headers={"Content-Security-Policy": content_security_policy(settings), "X-Content-Type-Options": "nosniff"},
    )


@router.get("/openapi.json")
def openapi(request: Request, keys: KeysDep, settings: SettingsDep) -> JSONResponse:
    unless_public("docs", request, keys, settings)
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger_ui(settings: SettingsDep) -> FileResponse:
    return _page("swagger.html", settings)


@router.get("/redoc")
def redoc(settings: SettingsDep) -> FileResponse:
    return _page("redoc.html", settings)


class DocsFiles(StaticFiles):
    """The pages' scripts and styles (`/docs/assets/apidocs/…`, `/docs/assets/vendor/…`), with the same CSP."""

    def __init__(self, settings: ApiConfig):
        super().__init__(directory=CONSOLE_DIR)
        self.csp = content_security_policy(settings)

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

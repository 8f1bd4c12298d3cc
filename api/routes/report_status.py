"""The reporter's public status page (掌上查): `GET /console/report/{token}` in Chinese (default) or English
(`?lang=en`), server-rendered, no script; and `GET /console/report/{token}/photo`, the handling photo once the case
is verified. The token (from the Open311 POST answer) is the only key: no API key, limited per client IP
(`open311.lookups_per_ip_per_min`), sent with the console's Content-Security-Policy and `Referrer-Policy:
no-referrer` (the token is in the URL). A report whose case was merged into another shows the case it joined.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ServiceDep, SettingsDep
from api.routes.console import content_security_policy
from api.routes.open311 import handled_photo, photo_response
from api.routes.open311_post import TOKEN_RE, citizen_limits, client_ip
from cases.citizen import CitizenReports
from cases.errors import CaseNotFound, CitizenReportNotFound
from cases.orm import CitizenReport
from cases.queries import CaseRecord
from cases.service import CaseService
from cases.status import CaseStatus

router = APIRouter(prefix="/console/report", tags=["console"])
Lang = Literal["zh", "en"]

STATUS_TEXT: dict[CaseStatus, tuple[str, str]] = {
    CaseStatus.DETECTED: ("已受理", "received"),
    CaseStatus.REGISTERED: ("已立案", "registered"),
    CaseStatus.DISPATCHED: ("已派遣", "dispatched"),
    CaseStatus.HANDLED: ("已处置，待核查", "handled, being checked"),
    CaseStatus.VERIFIED: ("已核查", "verified"),
    CaseStatus.CLOSED: ("已结案", "closed"),
    CaseStatus.DISMISSED: ("已作废", "dismissed"),
}
WORDS: dict[str, tuple[str, str]] = {
    "title": ("我的上报", "My report"),
    "status": ("状态", "Status"),
    "category": ("问题类型", "Problem"),
    "request": ("工单号", "Request"),
    "reported": ("上报时间", "Reported"),
    "updated": ("更新时间", "Updated"),
    "agency": ("处置部门", "Agency"),
    "seen": ("同一问题被发现次数", "Times this problem was reported or seen"),
    "pending": ("已收到，待城市管理人员定位后立案", "received; the city places it on the map before it is a case"),
    "photo": ("处置照片", "Photo of the fix"),
    "other": ("English", "中文"),
    "missing": ("没有这个上报（链接有误或已过期）", "No such report (wrong or expired link)"),
}
MAX_HOPS = 10  # merged into a case that was merged into ...


def _page(lang: Lang, body: str, status_code: int, request: Request, csp: str) -> HTMLResponse:
    i = 0 if lang == "zh" else 1
    other = "en" if lang == "zh" else "zh"
    html = (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{WORDS['title'][i]} · cityeye</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:16px;max-width:640px}"
        "h1{font-size:22px;margin:0 0 12px}dl{margin:0}dt{color:#555;font-size:14px;margin-top:10px}"
        "dd{margin:0;font-size:18px;overflow-wrap:anywhere}img{max-width:100%;height:auto;margin-top:8px}"
        "a.lang{display:inline-block;padding:10px 14px;border:1px solid #888;border-radius:6px;margin-top:16px}"
        ".status{font-weight:bold}</style></head><body>"
        f"<h1>{WORDS['title'][i]}</h1>{body}"
        f'<a class="lang" id="lang" href="{escape(str(request.url.include_query_params(lang=other)))}">'
        f"{WORDS['other'][i]}</a></body></html>"
    )
    headers = {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _follow(service: CaseService, case_id: int) -> CaseRecord:
    """The case a report's case is (merges followed: a duplicate shows the case it joined)."""
    record = service.get_case(case_id)
    for _ in range(MAX_HOPS):
        if record.case.duplicate_of is None:
            break
        record = service.get_case(record.case.duplicate_of)
    return record


def _lookup(service: CaseService, token: str) -> CitizenReport | None:
    if not TOKEN_RE.match(token):
        return None
    try:
        return CitizenReports(service.sessions).by_token(token)
    except CitizenReportNotFound:
        return None


@router.get("/{token}", response_class=HTMLResponse, name="report_status_page")
def report_status_page(
    token: Annotated[str, Path(max_length=64)],
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    lang: Annotated[Lang, Query(description="zh (default) or en")] = "zh",
) -> Response:
    """The status of one citizen report, for the reporter (no key: the token is the key)."""
    csp = content_security_policy(settings)
    i = 0 if lang == "zh" else 1
    if refused := citizen_limits(request).lookup(client_ip(request)):
        page = _page(lang, f"<p>{escape(refused)}</p>", 429, request, csp)
        page.headers["Retry-After"] = refused.rsplit(" ", 2)[-2]
        return page
    report = _lookup(service, token)
    if report is None:
        return _page(lang, f'<p id="missing">{WORDS["missing"][i]}</p>', 404, request, csp)
    category = service.taxonomy.categories.get(report.category)
    names = (category.name_zh, category.name_en) if category else (report.category, report.category)
    rows = [("category", escape(names[i])), ("reported", _when(report.created_at))]
    photo = ""
    if report.case_id is None:
        rows.insert(0, ("status", f'<span class="status" id="status">{WORDS["pending"][i]}</span>'))
    else:
        try:
            record = _follow(service, report.case_id)
        except CaseNotFound:
            return _page(lang, f'<p id="missing">{WORDS["missing"][i]}</p>', 404, request, csp)
        case = record.case
        status = CaseStatus(case.status)
        rows = [
            (
                "status",
                f'<span class="status" id="status" data-status="{status.value}">{STATUS_TEXT[status][i]}</span>',
            ),
            ("request", f'<span id="request">{case.id}</span>'),
            *rows,
            ("updated", _when(case.updated_at)),
            ("agency", escape(case.department or "—")),
            ("seen", f'<span id="seen">{case.observation_count}</span>'),
        ]
        if handled_photo(record):
            src = escape(str(request.url_for("report_status_photo", token=token)))
            photo = f'<h2>{WORDS["photo"][i]}</h2><img id="photo" src="{src}" alt="{WORDS["photo"][i]}">'
    items = "".join(f"<dt>{WORDS[key][i]}</dt><dd>{value}</dd>" for key, value in rows)
    return _page(lang, f"<dl>{items}</dl>{photo}", 200, request, csp)


@router.get("/{token}/photo", response_model=None, name="report_status_photo")
def report_status_photo(token: Annotated[str, Path(max_length=64)], request: Request, service: ServiceDep) -> Response:
    """The handling photo of the report's case once it is verified; 404 before."""
    if refused := citizen_limits(request).lookup(client_ip(request)):
        return Response(refused, status_code=429, headers={"Retry-After": refused.rsplit(" ", 2)[-2]})
    report = _lookup(service, token)
    if report is None or report.case_id is None:
        return Response("no such report", status_code=404, media_type="text/plain")
    record = _follow(service, report.case_id)
    n = handled_photo(record)
    if n is None:
        return Response("no verified handling photo yet", status_code=404, media_type="text/plain")
    return photo_response(service, record.case.id, n)

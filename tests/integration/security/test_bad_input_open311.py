"""The bad-input corpus against the citizens' input paths (Open311 POST, the token lookup, the status page): each
hostile request is a clear 4xx with a message and leaves every row and every file as it was."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.settings import Open311Settings
from cases.lifecycle import Role
from tests.integration.security.corpus import MEDIA
from tests.integration.security.test_bad_input_api import Api, _api, _settings

R = Role.REPORTER
POST = "/open311/v2/requests.json"
OK = {"service_code": "0102", "lat": "0.5", "long": "0.5"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = _settings(tmp_path / "data")
    settings.open311 = Open311Settings(reports_per_ip_per_min=10_000, lookups_per_ip_per_min=10_000)
    yield from _api(settings)


def form(**fields: str) -> dict[str, Any]:
    return {"data": {**OK, **fields}}


# (name, method, url, request kwargs, key, expected status, a fragment of the message)
REFUSED: list[tuple[str, str, str, dict[str, Any], Role | str | None, int, str]] = [
    ("no_app_key", "POST", POST, form(), None, 401, "needs an api_key"),
    ("unknown_app_key", "POST", POST, form(api_key="ce_00000000_nope"), None, 401, "unknown API key"),
    ("sql_app_key", "POST", POST, form(api_key="x' OR '1'='1"), None, 401, "malformed"),
    ("revoked_app_key", "POST", POST, form(), "revoked", 401, "was revoked"),
    ("data_team_may_not_file", "POST", POST, form(), Role.DATA_TEAM, 403, "may not file reports"),
    ("dispatcher_may_not_file", "POST", POST, form(), Role.DISPATCHER, 403, "may not file reports"),
    ("unknown_service_code", "POST", POST, form(service_code="9999"), R, 400, "unknown service_code"),
    ("sql_service_code", "POST", POST, form(service_code="0102' OR 1=1--"), R, 400, "unknown service_code"),
    ("no_service_code", "POST", POST, {"data": {"lat": "0.5", "long": "0.5"}}, R, 422, "service_code"),
    ("no_location", "POST", POST, {"data": {"service_code": "0102"}}, R, 400, "needs a location"),
    ("lat_without_long", "POST", POST, {"data": {"service_code": "0102", "lat": "0.5"}}, R, 400, "both lat and long"),
    ("lat_off_the_globe", "POST", POST, form(lat="91"), R, 422, "less than or equal to 90"),
    ("long_off_the_globe", "POST", POST, form(long="-181"), R, 422, "greater than or equal to -180"),
    ("lat_nan", "POST", POST, form(lat="NaN"), R, 422, "lat"),
    ("lat_inf", "POST", POST, form(lat="inf"), R, 422, "lat"),
    ("lat_text", "POST", POST, form(lat="north"), R, 422, "valid number"),
    ("description_4001", "POST", POST, form(description="x" * 4001), R, 422, "at most 4000"),
    ("nul_in_description", "POST", POST, form(description="bags\x00on kerb"), R, 400, "NUL"),
    ("nul_in_client_ref", "POST", POST, form(client_ref="r\x00"), R, 400, "NUL"),
    ("nul_in_address", "POST", POST, form(address_string="a\x00b"), R, 400, "NUL"),
    ("media_url_javascript", "POST", POST, form(media_url="javascript:alert(1)"), R, 400, "http(s) URL"),
    ("media_url_file", "POST", POST, form(media_url="file:///etc/passwd"), R, 400, "http(s) URL"),
    ("media_url_credentials", "POST", POST, form(media_url="http://a:b@127.0.0.1/x.jpg"), R, 400, "credentials"),
    ("media_url_no_host", "POST", POST, form(media_url="http:///x.jpg"), R, 400, "http(s) URL"),
    ("media_url_5k", "POST", POST, form(media_url="http://h/" + "a" * 5000), R, 422, "at most 2048"),
    ("email_header_injection", "POST", POST, form(email="a@b.org\r\nBcc: all@city.gov"), R, 400, "not an email"),
    ("email_html", "POST", POST, form(email="<script>@x.org"), R, 400, "not an email"),
    ("phone_letters", "POST", POST, form(phone="call me maybe"), R, 400, "phone may hold only"),
    ("reporter_reads_cases", "GET", "/cases", {}, R, 403, "may only use /open311/v2"),
    ("reporter_reads_a_case", "GET", "/cases/1", {}, R, 403, "may only use /open311/v2"),
    ("reporter_notes", "POST", "/cases/1/notes", {"json": {"note": "x"}}, R, 403, "may only use /open311/v2"),
    ("reporter_files_inspector_report", "POST", "/reports", {"data": {"category": "garbage", "lat": "0.5",
     "lon": "0.5"}}, R, 403, "may only use /open311/v2"),
    ("reporter_evidence", "GET", "/cases/1/evidence/1", {}, R, 403, "may only use /open311/v2"),
    ("reporter_reads_metrics", "GET", "/metrics", {}, R, 403, "may only use /open311/v2"),  # "/me" is no prefix
    ("reporter_reads_ready", "GET", "/ready", {}, R, 403, "may only use /open311/v2"),
    ("handled_photo_before_verify", "GET", "/open311/v2/requests/1/handled.jpg", {}, R, 404, "no verified handling"),
    ("token_sql", "GET", "/open311/v2/tokens/x'%20OR%20'1'='1.json", {}, None, 404, "no service request"),
    ("token_traversal", "GET", "/open311/v2/tokens/..%2F..%2Fetc%2Fpasswd.json", {}, None, 404, "Not Found"),
    ("token_too_long", "GET", "/open311/v2/tokens/" + "a" * 65 + ".json", {}, None, 422, "at most 64"),
    ("token_bad_format", "GET", "/open311/v2/tokens/abc.yaml", {}, None, 422, "'json' or 'xml'"),
    ("status_page_unknown", "GET", "/console/report/" + "A" * 22, {}, None, 404, "没有这个上报"),
    ("status_page_traversal", "GET", "/console/report/..%2F..%2Fetc%2Fpasswd", {}, None, 404, "Not Found"),
    ("status_page_html", "GET", "/console/report/%3Cscript%3E", {}, None, 404, "没有这个上报"),
    ("status_page_bad_lang", "GET", "/console/report/" + "A" * 22 + "?lang=fr", {}, None, 422, "'zh' or 'en'"),
    ("status_photo_unknown", "GET", "/console/report/" + "A" * 22 + "/photo", {}, None, 404, "no such report"),
]  # fmt: skip


@pytest.mark.parametrize("name,method,url,kwargs,key,code,fragment", REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_citizen_requests_are_4xx_and_change_nothing(
    api: Api, name: str, method: str, url: str, kwargs: dict[str, Any], key: Role | str | None, code: int, fragment: str
) -> None:
    before = api.state()
    kwargs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kwargs.items()}
    if key is not None and method == "POST" and url == POST:
        kwargs["data"]["api_key"] = api.key[key]["X-API-Key"]  # the spec's place for it
        headers = {}
    else:
        headers = api.key[key] if key else {}
    r = api.client.request(method, url, headers=headers, **kwargs)
    assert r.status_code == code, r.text
    assert fragment in r.text, r.text
    assert api.state() == before


@pytest.mark.parametrize("bad", MEDIA, ids=[b.name for b in MEDIA])
def test_every_broken_photo_of_the_corpus_is_refused_and_changes_nothing(api: Api, bad: Any) -> None:
    before = api.state()
    files = {"media": (bad.filename, io.BytesIO(bad.make()), "image/jpeg")}
    data = {**OK, "api_key": api.key[R]["X-API-Key"]}
    r = api.client.post(POST, data=data, files=files)
    assert r.status_code in (413, 422), (bad.name, r.status_code, r.text)
    assert r.json()["detail"], r.text
    assert api.state() == before

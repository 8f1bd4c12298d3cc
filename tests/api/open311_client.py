"""A GeoReport v2 client written from the spec (wiki.open311.org/GeoReport_v2), for the tests.

PyPI has no maintained Open311 client that posts requests: `open311` (1.1) is from 2011, and `georeport` (0.3.1)
wraps only the reads. This one sends what the spec's POST example sends (form-encoded, `api_key` in the body) and
parses the answers in either format the spec defines, over any httpx-like client (the TestClient, or httpx
against a live server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from xml.etree import ElementTree as ET


class _Http(Protocol):
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def get(self, url: str, **kwargs: Any) -> Any: ...


def parse(fmt: str, response: Any) -> list[dict[str, str | None]]:
    """The spec's list of objects from a JSON or XML answer (XML: `<root><item><field>...`; empty element: None)."""
    if fmt == "json":
        return [{k: (None if v is None else str(v)) for k, v in row.items()} for row in response.json()]
    root = ET.fromstring(response.content)
    return [{child.tag: child.text for child in item} for item in root]


@dataclass
class GeoReportClient:
    http: _Http
    api_key: str
    root: str = "/open311/v2"
    fmt: str = "json"

    def services(self) -> list[dict[str, str | None]]:
        return parse(self.fmt, self.http.get(f"{self.root}/services.{self.fmt}", params={"api_key": self.api_key}))

    def post_request(self, files: dict[str, Any] | None = None, **fields: Any) -> tuple[int, list[dict[str, Any]]]:
        """POST requests.{fmt} with the spec's fields (and optional multipart files); (HTTP status, parsed rows)."""
        data = {"api_key": self.api_key, **{k: str(v) for k, v in fields.items() if v is not None}}
        r = self.http.post(f"{self.root}/requests.{self.fmt}", data=data, files=files)
        return r.status_code, parse(self.fmt, r)

    def get_request(self, request_id: str) -> tuple[int, list[dict[str, Any]]]:
        r = self.http.get(f"{self.root}/requests/{request_id}.{self.fmt}", params={"api_key": self.api_key})
        return r.status_code, parse(self.fmt, r)

    def token(self, token: str) -> tuple[int, list[dict[str, Any]]]:
        r = self.http.get(f"{self.root}/tokens/{token}.{self.fmt}")
        return r.status_code, parse(self.fmt, r)

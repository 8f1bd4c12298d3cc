"""The survey report, written to `<data_dir>/surveys/<id>/report/`: `findings.geojson` (every finding as a
WGS84 point), `overview.jpg` (image footprints and findings on a plan in metres), `annotated/<file id>.jpg`
(each image with its detections drawn), and `index.html` (a summary table that links all of it)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from inference.evidence import COLOURS
from inference.geo import wgs84_to_enu
from models.taxonomy import Taxonomy

ANNOTATED_MAX_SIDE = 2048
OVERVIEW_SIDE = 1200


class ReportSurvey(Protocol):
    """What the report reads of a survey: an `inference.ports.SurveyRecord` (or any row with these attributes)."""

    @property
    def id(self) -> int: ...
    @property
    def area(self) -> str: ...
    @property
    def name(self) -> str: ...


class ReportFinding(Protocol):
    """What the report reads of a stored finding: an `inference.ports.FindingRecord` (or any row like it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def class_name(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def confidence(self) -> float: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def x1(self) -> float: ...
    @property
    def y1(self) -> float: ...
    @property
    def x2(self) -> float: ...
    @property
    def y2(self) -> float: ...
    @property
    def file_id(self) -> int | None: ...
    @property
    def case_id(self) -> int | None: ...
    @property
    def permit(self) -> str | None: ...
    @property
    def note(self) -> str: ...


@dataclass
class FileSummary:
    file_id: int
    name: str
    kind: str
    detections: int = 0
    findings: int = 0
    error: str | None = None
    note: str = ""
    annotated: str | None = None  # report-relative path
    footprint: list[tuple[float, float]] | None = None  # (lat, lon) corners
    camera: tuple[float, float] | None = None


def write_annotated(report_dir: Path, file_id: int, image: np.ndarray) -> str:
    """Save an annotated image (downscaled to ≤ 2048 px) as `annotated/<file_id>.jpg`; returns that path."""
    out = report_dir / "annotated"
    out.mkdir(parents=True, exist_ok=True)
    h, w = image.shape[:2]
    scale = min(1.0, ANNOTATED_MAX_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    rel = f"annotated/{int(file_id)}.jpg"
    cv2.imwrite(str(report_dir / rel), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return rel


def geojson(
    survey: ReportSurvey, findings: Sequence[ReportFinding], names: dict[int, str] | None = None
) -> dict[str, Any]:
    """The findings as a GeoJSON FeatureCollection of points (findings without a position are left out;
    `properties.unplaced` counts them)."""
    feats = []
    unplaced = 0
    for f in findings:
        if f.lat is None or f.lon is None:
            unplaced += 1
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(f.lon, 8), round(f.lat, 8)]},
                "properties": {
                    "id": f.id,
                    "kind": f.kind,
                    "class_name": f.class_name,
                    "category": f.category,
                    "confidence": round(f.confidence, 4),
                    "file": (names or {}).get(f.file_id or 0),
                    "bbox": [round(v, 1) for v in (f.x1, f.y1, f.x2, f.y2)],
                    "case_id": f.case_id,
                    "permit": f.permit,
                    "note": f.note,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "properties": {"survey_id": survey.id, "area": survey.area, "unplaced": unplaced},
        "features": feats,
    }


def overview(findings: Sequence[ReportFinding], files: Sequence[FileSummary]) -> np.ndarray:
    """A plan (north up, metres) with each image's ground footprint and every placed finding as a dot."""
    pts = [(f.lat, f.lon) for f in findings if f.lat is not None and f.lon is not None]
    for s in files:
        pts += [p for p in (s.footprint or []) if all(math.isfinite(v) for v in p)]
        if s.camera:
            pts.append(s.camera)
    img = np.full((OVERVIEW_SIDE, OVERVIEW_SIDE, 3), 245, np.uint8)
    if not pts:
        cv2.putText(img, "no positions", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (80, 80, 80), 2, cv2.LINE_AA)
        return img
    arr = np.array(pts, np.float64)
    lat0, lon0 = float(arr[:, 0].mean()), float(arr[:, 1].mean())
    e, n = wgs84_to_enu(lat0, lon0, arr[:, 0], arr[:, 1])
    span = max(float(np.ptp(e)), float(np.ptp(n)), 10.0) * 1.15
    ce, cn = (e.max() + e.min()) / 2, (n.max() + n.min()) / 2
    k = OVERVIEW_SIDE / span

    def px(lat: float, lon: float) -> tuple[int, int]:
        ee, nn = wgs84_to_enu(lat0, lon0, np.array([lat]), np.array([lon]))
        return int(OVERVIEW_SIDE / 2 + (ee[0] - ce) * k), int(OVERVIEW_SIDE / 2 - (nn[0] - cn) * k)

    for s in files:
        fp = [p for p in (s.footprint or []) if all(math.isfinite(v) for v in p)]
        if len(fp) >= 3:
            cv2.polylines(img, [np.array([px(*p) for p in fp], np.int32)], True, (170, 170, 170), 1, cv2.LINE_AA)
        if s.camera:
            cv2.drawMarker(img, px(*s.camera), (120, 120, 120), cv2.MARKER_TRIANGLE_UP, 10)
    for f in findings:
        if f.lat is None or f.lon is None:
            continue
        colour = COLOURS.get(f.category, COLOURS[None])
        cv2.circle(img, px(f.lat, f.lon), 7 if f.kind == "change" else 5, colour, -1, cv2.LINE_AA)
        if f.permit:
            cv2.circle(img, px(f.lat, f.lon), 10, (0, 160, 0), 2, cv2.LINE_AA)
    bar = 10 ** math.floor(math.log10(span / 4))
    cv2.line(img, (30, OVERVIEW_SIDE - 30), (30 + int(bar * k), OVERVIEW_SIDE - 30), (0, 0, 0), 3)
    cv2.putText(img, f"{bar:g} m", (30, OVERVIEW_SIDE - 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "N ^", (OVERVIEW_SIDE - 70, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    return img


def write_report(
    report_dir: Path,
    survey: ReportSurvey,
    findings: Sequence[ReportFinding],
    files: Sequence[FileSummary],
    taxonomy: Taxonomy,
) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    names = {s.file_id: s.name for s in files}
    (report_dir / "findings.geojson").write_text(json.dumps(geojson(survey, findings, names), ensure_ascii=False))
    cv2.imwrite(str(report_dir / "overview.jpg"), overview(findings, files), [cv2.IMWRITE_JPEG_QUALITY, 88])
    esc = html.escape
    by_cat: dict[str, int] = {}
    for f in findings:
        key = f"{f.kind}: {f.category or f.class_name}"
        by_cat[key] = by_cat.get(key, 0) + 1
    cases = sorted({f.case_id for f in findings if f.case_id})
    rows = "".join(
        f"<tr><td>{esc(s.name)}</td><td>{esc(s.kind)}</td><td>{s.detections}</td><td>{s.findings}</td>"
        f"<td>{esc(s.error or s.note or 'ok')}</td>"
        f"<td>{f'<a href={chr(34)}{esc(s.annotated)}{chr(34)}>image</a>' if s.annotated else ''}</td></tr>"
        for s in files
    )
    frows = "".join(
        f"<tr><td>{f.id}</td><td>{esc(f.kind)}</td><td>{esc(_label(taxonomy, f.category, f.class_name))}</td>"
        f"<td>{f.confidence:.2f}</td><td>{'' if f.lat is None else f'{f.lat:.6f}, {f.lon:.6f}'}</td>"
        f"<td>{f.case_id or ''}</td><td>{esc(f.permit or '')}</td><td>{esc(f.note)}</td></tr>"
        for f in findings
    )
    summary = "".join(f"<li>{esc(k)}: {v}</li>" for k, v in sorted(by_cat.items()))
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Survey {survey.id}: {esc(survey.area)}</title>
<style>{STYLE}</style>
</head><body>
<h1>Survey {survey.id}: {esc(survey.area)} {esc(survey.name)}</h1>
<p>{len(files)} files, {sum(1 for s in files if s.error)} with errors; {len(findings)} findings; cases: {len(cases)}.
<a href="findings.geojson">findings.geojson</a></p>
<ul>{summary}</ul>
<img src="overview.jpg" alt="overview" style="max-width:800px">
<h2>Files</h2><table>{_head(FILE_COLUMNS)}{rows}</table>
<h2>Findings</h2><table>{_head(FINDING_COLUMNS)}{frows}</table>
</body></html>"""
    (report_dir / "index.html").write_text(page, encoding="utf-8")
    return report_dir


STYLE = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px}"
FILE_COLUMNS = ("file", "type", "detections", "findings", "status", "annotated")
FINDING_COLUMNS = ("id", "kind", "what", "conf", "lat, lon", "case", "permit", "note")


def _head(columns: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"


def _label(taxonomy: Taxonomy, category: str | None, class_name: str) -> str:
    cat = taxonomy.categories.get(category) if category else None
    return f"{cat.name_en} ({cat.name_zh})" if cat else class_name

"""The change-detection step: this survey's images against the area's previous survey.

Pairs of overlapping images (new survey × previous one) are found from metadata alone and only the pairs are
decoded: orthos pair by footprint, photos by camera distance (at most one flight height). Each pair is
registered (GeoTIFF geo-references or image features), differenced and the new structures tested
(`inference.survey.change`); a new structure inside a permit of the register is a permitted finding, any other
is an event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from inference.detections import Detections
from inference.errors import GeoError
from inference.event import Event
from inference.files import MediaError
from inference.frame import Frame
from inference.geo import point_in_polygon
from inference.ports import FindingRow, PermitRecord, SurveyFileRecord
from inference.survey import change, media
from inference.survey.context import IMAGE_KINDS, SurveyContext
from inference.survey.findings import CONSTRUCTION, Findings, context_snapshot, distance_m, to_geo

log = logging.getLogger(__name__)
MAX_PAIR_DISTANCE = 1.0  # photos pair for change detection when their cameras are within 1 × height apart
MODEL_VERSION = "change-detection"


def find_changes(
    ctx: SurveyContext,
    files: Sequence[SurveyFileRecord],
    placed: set[int],
    previous_files: Sequence[SurveyFileRecord],
    permits: Sequence[PermitRecord],
    findings: Findings,
) -> None:
    """Compare the placed images of `files` with the images of the previous survey that overlap them."""
    prev = [(p, ctx.placement(p)) for p in previous_files]
    prev_placed = [(p, pl) for p, pl in prev if pl is not None and p.kind in IMAGE_KINDS and p.status == "done"]
    for f in files:
        here = ctx.placement(f) if f.id in placed else None
        if here is None:
            continue
        partners = [p for p, pl in prev_placed if pairs(here, pl)]
        if not partners:
            continue
        try:
            cur = ctx.load(f)
        except (MediaError, GeoError) as exc:
            log.warning("change detection %s: %s", f.name, exc)
            continue
        for p in partners:
            try:
                compare_pair(ctx, f, cur, p, permits, findings)
            except (MediaError, GeoError) as exc:
                log.warning("change detection %s vs %s: %s", f.name, p.name, exc)


def compare_pair(
    ctx: SurveyContext,
    f: SurveyFileRecord,
    cur: media.Located,
    p: SurveyFileRecord,
    permits: Sequence[PermitRecord],
    findings: Findings,
) -> None:
    """The new structures of image `f` (decoded: `cur`) since the previous survey's image `p`."""
    prev = ctx.load(p)
    if cur.raster is not None and prev.raster is not None:
        warped, valid = change.warp_geo(prev.image, prev.raster, cur.image, cur.raster)
    elif cur.pose is not None and prev.pose is not None:
        pair = change.warp_features(prev.image, cur.image)
        if pair is None:
            return
        warped, valid = pair
    else:
        return
    if valid.mean() < 0.05:
        return  # they barely overlap
    candidates = change.detect_changes(warped, cur.image, valid, cur.gsd_m(), ctx.cfg)
    if not candidates:
        return
    positions = cur.locate(np.array([c.bbox for c in candidates]))
    taken = ctx.taken_at(cur, f)
    result = findings.result
    for c, pos in zip(candidates, positions, strict=True):
        geo = to_geo(pos)
        if geo is None:
            continue
        permit = next((pm.name for pm in permits if point_in_polygon(geo.lon, geo.lat, pm.ring)), None)
        row = FindingRow(
            kind="change",
            class_name="construction",
            category=CONSTRUCTION,
            confidence=float(min(1.0, c.rectangularity)),
            lat=geo.lat,
            lon=geo.lon,
            bbox=c.bbox,
            file_id=f.id,
            permit=permit,
            note=f"new structure since survey {p.survey_id}"
            + (f" ({c.area_m2:.0f} m²)" if c.area_m2 else "")
            + (f"; permitted: {permit}" if permit else ""),
        )
        result.changes += 1
        if permit is not None:
            result.permitted += 1
            findings.note(row)
            continue
        dets = Detections(
            np.array([c.bbox], np.float32), np.array([row.confidence]), np.array([0]), names={0: "construction"}
        )
        frame = Frame(image=cur.image, source_id=ctx.source_id(f), timestamp=taken, uri=f.name)
        event = Event.from_detection(
            frame,
            dets,
            0,
            category=CONSTRUCTION,
            model_version=MODEL_VERSION,
            snapshot=context_snapshot(cur.image, dets, [CONSTRUCTION], 0),
            confidence=row.confidence,
            geo=geo,
            uri=ctx.uri(f),
        )
        findings.report(event, row)


def pairs(a: media.Placement, b: media.Placement) -> bool:
    """Whether two images overlap enough to compare: orthos by footprint, photos by camera distance."""
    if a.raster is not None and b.raster is not None:
        return a.overlaps(b)
    if a.pose is not None and b.pose is not None:
        return distance_m(a.pose.lat, a.pose.lon, b.pose.lat, b.pose.lon) <= MAX_PAIR_DISTANCE * a.pose.height_m
    return False

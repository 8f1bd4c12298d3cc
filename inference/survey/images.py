"""One survey image: sliced detection, each detection placed on the ground (WGS84), findings and events.

A structure alone is no case (change detection decides: new and unpermitted); every other detection of a case
category is an event with the part of the image around it as evidence.
"""

from __future__ import annotations

from dataclasses import replace

from inference.event import Event
from inference.evidence import annotate
from inference.frame import Frame
from inference.pipeline import FrameSampler
from inference.ports import FindingRow, SurveyFileRecord
from inference.survey.context import SurveyContext
from inference.survey.findings import CONSTRUCTION, Findings, context_snapshot, to_geo
from inference.survey.report import FileSummary, write_annotated
from inference.tiling import TiledDetector
from models.taxonomy import Taxonomy


class ImageAnalyser:
    """Detects, places and reports the findings of one image at a time (`detector` None: no detection)."""

    def __init__(
        self,
        detector: TiledDetector | None,
        model_version: str,
        taxonomy: Taxonomy,
        sampler: FrameSampler | None = None,
    ):
        self.detector = detector
        self.model_version = model_version
        self.taxonomy = taxonomy
        self.sampler = sampler  # active learning: offered every analysed image

    def analyse(
        self, ctx: SurveyContext, f: SurveyFileRecord, findings: Findings, summary: FileSummary, placed: set[int]
    ) -> None:
        """Analyse the image `f` into `findings` and `summary`; its id goes into `placed` as soon as it is known
        to be placed (pose or GeoTIFF): such images take part in change detection."""
        located = ctx.load(f)
        if located.pose is not None or located.raster is not None:
            placed.add(f.id)
        summary.note = located.geo_note
        fp = located.footprint()
        summary.footprint = None if fp is None else [(float(a), float(b)) for a, b in fp]
        if located.pose is not None:
            summary.camera = (located.pose.lat, located.pose.lon)
        taken = ctx.taken_at(located, f)
        frame = Frame(image=located.image, source_id=ctx.source_id(f), timestamp=taken, uri=f.name)
        if self.detector is None:
            summary.annotated = write_annotated(ctx.report_dir, f.id, located.image)
            return
        dets = self.detector.predict([frame])[0]
        if self.sampler is not None:
            self.sampler.offer(frame, dets, self.model_version)
        summary.detections = len(dets)
        cats = [self.taxonomy.category_of(str(n)) for n in dets.class_name]
        positions = located.locate(dets.xyxy)
        keep = [i for i, c in enumerate(cats) if c is not None]
        for i in keep:
            cat = cats[i]
            geo = to_geo(positions[i])
            box = tuple(float(v) for v in dets.xyxy[i])
            row = FindingRow(
                kind="detection",
                class_name=str(dets.class_name[i]),
                category=cat,
                confidence=float(dets.confidence[i]),
                lat=geo.lat if geo else None,
                lon=geo.lon if geo else None,
                bbox=(box[0], box[1], box[2], box[3]),
                file_id=f.id,
            )
            if cat == CONSTRUCTION:  # a structure alone is no case: change detection decides (new + unpermitted)
                findings.note(replace(row, note="structure; cases come from change detection"))
                continue
            event = Event.from_detection(
                frame,
                dets,
                i,
                category=str(cat),
                model_version=self.model_version,
                snapshot=context_snapshot(located.image, dets, cats, i),
                geo=geo,
                uri=ctx.uri(f),
            )
            findings.report(event, row)
        summary.findings = len(keep)
        summary.annotated = write_annotated(ctx.report_dir, f.id, annotate(located.image, dets, cats))

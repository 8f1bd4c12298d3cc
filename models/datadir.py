"""`DataDir`: the one owner of the data directory's layout.

Every path under the data dir is a property here, so the layout is written down once and code never joins
`data_dir / "x"` itself::

    data = DataDir(settings.data_dir)
    data.evidence / "12" / "frame.jpg"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """The layout of `<data_dir>`: database, evidence, models, datasets, surveys, scorers, ... (nothing is created)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def db_file(self) -> Path:
        """The embedded SQLite database."""
        return self.root / "cityeye.db"

    @property
    def sqlite_url(self) -> str:
        """SQLAlchemy URL of the embedded database (used when no `database_url` is configured)."""
        return f"sqlite:///{self.db_file.resolve()}"

    @property
    def evidence(self) -> Path:
        """Case evidence images, one folder per case."""
        return self.root / "evidence"

    @property
    def models(self) -> Path:
        """The detector registry (versions, production pointer)."""
        return self.root / "models"

    @property
    def datasets(self) -> Path:
        """Dataset versions."""
        return self.root / "datasets"

    @property
    def feedback(self) -> Path:
        """Raw frames kept for the data team (verdicts, corrections, active-learning samples)."""
        return self.root / "feedback"

    @property
    def ultralytics(self) -> Path:
        """Ultralytics' settings and fonts (kept inside the data dir: nothing outside is touched)."""
        return self.root / "ultralytics"

    @property
    def scorers(self) -> Path:
        """The scorer registry."""
        return self.root / "scorers"

    @property
    def forecasts(self) -> Path:
        """The forecast registry."""
        return self.root / "forecasts"

    @property
    def surveys(self) -> Path:
        """Uploaded drone-survey files and their reports."""
        return self.root / "surveys"

    def survey(self, survey_id: int) -> Path:
        """One survey's folder: its uploaded `files/` and its `report/`."""
        return self.surveys / str(int(survey_id))

    def survey_report(self, survey_id: int) -> Path:
        """One survey's report: `index.html`, `findings.geojson`, `overview.jpg`, `annotated/<file id>.jpg`."""
        return self.survey(survey_id) / "report"

    @property
    def spool(self) -> Path:
        """Durable event spools of stream workers (`streams.ingest: spool`)."""
        return self.root / "spool"

    @property
    def cameras(self) -> Path:
        """Per-camera snapshots written by stream workers."""
        return self.root / "cameras"

    @property
    def runs(self) -> Path:
        """Training runs (checkpoints, resolved config, metrics)."""
        return self.root / "runs"

    @property
    def reports(self) -> Path:
        """Comparison and evaluation reports."""
        return self.root / "reports"

    @property
    def metrics(self) -> Path:
        """Prometheus multiprocess files of workers."""
        return self.root / "metrics"

    @property
    def demo_media(self) -> Path:
        """Synthetic media made by `cityeye demo`."""
        return self.root / "demo-media"

    @property
    def beat_schedule(self) -> Path:
        """Celery beat's schedule file."""
        return self.root / "celerybeat-schedule"

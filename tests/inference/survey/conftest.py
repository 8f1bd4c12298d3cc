from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cases.db import make_engine, migrate, session_factory
from cases.service import CaseService
from cases.surveys import SqlSurveyRepository, SurveyStore
from cases.uploads import store_path
from cityeye.config import Settings
from inference.survey.processor import SurveyProcessor
from models.taxonomy import Taxonomy, load_taxonomy


@dataclass
class Env:
    settings: Settings
    store: SurveyStore
    service: CaseService
    taxonomy: Taxonomy

    def add(self, survey_id: int, *paths: Path) -> None:
        root = self.settings.data_dir.resolve()
        for p in paths:
            for s in store_path(self.settings.data_dir, survey_id, p, self.settings.survey):
                self.store.add_file(survey_id, s.name, s.sha256, s.size, s.kind, str(s.path.relative_to(root)))

    def processor(self, detector: Any = None, **kwargs: Any) -> SurveyProcessor:
        """The survey processor on this store and case service, with the settings' sections."""
        return SurveyProcessor(
            SqlSurveyRepository(self.service.sessions),
            self.service,
            detector,
            self.taxonomy,
            survey=self.settings.survey,
            persistence=self.settings.persistence,
            batch=self.settings.detector.batch,
            paths=self.settings.paths,
            **kwargs,
        )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings(data_dir=tmp_path / "data")
    migrate(settings)
    engine = make_engine(settings)
    sessions = session_factory(engine)
    taxonomy = load_taxonomy()
    yield Env(settings, SurveyStore(sessions), CaseService(sessions, settings, taxonomy), taxonomy)
    engine.dispose()

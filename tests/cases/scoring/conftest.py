"""Shared, session-wide: one simulated city and the scorer fitted on it (one thread: the suite shares the CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cases.scoring.features import FeatureBuilder, FeatureMatrix, Verdict, VerdictHistory
from cases.scoring.model import Selection, fit_scorer
from cases.scoring.simulate import CityConfig, SimCity, simulate_city


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@dataclass(frozen=True)
class Fitted:
    city: SimCity
    history: VerdictHistory
    fm: FeatureMatrix
    y: np.ndarray
    selection: Selection


@pytest.fixture(scope="session")
def city() -> SimCity:
    return simulate_city(CityConfig(seed=5, days=75))


@pytest.fixture(scope="session")
def fitted(city: SimCity) -> Fitted:
    history = VerdictHistory([c.record for c in city.cases])
    fm = FeatureBuilder(city.categories).transform([c.snapshot for c in city.cases], history)
    y = np.array([c.verdict == Verdict.CONFIRMED for c in city.cases])
    return Fitted(city, history, fm, y, fit_scorer(fm, y, city.categories))

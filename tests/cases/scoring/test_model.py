from __future__ import annotations

import hashlib
import json
import math

import joblib
import numpy as np
import pytest

from cases.scoring.errors import FeatureMismatch, ScorerFileError
from cases.scoring.features import FEATURE_NAMES, FeatureConfig, FeatureMatrix
from cases.scoring.metrics import ProbabilityMetrics, expected_calibration_error
from cases.scoring.model import SelectionConfig, fit_scorer, learned_is_better
from cases.scoring.prior import DEFAULT_A, ConfidencePrior
from cases.scoring.registry import ScorerStore


def _m(auc: float, brier: float) -> ProbabilityMetrics:
    return ProbabilityMetrics(n=100, auc=auc, brier=brier, log_loss=0.5, ece=0.02)


def test_switch_rule_needs_better_brier_and_no_worse_auc():
    prior = _m(0.80, 0.18)
    assert learned_is_better(prior, _m(0.85, 0.15))
    assert not learned_is_better(prior, _m(0.79, 0.15))  # better calibrated, ranks worse
    assert not learned_is_better(prior, _m(0.90, 0.18))  # equal Brier is not better
    assert not learned_is_better(prior, _m(0.90, 0.17), margin=0.02)


def test_cold_start_prior_before_enough_verdicts(fitted):
    fm, y = fitted.fm[np.arange(200)], fitted.y[:200]
    sel = fit_scorer(fm, y, fitted.city.categories)
    assert sel.scorer.kind == "prior" and sel.learned is None
    assert "not tried yet" in sel.reason
    # no verdicts at all: the documented defaults, P = confidence for a case seen for one hour
    prior = ConfidencePrior()
    X = np.zeros((1, len(FEATURE_NAMES)))
    X[0, FEATURE_NAMES.index("max_confidence")] = 0.7
    X[0, FEATURE_NAMES.index("persistence_h")] = 1.0
    assert prior.predict_proba(X)[0, 1] == pytest.approx(0.7)
    assert prior.intercept_ == DEFAULT_A


def test_switches_to_learned_when_it_beats_the_prior(fitted):
    sel = fitted.selection
    assert sel.scorer.kind == "learned", sel.reason
    assert sel.learned is not None and sel.prior is not None
    assert sel.learned.brier < sel.prior.brier and sel.learned.auc >= sel.prior.auc


def test_stays_with_prior_when_only_confidence_carries_signal():
    """Labels drawn from confidence alone: nothing for the learned model to add, so the prior stays."""
    rng = np.random.default_rng(0)
    n = 3000
    X = rng.normal(size=(n, len(FEATURE_NAMES))) * 3 + 5
    for j, name in enumerate(FEATURE_NAMES):
        if name in ("category", "zone", "source_kind"):
            X[:, j] = rng.integers(0, 3, n)
    conf = rng.uniform(0.25, 0.99, n)
    X[:, FEATURE_NAMES.index("max_confidence")] = conf
    X[:, FEATURE_NAMES.index("persistence_h")] = 1.0
    y = rng.random(n) < conf
    fm = FeatureMatrix(X, np.arange(n), np.arange(n, dtype=float))
    sel = fit_scorer(fm, y, ("a", "b", "c"), SelectionConfig(margin=0.0))
    assert sel.scorer.kind == "prior", sel.reason
    assert sel.learned is not None and not learned_is_better(sel.prior, sel.learned)


def test_scores_are_deterministic_and_survive_save_load(tmp_path, fitted):
    scorer = fitted.selection.scorer
    p1, p2 = scorer.predict(fitted.fm), scorer.predict(fitted.fm)
    np.testing.assert_array_equal(p1, p2)
    store = ScorerStore(tmp_path / "scorers")
    card = store.save(fitted.selection, FeatureConfig())
    loaded, card2 = store.load(card.version, fitted.city.categories)
    np.testing.assert_array_equal(loaded.predict(fitted.fm), p1)
    assert card2.kind == "learned" and card2.features == list(FEATURE_NAMES)
    assert store.latest() == card.version and store.feature_config(card2) == FeatureConfig()
    assert card2.metrics["holdout/learned/auc"] > card2.metrics["holdout/prior/auc"]


def test_corrupt_or_mismatched_scorer_files_fail_loudly(tmp_path, fitted):
    store = ScorerStore(tmp_path / "scorers")
    card = store.save(fitted.selection, FeatureConfig(), version="v1")
    folder = store.root / "v1"
    pkl, card_path = folder / "scorer.joblib", folder / "card.json"
    good_card = card_path.read_text()

    # the code's categories differ from the scorer's
    with pytest.raises(FeatureMismatch, match="categories"):
        store.load("v1", ("street_stall", "garbage"))
    # a card from code with another feature list
    data = json.loads(good_card)
    data["features"] = [*FEATURE_NAMES[:-1], "weather"]
    card_path.write_text(json.dumps(data))
    with pytest.raises(FeatureMismatch, match="weather"):
        store.load("v1")
    # a card that is not JSON
    card_path.write_text("{not json")
    with pytest.raises(ScorerFileError, match="unreadable scorer card"):
        store.load("v1")
    card_path.write_text(good_card)
    # a truncated pickle
    blob = pkl.read_bytes()
    pkl.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ScorerFileError, match="corrupt"):
        store.load("v1")
    # a pickle that matches its checksum but is garbage / not a Scorer
    for payload in (b"\x80\x05garbage", None):
        if payload is None:
            joblib.dump({"not": "a scorer"}, pkl)
        else:
            pkl.write_bytes(payload)
        data = json.loads(good_card)
        data["sha256"] = hashlib.sha256(pkl.read_bytes()).hexdigest()
        card_path.write_text(json.dumps(data))
        with pytest.raises(ScorerFileError, match="cannot load|not a Scorer"):
            store.load("v1")
    with pytest.raises(ScorerFileError, match="no card.json"):
        store.load("v2")
    assert card.version == "v1"


def test_calibration_error():
    p = np.array([0.1] * 10 + [0.9] * 10)
    y = np.array([0] * 9 + [1] + [1] * 9 + [0])
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(4), np.full(4, 0.5)) == pytest.approx(0.5)
    assert math.isnan(ProbabilityMetrics.compute(np.ones(3), np.full(3, 0.5)).auc)

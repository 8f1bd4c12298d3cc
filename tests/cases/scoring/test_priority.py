from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cases.scoring.features import FEATURE_NAMES, FeatureConfig
from cases.scoring.priority import SlaState, attributions, describe, explain, prioritise, sla_urgency
from cases.status import CaseStatus
from models.taxonomy import load_taxonomy


def test_reasons_match_the_features(fitted):
    scorer = fitted.selection.scorer
    rows = fitted.fm.X[::97][:30]
    seen = set()
    for x in rows:
        reasons = explain(scorer, x, top=3)
        contrib = attributions(scorer, x)
        base = scorer.predict_rows(x[None, :])[0]
        for r in reasons:
            j = FEATURE_NAMES.index(r.feature)
            assert r.value == x[j] or (np.isnan(r.value) and np.isnan(x[j]))
            # the stated contribution is what setting the feature to its baseline really changes
            x0 = x.copy()
            x0[j] = scorer.baseline[j]
            assert r.contribution == pytest.approx(base - scorer.predict_rows(x0[None, :])[0])
            assert ("raises" in r.text) == (r.contribution > 0)
            seen.add(r.feature)
        # the reasons are the largest contributions, largest first
        mags = [abs(r.contribution) for r in reasons]
        assert mags == sorted(mags, reverse=True)
        if reasons:
            assert mags[0] == pytest.approx(np.abs(contrib).max())
    assert len(seen) >= 3


def test_reason_texts_use_the_case_values(fitted):
    scorer = fitted.selection.scorer
    x = fitted.fm.X[300].copy()
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    x[col["source_count"]], x[col["source_kind"]] = 3, 0
    x[col["persistence_h"]], x[col["confirmed_nearby"]] = 2.0, 5
    cfg = FeatureConfig()
    cats = scorer.categories
    assert describe("source_count", x, cats, cfg) == "seen by 3 cameras"
    assert describe("persistence_h", x, cats, cfg) == "present over 2.0 h"
    assert describe("confirmed_nearby", x, cats, cfg) == "5 confirmed cases within 50 m in 30 days"
    for name in FEATURE_NAMES:
        assert describe(name, x, cats, cfg)


def test_sla_urgency_scale():
    tax = load_taxonomy()
    sla = tax.categories["garbage"].sla_hours
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    state = SlaState(CaseStatus.REGISTERED, t0)  # step: dispatch
    limit = sla.hours("dispatch")
    assert sla_urgency(state, "garbage", tax, t0) == (1.0, limit)
    u, left = sla_urgency(state, "garbage", tax, t0 + timedelta(hours=limit / 2))
    assert u == pytest.approx(1.5) and left == pytest.approx(limit / 2)
    assert sla_urgency(state, "garbage", tax, t0 + timedelta(hours=limit))[0] == pytest.approx(2.0)
    assert sla_urgency(state, "garbage", tax, t0 + timedelta(hours=limit * 10))[0] == 3.0
    assert sla_urgency(SlaState(CaseStatus.CLOSED, t0), "garbage", tax, t0) == (0.0, None)


def test_priority_is_the_product_of_its_parts(fitted):
    tax = load_taxonomy()
    idx = np.arange(50, 60)
    fm = fitted.fm[idx]
    cases = [fitted.city.cases[i] for i in idx]
    now = max(c.snapshot.last_seen for c in cases)
    states = [SlaState(CaseStatus.DETECTED, c.snapshot.first_seen) for c in cases]
    scores = prioritise(fitted.selection.scorer, fm, states, tax, now)
    again = prioritise(fitted.selection.scorer, fm, states, tax, now)
    assert scores == again
    for s, c in zip(scores, cases, strict=True):
        assert s.case_id == c.snapshot.case_id
        assert s.severity == tax.categories[c.snapshot.category].severity
        assert s.priority == pytest.approx(s.p_confirmed * s.severity * s.urgency)
        assert 1.0 <= s.urgency <= 3.0

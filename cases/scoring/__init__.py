"""Predictive scoring: P(confirmed) per case, priority with reasons, and the hotspot forecast (issue 7).

features.py   CaseSnapshot + VerdictHistory → FeatureMatrix, from what is known at the scoring time only
prior.py      the cold-start prior (logistic on confidence and persistence)
model.py      the learned model (gradient boosting, isotonic calibration), `Scorer`, the prior → learned switch
priority.py   priority = P × severity × SLA urgency, and reasons in plain words
forecast.py   expected problems per grid cell and category for the next day / week, GeoJSON
registry.py   scorer and forecast versions on disk (`<data_dir>/scorers/`, `forecasts/`), loaded with checks
live.py       the promoted scorer on the case store (`LiveScorer`), training sets and occurrences from it
lifecycle.py  refit from the case store, promote, rescore the open cases (the jobs: `cityeye/jobs/scoring.py`)
simulate.py   a simulated city with a known generative process
evaluate.py   time-ordered evaluation (`cityeye scoring evaluate`)
"""

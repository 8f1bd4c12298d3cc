"""`cityeye scoring simulate | fit | evaluate | forecast | score | list | promote | rescore`: predictive scoring.

The history is a simulated city (a JSON Lines file written by `scoring simulate`, or simulated on the fly from
`--days` and `--seed`) or, with `--db`, the case store itself: its verdicts (fit) and confirmed cases (forecast).
`fit --db` is the embedded-mode twin of the periodic refit (the job `cityeye.scoring.refit`; the logic is
`cases.scoring.lifecycle`). The commands that touch the case store take its services from a `Runtime`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cases.scoring.registry import ScorerStore
    from cases.scoring.simulate import SimCase
    from cityeye.config import Settings
    from cityeye.runtime import Runtime


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Limit OpenMP/BLAS threads (scikit-learn's gradient boosting) to `n`; 0 = all cores."""
    if n <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(n):
        yield


def _categories(settings: Settings) -> tuple[str, ...]:
    from models.taxonomy import load_taxonomy

    return tuple(load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None).categories)


def _history(args: argparse.Namespace, settings: Settings) -> list[SimCase]:
    from cases.scoring.errors import ScoringError
    from cases.scoring.simulate import CityConfig, read_cases, simulate_city

    if args.history:
        if len(args.history) > 1:
            raise ScoringError("a simulated history is one JSON Lines file; city records need --format and --mapping")
        cases = read_cases(Path(args.history[0]))
    else:
        cases = list(simulate_city(CityConfig(seed=args.seed, days=args.days)).cases)
    if not cases:
        raise ScoringError("the history holds no cases")
    known = set(_categories(settings))
    unknown = sorted({c.snapshot.category for c in cases} - known)
    if unknown:
        raise ScoringError(f"history has categories {unknown} that the taxonomy does not know ({sorted(known)})")
    return cases


def _store(settings: Settings) -> ScorerStore:
    from cases.scoring.registry import scorer_store

    return scorer_store(settings.paths)


def _runtime(settings: Settings) -> Runtime:
    """The case store's services (engine, migrations, taxonomy, live scorer) for a command that needs them."""
    from cityeye.runtime import Runtime

    return Runtime.from_settings(settings, webhooks="off")


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from cases.scoring.simulate import CityConfig, simulate_city, write_cases

    city = simulate_city(CityConfig(seed=args.seed, days=args.days))
    n = write_cases(Path(args.out), city.cases)
    confirmed = sum(c.verdict == "confirmed" for c in city.cases)
    print(f"{n} cases over {args.days} days ({confirmed} confirmed, {n - confirmed} false positives) -> {args.out}")
    return 0


def _fit_city(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from cases.history.bootstrap import fit_from_history
    from cases.history.formats import HistoryRow, read_history
    from cases.history.mapping import load_mapping
    from cases.scoring.errors import ScoringError
    from cases.scoring.features import FeatureConfig

    if not args.history or not args.mapping:
        raise ScoringError("--format needs --history FILE [FILE ...] and --mapping")
    mapping = load_mapping(args.mapping)
    rows = [r for r in read_history(args.history, args.format, mapping) if isinstance(r, HistoryRow)]
    if not rows:
        raise ScoringError("the history holds no usable records")
    middle = sorted(r.opened_at for r in rows)[len(rows) // 2]
    offset = ZoneInfo(mapping.timezone).utcoffset(middle.replace(tzinfo=None))
    config = FeatureConfig(radius_m=args.radius_m, utc_offset_h=offset.total_seconds() / 3600 if offset else 0.0)
    with _threads(args.threads):
        selection = fit_from_history(rows, _categories(settings), config)
    card = _store(settings).save(selection, config, notes=f"fitted on city history {mapping.name}")
    print(f"scorer {card.version} ({card.kind}) saved as a candidate to {settings.paths.scorers / card.version}")
    print(selection.reason)
    print(f"make it production: cityeye scoring promote {card.version}")
    return 0


def cmd_fit(args: argparse.Namespace, settings: Settings) -> int:
    import numpy as np

    if args.format:
        return _fit_city(args, settings)
    if args.db:
        from cases.scoring.lifecycle import refit_store, rescore_open

        promote = settings.scoring.auto_promote and not args.no_promote
        with _runtime(settings) as rt, _threads(args.threads):
            report = refit_store(rt.sessions, rt.taxonomy, settings.scoring, rt.scorers, rt.forecasts, promote=promote)
            print("\n".join(report.lines()))
            if report.promoted:
                print(f"{rescore_open(rt.live_scorer)} open cases rescored")
        return 0

    from cases.scoring.features import FeatureBuilder, FeatureConfig, Verdict, VerdictHistory
    from cases.scoring.model import SelectionConfig, fit_scorer

    cases = _history(args, settings)
    config = FeatureConfig(radius_m=args.radius_m)
    fm = FeatureBuilder(_categories(settings), config).transform(
        [c.snapshot for c in cases], VerdictHistory([c.record for c in cases])
    )
    y = np.array([c.verdict == Verdict.CONFIRMED for c in cases])
    with _threads(args.threads):
        selection = fit_scorer(fm, y, _categories(settings), SelectionConfig(min_verdicts=args.min_verdicts))
    card = _store(settings).save(selection, config)
    print(f"scorer {card.version} ({card.kind}) saved to {settings.paths.scorers / card.version}")
    print(selection.reason)
    return 0


def _evaluate_city(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses
    from datetime import UTC, datetime

    from cases.history.evaluate import evaluate_history, format_history_report, reliability_plot
    from cases.history.features import HistoryFeatureConfig
    from cases.history.formats import HistoryRow, read_history
    from cases.history.mapping import load_mapping
    from cases.scoring.errors import ScoringError

    if not args.history or not args.mapping or not args.split_at:
        raise ScoringError("--format needs --history FILE [FILE ...], --mapping and --split-at")
    try:
        split_at = datetime.fromisoformat(args.split_at)
    except ValueError as exc:
        raise ScoringError(f"--split-at {args.split_at!r}: expected a date, e.g. 2011-10-01") from exc
    split_at = split_at if split_at.tzinfo else split_at.replace(tzinfo=UTC)
    mapping = load_mapping(args.mapping)
    rows = [r for r in read_history(args.history, args.format, mapping) if isinstance(r, HistoryRow)]
    config = HistoryFeatureConfig(radius_m=args.radius_m or 100.0)
    with _threads(args.threads):
        ev = evaluate_history(rows, _categories(settings), split_at, config)
    plot = Path(args.plot) if args.plot else settings.data_dir / "reports" / f"reliability-{mapping.name}.png"
    ev = dataclasses.replace(ev, plot=reliability_plot(ev, plot))
    print(format_history_report(ev))
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    if args.format:
        return _evaluate_city(args, settings)
    from cases.scoring.evaluate import EvaluationConfig, evaluate, format_report
    from cases.scoring.features import FeatureConfig

    cases = _history(args, settings)
    radius_m = args.radius_m or 50.0
    config = EvaluationConfig(top_k=args.top_k, cell_m=args.cell_m, features=FeatureConfig(radius_m=radius_m))
    with _threads(args.threads):
        report = evaluate(cases, _categories(settings), config)
    print(format_report(report))
    return 0


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    from cases.scoring.evaluate import occurrences
    from cases.scoring.forecast import fit_forecast
    from cases.scoring.registry import forecast_store

    if args.db:
        from cases.scoring.live import store_occurrences

        with _runtime(settings) as rt:
            occ, source = store_occurrences(rt.sessions), "case store"
    else:
        occ, source = occurrences(_history(args, settings)), "history"
    horizon = 1 if args.horizon == "day" else 7
    with _threads(args.threads):
        fitted = fit_forecast(occ, _categories(settings), horizon, args.cell_m, args.min_total)
    geo = fitted.geojson
    if args.save:
        card = forecast_store(settings.paths).save(
            fitted.forecaster, geo, horizon=args.horizon, history_days=fitted.history_days, source=source
        )
        print(f"forecast {card.version} saved ({card.period_start} .. {card.period_end}); GET /forecast serves it")
    text = json.dumps(geo, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        top = sorted(geo["features"], key=lambda f: -f["properties"]["total"])[:5]
        print(f"{len(geo['features'])} cells -> {args.out}; busiest:")
        for f in top:
            p = f["properties"]
            print(f"  cell {p['cell']:>4} ({p['ix']},{p['iy']})  expected {p['total']:.2f}  {p['expected']}")
    elif not args.save:
        print(text)
    return 0


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    from cases.scoring.features import FeatureBuilder, VerdictHistory
    from cases.scoring.priority import SlaState, prioritise
    from cases.status import CaseStatus
    from models.taxonomy import load_taxonomy

    cases = _history(args, settings)
    store = _store(settings)
    version = args.version or store.latest()
    if version is None:
        from cases.scoring.errors import ScorerFileError

        raise ScorerFileError(f"no scorer in {store.root}; run `cityeye scoring fit` first")
    scorer, card = store.load(version, _categories(settings))
    config = store.feature_config(card)
    now = max(c.snapshot.last_seen for c in cases)
    recent = [c for c in cases if c.snapshot.last_seen > now - timedelta(hours=args.hours)]
    fm = FeatureBuilder(scorer.categories, config).transform(
        [c.snapshot for c in recent], VerdictHistory([c.record for c in cases]), [now] * len(recent)
    )
    states = [SlaState(CaseStatus.DETECTED, c.snapshot.first_seen) for c in recent]
    taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
    scores = sorted(prioritise(scorer, fm, states, taxonomy, now, config), key=lambda s: -s.priority)
    print(f"scorer {card.version} ({card.kind}); {len(recent)} cases seen in the last {args.hours:g} h before {now}")
    for s in scores[: args.top]:
        print(
            f"case {s.case_id:>6}  priority {s.priority:5.2f} = P {s.p_confirmed:.2f} × severity {s.severity} "
            f"× urgency {s.urgency:.2f}"
        )
        for r in s.reasons:
            print(f"    - {r.text}")
    return 0


def _rescore_open(settings: Settings) -> int:
    from cases.scoring.lifecycle import rescore_open

    with _runtime(settings) as rt:
        return rescore_open(rt.live_scorer)


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    card = _store(settings).promote(args.version)
    print(f"scorer {card.version} ({card.kind}) promoted to production")
    if not args.no_rescore:
        print(f"{_rescore_open(settings)} open cases rescored")
    return 0


def cmd_rescore(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if store.production() is None:
        from cases.scoring.errors import ScorerFileError

        raise ScorerFileError(f"no production scorer in {store.root}; `cityeye scoring promote VERSION` first")
    print(f"{_rescore_open(settings)} open cases rescored")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    print(f"{'version':<32}{'kind':<9}{'stage':<11}{'verdicts':>9}  {'AUC':>6}  {'Brier':>7}  created")
    for c in store.versions():
        kind = "learned" if c.kind == "learned" else "prior"
        auc = c.metrics.get(f"holdout/{kind}/auc", float("nan"))
        brier = c.metrics.get(f"holdout/{kind}/brier", float("nan"))
        verdicts = int(c.metrics.get("n_verdicts", 0))
        print(
            f"{c.version:<32}{c.kind:<9}{store.stage(c.version):<11}{verdicts:>9}  {auc:>6.3f}  {brier:>7.4f}  "
            f"{c.created_at}"
        )
    return 0


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--history",
        nargs="+",
        metavar="FILE",
        help="JSON Lines from `scoring simulate` (default: simulate --days/--seed now); with --format: city records",
    )
    p.add_argument("--days", type=int, default=180, help="days to simulate when no --history (default 180)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed when no --history (default 1)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for model fitting (0 = all cores)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("scoring", help="P(confirmed), priority and hotspot forecast").add_subparsers(
        dest="scoring_cmd", required=True
    )
    sim = s.add_parser("simulate", help="write a simulated city's case history (JSON Lines)")
    sim.add_argument("--out", required=True)
    sim.add_argument("--days", type=int, default=180)
    sim.add_argument("--seed", type=int, default=1)
    sim.set_defaults(func=cmd_simulate)

    fit = s.add_parser("fit", help="fit a scorer (prior, or learned when it beats the prior) and save it")
    _history_args(fit)
    fit.add_argument(
        "--db",
        action="store_true",
        help="fit on the case store's verdicts (and the forecasts), promote (scoring.auto_promote) and rescore",
    )
    fit.add_argument("--no-promote", action="store_true", help="with --db: keep the new scorer a candidate")
    fit.add_argument("--radius-m", type=float, default=50.0, help="radius of the location-history features")
    fit.add_argument("--min-verdicts", type=int, default=300, help="verdicts needed before trying the learned model")
    fit.add_argument(
        "--format", choices=("boston311", "chicago311", "open311", "csv"), help="--history is city records"
    )
    fit.add_argument("--mapping", help="with --format: mapping YAML or a shipped mapping's name")
    fit.set_defaults(func=cmd_fit)

    ev = s.add_parser("evaluate", help="time-ordered evaluation of scorer and forecast")
    _history_args(ev)
    ev.add_argument("--top-k", type=int, default=10, help="cases dispatched per day")
    ev.add_argument("--cell-m", type=float, default=250.0, help="forecast grid cell size in metres")
    ev.add_argument("--radius-m", type=float, help="neighbourhood radius in metres (default 50; city records 100)")
    ev.add_argument("--format", choices=("boston311", "chicago311", "open311", "csv"), help="--history is city records")
    ev.add_argument("--mapping", help="with --format: mapping YAML or a shipped mapping's name")
    ev.add_argument("--split-at", help="with --format: fit before this date (UTC), measure from it on")
    ev.add_argument(
        "--plot", help="with --format: reliability plot PNG (default: DATA_DIR/reports/reliability-NAME.png)"
    )
    ev.set_defaults(func=cmd_evaluate)

    fc = s.add_parser("forecast", help="expected problems per cell for the next day or week, as GeoJSON")
    _history_args(fc)
    fc.add_argument("--horizon", choices=("day", "week"), default="day")
    fc.add_argument("--cell-m", type=float, default=250.0)
    fc.add_argument("--min-total", type=float, default=0.0, help="leave out cells expecting fewer problems")
    fc.add_argument("--out", help="GeoJSON file (default: print it, unless --save)")
    fc.add_argument("--save", action="store_true", help="keep it in the forecast registry (GET /forecast serves it)")
    fc.add_argument("--db", action="store_true", help="from the case store's confirmed cases, not a history")
    fc.set_defaults(func=cmd_forecast)

    sc = s.add_parser("score", help="rank the latest cases of a history with a saved scorer, with reasons")
    _history_args(sc)
    sc.add_argument("--version", help="scorer version (default: the newest)")
    sc.add_argument("--hours", type=float, default=24.0, help="cases last seen within this many hours of the end")
    sc.add_argument("--top", type=int, default=10)
    sc.set_defaults(func=cmd_score)

    s.add_parser("list", help="saved scorer versions and their stage").set_defaults(func=cmd_list)

    pr = s.add_parser("promote", help="make a saved scorer the production one and rescore the open cases")
    pr.add_argument("version")
    pr.add_argument("--no-rescore", action="store_true", help="leave the stored scores until the next change")
    pr.set_defaults(func=cmd_promote)

    s.add_parser("rescore", help="score every open case again with the production scorer").set_defaults(
        func=cmd_rescore
    )

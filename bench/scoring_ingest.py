"""What live scoring costs ingestion: P6's events (bench/cases_ingest.py) with no scorer, the prior, the learned one.

    python bench/scoring_ingest.py [--events 5000] [--problems 1000] [--batch 100] [--days 75]

SQLite, one thread, `--batch` events per transaction. The learned scorer is fitted on a `--days` simulated
city (`cases.scoring.simulate`, seed 5) with one thread; the fit is not timed. Each ingest batch is scored once
after its commit (`cases.scoring.live.LiveScorer`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--days", type=int, default=75)
    args = ap.parse_args()

    import numpy as np
    from cases_ingest import make_events, run
    from threadpoolctl import threadpool_limits

    from cases.scoring.features import FeatureBuilder, FeatureConfig, Verdict, VerdictHistory
    from cases.scoring.model import Selection, fit_scorer
    from cases.scoring.registry import ScorerStore
    from cases.scoring.simulate import CityConfig, simulate_city

    with threadpool_limits(1):
        city = simulate_city(CityConfig(seed=5, days=args.days))
        history = VerdictHistory([c.record for c in city.cases])
        fm = FeatureBuilder(city.categories).transform([c.snapshot for c in city.cases], history)
        y = np.array([c.verdict == Verdict.CONFIRMED for c in city.cases])
        learned = fit_scorer(fm, y, city.categories)
        none = np.zeros(0, dtype=int)
        prior = fit_scorer(fm[none], y[none], city.categories)
    scorers: dict[str, Selection | None] = {"none": None, "prior": prior, "learned": learned}

    events = make_events(args.events, args.problems)
    print(f"{len(events)} events, SQLite, batch {args.batch}, one thread")
    for name, selection in scorers.items():
        with tempfile.TemporaryDirectory(prefix="cityeye-bench-") as tmp:
            if selection is not None:
                store = ScorerStore(Path(tmp) / "scorers")
                store.promote(store.save(selection, FeatureConfig()).version)
            with threadpool_limits(1):
                elapsed, created, _ = run(None, Path(tmp), events, 1, args.batch)
        print(f"scorer {name:<8}: {len(events) / elapsed:8.0f} events/s ({elapsed:.2f} s; {created} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Candidate vs production on the same frozen validation split, per category: a Markdown report with plots.

<out>/candidate/, <out>/production/      each model's full evaluation (training/evaluate.py)
<out>/compare.md                         per-category mAP50 side by side, the difference, the gate's verdict
<out>/compare_map50.png                  the same as a bar chart
<out>/compare.json                       both metric sets and the gate's findings
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.registry import ModelVersion, gate
from training.evaluate import evaluate, registry_metrics


@dataclass
class Comparison:
    candidate: dict[str, float]
    production: dict[str, float]
    val_hash: str
    drops: list[str] = field(default_factory=list)
    report: Path | None = None

    @property
    def passes(self) -> bool:
        return not self.drops


def compare(
    candidate: Path,
    production: Path,
    dataset: Path,
    out: Path,
    margin: float,
    imgsz: int = 320,
    device: str = "cpu",
    labels: tuple[str, str] = ("candidate", "production"),
    splits: list[str] | None = None,
) -> Comparison:
    """Evaluate both weights on `dataset`'s frozen val split(s) and write the comparison report."""
    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    val_hash = manifest.get("val_hash", "")
    cand = registry_metrics(evaluate(candidate, dataset, out / "candidate", imgsz=imgsz, device=device, splits=splits))
    prod = registry_metrics(
        evaluate(production, dataset, out / "production", imgsz=imgsz, device=device, splits=splits)
    )
    classes = manifest["classes"]
    drops = gate(
        ModelVersion(version="candidate", classes=classes, metrics=cand, val_hash=val_hash),
        ModelVersion(version="production", classes=classes, metrics=prod, val_hash=val_hash),
        margin,
    )
    result = Comparison(cand, prod, val_hash, drops)
    result.report = write_comparison(result, out, labels, manifest, margin)
    return result


def write_comparison(
    c: Comparison,
    out: Path,
    labels: tuple[str, str],
    manifest: dict[str, Any],
    margin: float,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted(k for k in set(c.candidate) | set(c.production) if k.startswith("mAP50/") and k != "mAP50/all")
    keys.append("mAP50/all")
    lines = [
        f"# {labels[0]} vs {labels[1]} on dataset `{manifest.get('name')}`",
        "",
        f"- frozen val split `{c.val_hash}` (both models measured on the same images); gate margin {margin:.3f}",
        f"- dataset hash `{manifest.get('hash')}`; base `{manifest.get('base', {}).get('name', '-')}`; "
        f"feedback frames added now: {manifest.get('feedback', {}).get('added_now', 0)}",
        "",
        f"| category | {labels[1]} mAP50 | {labels[0]} mAP50 | change |",
        "|---|---:|---:|---:|",
    ]
    for k in keys:
        p, q = c.production.get(k), c.candidate.get(k)
        delta = f"{q - p:+.3f}" if p is not None and q is not None else "–"
        fmt = lambda v: f"{v:.3f}" if v is not None else "–"  # noqa: E731
        lines.append(f"| {k.split('/', 1)[1]} | {fmt(p)} | {fmt(q)} | {delta} |")
    lines += [
        "",
        "**Gate: passes** — a person may promote it: `cityeye models promote <version>`."
        if c.passes
        else "**Gate: refused** — " + "; ".join(c.drops),
        "",
        "![mAP50 per category](compare_map50.png)",
        "",
        f"Full evaluations: [{labels[0]}](candidate/report.md), [{labels[1]}](production/report.md).",
        "",
    ]
    _plot(c, keys, labels, out / "compare_map50.png")
    (out / "compare.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "compare.json").write_text(
        json.dumps(
            {"val_hash": c.val_hash, labels[0]: c.candidate, labels[1]: c.production, "drops": c.drops}, indent=1
        ),
        encoding="utf-8",
    )
    return out / "compare.md"


def _plot(c: Comparison, keys: list[str], labels: tuple[str, str], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(keys)), 3.5))
    ax.bar(x - 0.2, [c.production.get(k, 0.0) for k in keys], 0.4, label=labels[1])
    ax.bar(x + 0.2, [c.candidate.get(k, 0.0) for k in keys], 0.4, label=labels[0])
    ax.set_xticks(x, [k.split("/", 1)[1] for k in keys])
    ax.set_ylabel("mAP50 (frozen val)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)

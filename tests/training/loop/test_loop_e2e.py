"""The whole loop on tiny images: false-positive verdicts → a dataset version holding them as negatives (val
untouched) → 1-epoch fine-tune from production → candidate vs production on the same frozen val → the gate
refuses a worse candidate and accepts a better one (real evaluations, not written metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cases.db import make_engine, migrate, session_factory
from cases.feedback import FeedbackStore
from cases.lifecycle import Action, Actor, Role
from cases.service import CaseService
from cityeye.cli import main
from cityeye.config import LoopSettings, Settings
from datasets.build import build_dataset, load_manifest
from datasets.labels import label_path_for, read_yolo_labels
from datasets.recipe import Recipe
from inference.event import EvidenceImage
from models.registry import ModelVersion, PromotionRefused, Registry
from models.taxonomy import load_taxonomy
from tests.cases.factories import make_event
from tests.conftest import CLASSES
from training.evaluate import evaluate, registry_metrics
from training.loop import run_loop

INSPECTOR = Actor(name="ines", role=Role.INSPECTOR)


def degraded_copy(weights: Path, out: Path) -> Path:
    """The same network with its class scores pushed to ~0: it finds nothing (a real, worse model)."""
    import torch

    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    for key in ("model", "ema"):
        model = ckpt.get(key)
        if model is None:
            continue
        for branch in model.model[-1].cv3:
            branch[-1].bias.data.fill_(-40.0)
    torch.save(ckpt, out)
    return out


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", loop=LoopSettings(epochs=1, imgsz=320, batch=4, margin=0.0))


def test_the_whole_loop_from_verdicts_to_a_gated_candidate(settings: Settings, tmp_path: Path) -> None:
    from datasets.synthetic import generate_scene

    # a base dataset version (synthetic scenes); production: the bundled default model v1 (registered on first use)
    base = build_dataset(
        "base",
        settings.datasets_dir,
        tmp_path,
        Recipe(classes=CLASSES, sources={}),
        synthetic=(8, 4),
        seed=1,
        progress=False,
    )
    base_m = load_manifest(base)
    reg = Registry(settings.models_dir)
    assert reg.get("production").version == "v1"

    # inspectors mark three cases false positives; the service keeps each raw frame with model version "v1"
    engine = make_engine(settings)
    migrate(settings, engine)
    service = CaseService(session_factory(engine), settings, load_taxonomy(None))
    for i in range(3):
        frame = generate_scene("street", seed=900 + i, size=(320, 240)).image
        event = make_event(
            source_id=f"cam-{i}",
            model_version="v1",
            evidence=(EvidenceImage(frame, "snapshot"), EvidenceImage(frame, "frame")),
        )
        case = service.get_case(service.ingest(event).case_id).case
        service.act(case.id, Action.VERIFY, INSPECTOR, version=case.version, verdict="false_positive")

    # one command: dataset from feedback → 1-epoch train from production → compare → candidate
    result = run_loop(
        settings.loop,
        settings.paths,
        FeedbackStore(session_factory(engine), settings.paths.feedback),
        reg,
        name="fb1",
        base="base",
        extra={"amp": False},
        eval_splits=["val (all"],
    )
    m = load_manifest(result.dataset)
    assert m["base"]["name"] == "base" and m["val_hash"] == base_m["val_hash"]  # the frozen val split is untouched
    assert {k: v for k, v in m["files"].items() if k.startswith("images/val")} == {
        k: v for k, v in base_m["files"].items() if k.startswith("images/val")
    }
    added = m["feedback"]["added"]
    assert [(a["origin"], a["verdict"], a["negative"], a["model_version"]) for a in added] == [
        ("verdict", "false_positive", True, "v1")
    ] * 3
    for a in added:
        assert read_yolo_labels(label_path_for(result.dataset / a["file"])) == []  # negatives: empty label files
        assert label_path_for(result.dataset / a["file"]).is_file()
    assert m["images"]["train"] == base_m["images"]["train"] + 3
    # the candidate is registered (never promoted) with metrics on the same val split as production's re-measure
    cand, prod = reg.get("fb1"), reg.get("v1")
    assert (cand.stage, cand.parent, cand.val_hash) == ("candidate", "v1", base_m["val_hash"])
    assert prod.stage == "production" and prod.metrics_on(base_m["val_hash"]) is not None
    report = result.report.read_text()
    assert "| category | v1 mAP50 | fb1 mAP50 | change |" in report
    assert (result.report.parent / "compare_map50.png").stat().st_size > 1000
    assert ("Gate: passes" in report) == result.passes == (not result.drops)

    # the gate on real evaluations: a worse candidate is refused, a better one accepted
    prod_on_val = prod.metrics_on(base_m["val_hash"])
    assert prod_on_val is not None and any(v > 0 for k, v in prod_on_val.items() if k.startswith("mAP50/"))
    worse = degraded_copy(reg.weights("v1"), tmp_path / "worse.pt")
    worse_metrics = registry_metrics(evaluate(worse, base, tmp_path / "ev-worse", imgsz=320, splits=["val (all"]))
    assert all(v == 0 for k, v in worse_metrics.items() if k.startswith("mAP50/"))
    reg.register(
        worse,
        ModelVersion(version="worse", classes=CLASSES, metrics=worse_metrics, val_hash=base_m["val_hash"]),
    )
    with pytest.raises(PromotionRefused, match="mAP50/"):
        reg.promote("worse", margin=0.0)
    assert main(["--data-dir", str(settings.data_dir), "models", "promote", "worse", "--margin", "0"]) == 1
    assert reg.get("production").version == "v1"
    # a bad model reached production anyway (forced, with a note); the gate accepts the loop's candidate over it
    assert main(["--data-dir", str(settings.data_dir), "models", "promote", "worse", "--force", "--note", "drill"]) == 0
    assert "promoted with force over the gate" in reg.get("worse").notes
    assert main(["--data-dir", str(settings.data_dir), "models", "promote", "fb1", "--margin", "0"]) == 0
    assert reg.get("production").version == "fb1"
    # rollback goes back to the version before
    assert main(["--data-dir", str(settings.data_dir), "models", "rollback", "--note", "test"]) == 0
    assert reg.get("production").version == "worse"


def test_loop_run_without_new_feedback_is_a_clean_no_op_for_cron(
    settings: Settings, tiny_model: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    build_dataset(
        "base",
        settings.datasets_dir,
        tmp_path,
        Recipe(classes=CLASSES, sources={}),
        synthetic=(2, 1),
        seed=2,
        progress=False,
    )
    reg = Registry(settings.models_dir)
    reg.register(tiny_model, ModelVersion(version="prod", classes=CLASSES, imgsz=64, dataset="base"))
    reg.promote("prod", force=True)
    argv = ["--data-dir", str(settings.data_dir), "loop", "run", "--name", "fb0"]
    assert main([*argv, "--quiet-if-nothing"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["--data-dir", str(settings.data_dir), "loop", "run", "--name", "fb00"]) == 1
    assert "cityeye: error: no new labelled feedback" in capsys.readouterr().err
    assert [v.version for v in reg.versions()] == ["prod"] or "fb0" not in [v.version for v in reg.versions()]
    assert json.loads((settings.datasets_dir / "fb0" / "manifest.json").read_text())["feedback"]["added_now"] == 0

"""An interrupted training run resumes from its last checkpoint and finishes the planned epochs."""

import json

import pytest
import torch
import yaml

from datasets.build import build_dataset
from datasets.recipe import Recipe
from tests.datasets.test_build import make_source
from tests.models.legacy_factory import write_legacy_checkpoint
from training.base import base_checkpoint_from_legacy
from training.train import TrainConfig, TrainingError, train


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes(tmp_path):
    make_source(tmp_path / "shared" / "src", n=4)
    recipe = Recipe.model_validate(
        yaml.safe_load(
            "classes: [stall, signboard]\nsources:\n  src: {path: src, licence: CC0, credit: t, names: [a, b, c],\n"
            "        remap: {a: signboard, b: null, c: stall}}\n"
        )
    )
    ds = build_dataset("d", tmp_path / "ds", tmp_path / "shared", recipe, progress=False)
    write_legacy_checkpoint(tmp_path / "legacy.pt")
    base = base_checkpoint_from_legacy(tmp_path / "legacy.pt", recipe.classes, tmp_path / "base.pt")
    cfg = TrainConfig(dataset=ds, base=base, runs_dir=tmp_path / "runs", name="r", epochs=2, imgsz=64, batch=4)

    def stop_after_first_epoch(trainer):
        if trainer.epoch == 0:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(cfg, callbacks={"on_fit_epoch_end": stop_after_first_epoch})
    last = tmp_path / "runs" / "r" / "weights" / "last.pt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0
    with pytest.raises(TrainingError, match="run exists"):
        train(cfg)
    with pytest.raises(TrainingError, match="done already"):
        train(cfg, resume=True, resume_epochs=1)
    out = train(cfg, resume=True, resume_epochs=3)  # a new total: one more epoch than planned
    record = json.loads((out / "cityeye_run.json").read_text())
    assert [int(r["epoch"]) for r in record["results_csv"]] == [1, 2, 3]
    assert record["config"]["epochs"] == 3
    with pytest.raises(TrainingError, match="finished"):
        train(cfg, resume=True)

"""The data team's commands on tiny data: build → train (from a legacy checkpoint) → evaluate → register."""

import json

import pytest

from cityeye.cli import main
from tests.datasets.test_build import make_source
from tests.models.legacy_factory import write_legacy_checkpoint


@pytest.mark.slow
def test_build_train_evaluate_register(tmp_path, capsys):
    make_source(tmp_path / "shared" / "src", n=4)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "classes: [stall, signboard]\n"
        "sources:\n  src: {path: src, licence: CC0, credit: test, names: [a, b, c],\n"
        "        remap: {a: signboard, b: null, c: stall}}\n"
    )
    legacy = tmp_path / "yolov5n.pt"
    write_legacy_checkpoint(legacy)
    d = ["--data-dir", str(tmp_path / "data")]
    assert (
        main(
            [
                *d,
                "datasets",
                "build",
                "tiny",
                "--recipe",
                str(recipe),
                "--data-root",
                str(tmp_path / "shared"),
                "--synthetic-train",
                "2",
                "--synthetic-val",
                "1",
            ]
        )
        == 0
    )
    assert main([*d, "datasets", "check", "tiny"]) == 0
    assert (
        main(
            [
                *d,
                "train",
                "tiny",
                "--name",
                "r1",
                "--legacy",
                str(legacy),
                "--epochs",
                "1",
                "--imgsz",
                "64",
                "--batch",
                "4",
            ]
        )
        == 0
    )
    run = tmp_path / "data" / "runs" / "r1"
    record = json.loads((run / "cityeye_run.json").read_text())
    assert record["dataset"]["name"] == "tiny" and len(record["dataset"]["hash"]) == 16
    assert record["results_csv"] and "metrics/mAP50(B)" in record["results_csv"][-1]
    assert (run / "args.yaml").is_file() and (run / "weights" / "last.pt").is_file()
    # a finished run is not silently overwritten
    assert main([*d, "train", "tiny", "--name", "r1", "--legacy", str(legacy), "--epochs", "1"]) == 1
    assert "use --resume" in capsys.readouterr().err
    assert main([*d, "train", "tiny", "--name", "r2", "--resume"]) == 1
    capsys.readouterr()
    out = tmp_path / "report"
    assert (
        main(
            [
                *d,
                "evaluate",
                "tiny",
                "--model",
                str(run / "weights" / "best.pt"),
                "--imgsz",
                "64",
                "--out",
                str(out),
                "--register",
                "tiny-1",
            ]
        )
        == 0
    )
    report = (out / "report.md").read_text()
    assert "## val (all sources)" in report and "## val: src" in report and "## val close-ups" in report
    assert "Recall by object size" in report
    metrics = json.loads((out / "metrics.json").read_text())["registry"]
    assert {"mAP50/all", "source/src/mAP50"} <= set(metrics)
    assert any(p.name == "BoxPR_curve.png" for p in out.rglob("*.png"))
    capsys.readouterr()
    assert main([*d, "models", "show", "tiny-1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dataset"] == "tiny" and shown["stage"] == "candidate"
    card = tmp_path / "MODEL_CARD.md"
    assert (
        main(
            [
                *d,
                "models",
                "card",
                "tiny-1",
                "--evaluation",
                str(out),
                "--run",
                str(run),
                "--out",
                str(card),
                "--command",
                "cityeye train tiny --name r1",
            ]
        )
        == 0
    )
    text = card.read_text()
    assert "### val: src" in text and "cityeye train tiny --name r1" in text and "1 epochs at 64 px" in text
    assert main([*d, "datasets", "export", "tiny", "--format", "coco", "--out", str(tmp_path / "coco")]) == 0
    coco = json.loads((tmp_path / "coco" / "val.json").read_text())
    assert {c["name"] for c in coco["categories"]} == {"stall", "signboard"}


def test_train_errors_are_one_line(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path / "data")]
    assert main([*d, "train", "nope", "--name", "x"]) == 1
    assert "dataset 'nope' not found" in capsys.readouterr().err
    assert main([*d, "datasets", "stats", "nope"]) == 1
    assert main([*d, "train", "nope", "--name", "x", "--set", "novalue"]) == 1

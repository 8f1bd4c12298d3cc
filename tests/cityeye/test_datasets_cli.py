"""Dataset commands: build → export COCO → import COCO → the import is a valid recipe source again."""

import json

from cityeye.cli import main
from tests.datasets.test_build import make_source


def test_export_import_roundtrip_and_rebuild(tmp_path, capsys):
    make_source(tmp_path / "shared" / "src", n=3)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "classes: [stall, signboard]\nsources:\n  src: {path: src, licence: CC0, credit: t, "
        "names: [a, b, c], remap: {a: signboard, b: null, c: stall}}\n"
    )
    d = ["--data-dir", str(tmp_path / "data")]
    assert main([*d, "datasets", "build", "one", "--recipe", str(recipe), "--data-root", str(tmp_path / "shared")]) == 0
    ds = tmp_path / "data" / "datasets" / "one"
    assert main([*d, "datasets", "export", "one", "--format", "coco", "--out", str(tmp_path / "coco")]) == 0
    assert (
        main(
            [
                *d,
                "datasets",
                "import",
                "--format",
                "coco",
                "--train",
                str(tmp_path / "coco" / "train.json"),
                "--val",
                str(tmp_path / "coco" / "val.json"),
                "--images",
                str(ds / "images" / "train"),
                "--classes",
                "stall",
                "signboard",
                "--out",
                str(tmp_path / "shared" / "imported"),
            ]
        )
        == 1
    )
    capsys.readouterr()  # val images live in another folder: the importer names the missing file
    for split in ("train", "val"):
        assert (
            main(
                [
                    *d,
                    "datasets",
                    "import",
                    "--format",
                    "coco",
                    f"--{split}",
                    str(tmp_path / "coco" / f"{split}.json"),
                    "--images",
                    str(ds / "images" / split),
                    "--classes",
                    "stall",
                    "signboard",
                    "--out",
                    str(tmp_path / "shared" / "imported"),
                ]
            )
            == 0
        )
    recipe2 = tmp_path / "recipe2.yaml"
    recipe2.write_text(
        "classes: [stall, signboard]\nsources:\n  imp: {path: imported, licence: CC0, credit: t, "
        "names: [stall, signboard], remap: {stall: stall, signboard: signboard}}\n"
    )
    assert (
        main([*d, "datasets", "build", "two", "--recipe", str(recipe2), "--data-root", str(tmp_path / "shared")]) == 0
    )
    one = json.loads((ds / "manifest.json").read_text())
    two = json.loads((tmp_path / "data" / "datasets" / "two" / "manifest.json").read_text())
    assert two["boxes"]["train"] == one["boxes"]["train"] and two["boxes"]["val"] == one["boxes"]["val"]
    assert (
        main(
            [*d, "datasets", "import", "--format", "yolo", "--train", str(tmp_path / "x"), "--out", str(tmp_path / "y")]
        )
        == 1
    )
    assert "--classes is required" in capsys.readouterr().err

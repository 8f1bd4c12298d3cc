"""The registry: versions are immutable, promotion is gated per category, the bundled default bootstraps."""

import json

import pytest

from cityeye.cli import main
from models.registry import ModelVersion, PromotionRefused, Registry, RegistryError


def mv(version: str, **metrics: float) -> ModelVersion:
    return ModelVersion(
        version=version, classes=["stall", "garbage"], metrics={f"mAP50/{k}": v for k, v in metrics.items()}
    )


@pytest.fixture
def weights(tmp_path):
    w = tmp_path / "w.pt"
    w.write_bytes(b"weights")
    return w


def test_register_promote_and_gate(tmp_path, weights):
    reg = Registry(tmp_path / "models", bundled_dir=tmp_path / "none")
    with pytest.raises(RegistryError, match="no production"):
        reg.get("production")
    reg.register(weights, mv("a", stall=0.60, garbage=0.50))
    assert reg.get("a").stage == "candidate"
    reg.promote("a")
    assert reg.get("production").version == "a"
    # worse on one category by more than the margin: refused, production unchanged
    reg.register(weights, mv("b", stall=0.70, garbage=0.45))
    with pytest.raises(PromotionRefused, match=r"mAP50/garbage 0\.450 < production 0\.500"):
        reg.promote("b", margin=0.02)
    assert reg.get("production").version == "a"
    # within the margin: accepted, the old one archived
    reg.register(weights, mv("c", stall=0.61, garbage=0.49))
    reg.promote("c", margin=0.02)
    assert reg.get("production").version == "c" and reg.get("a").stage == "archived"
    with pytest.raises(RegistryError, match="immutable"):
        reg.register(weights, mv("c"))
    with pytest.raises(RegistryError, match="not found"):
        reg.get("zzz")
    assert (tmp_path / "models" / "c" / "model.pt").read_bytes() == b"weights"


def test_candidate_missing_a_category_is_refused(tmp_path, weights):
    reg = Registry(tmp_path / "models", bundled_dir=tmp_path / "none")
    reg.register(weights, mv("a", stall=0.6, garbage=0.5))
    reg.promote("a")
    reg.register(weights, mv("b", stall=0.9))
    with pytest.raises(PromotionRefused, match="missing"):
        reg.promote("b")
    forced = reg.promote("b", force=True)
    assert forced.stage == "production" and "promoted with force over the gate" in forced.notes


def test_gate_refuses_metrics_from_another_validation_set(tmp_path, weights):
    reg = Registry(tmp_path / "models", bundled_dir=tmp_path / "none")
    reg.register(weights, mv("a", stall=0.5).model_copy(update={"val_hash": "aaa"}))
    reg.promote("a")
    reg.register(weights, mv("b", stall=0.9).model_copy(update={"val_hash": "bbb"}))
    with pytest.raises(PromotionRefused, match="different validation sets"):
        reg.promote("b")


def test_bundled_default_becomes_production(tmp_path, weights):
    bundled = tmp_path / "bundled" / "v9"
    bundled.mkdir(parents=True)
    (bundled / "model.pt").write_bytes(b"bundled")
    (bundled / "meta.json").write_text(mv("v9", stall=0.5).model_dump_json())
    reg = Registry(tmp_path / "models", bundled_dir=tmp_path / "bundled")
    assert reg.get("production").version == "v9"
    assert reg.weights("production").read_bytes() == b"bundled"


def test_corrupt_registry_file_is_a_clear_error(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "registry.json").write_text("{not json")
    with pytest.raises(RegistryError, match="unreadable registry"):
        Registry(tmp_path / "models").versions()


def test_cli_models_list_show_promote(tmp_path, weights, capsys):
    reg = Registry(tmp_path / "data" / "models", bundled_dir=tmp_path / "none")
    reg.register(weights, mv("a", stall=0.6))
    reg.promote("a")
    reg.register(weights, mv("b", stall=0.3))
    args = ["--data-dir", str(tmp_path / "data"), "models"]
    assert main([*args, "list"]) == 0
    assert "production" in capsys.readouterr().out
    assert main([*args, "show", "b"]) == 0
    assert json.loads(capsys.readouterr().out)["stage"] == "candidate"
    assert main([*args, "promote", "b"]) == 1
    assert "refused" in capsys.readouterr().err
    assert main([*args, "promote", "nope"]) == 1

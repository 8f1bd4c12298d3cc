"""The one registry type: stages, the production pointer, the validation hook, rollback, both on-disk layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from models.registry import ModelVersion
from models.versions import CardLayout, IndexLayout, PromotionRefused, RegistryError, VersionRegistry, now_iso


class Card(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    score: float = 0.0
    created_at: str = Field(default_factory=now_iso)
    notes: str = ""


def cards(root: Path) -> VersionRegistry[Card]:
    return VersionRegistry(CardLayout(root, Card.model_validate, what="thing"))


def add(reg: VersionRegistry[Card], version: str, score: float = 0.0) -> Card:
    def build(folder: Path) -> Card:
        (folder / "blob").write_bytes(version.encode())
        return Card(version=version, score=score, created_at=f"2020-01-0{len(reg.versions()) + 1}")

    return reg.add(version, build)


def no_worse(cand: Card, prod: Card | None) -> list[str]:
    return [] if prod is None or cand.score >= prod.score else [f"score {cand.score} < {prod.score}"]


def test_card_layout_stages_promote_hook_force_and_rollback(tmp_path: Path) -> None:
    reg = cards(tmp_path / "things")
    assert reg.versions() == [] and reg.production_version() is None and reg.stamp() == 0.0
    for v, score in (("a", 0.5), ("b", 0.7), ("c", 0.6)):
        add(reg, v, score)
    assert [c.version for c in reg.versions()] == ["a", "b", "c"]
    assert (reg.path("b") / "blob").read_bytes() == b"b" and reg.stage("b") == "candidate"
    with pytest.raises(RegistryError, match="already exists"):
        add(reg, "a")
    with pytest.raises(RegistryError, match="no card.json"):
        reg.get("zz")

    reg.promote("a", no_worse)
    reg.promote("b", no_worse)
    with pytest.raises(PromotionRefused, match=r"promotion of c refused: score 0.6 < 0.7"):
        reg.promote("c", no_worse)
    assert reg.production_version() == "b" and reg.stage("a") == "archived" and reg.stage("c") == "candidate"
    forced = reg.promote("c", no_worse, force=True)
    assert "promoted with force over the gate: score 0.6 < 0.7" in forced.notes
    assert json.loads((tmp_path / "things" / "production.json").read_text())["archived"] == ["a", "b"]

    back = reg.rollback("broken")
    assert back.version == "b" and reg.production_version() == "b"
    assert reg.stage("c") == "archived" and "rolled back from c (broken)" in reg.get("c").notes
    assert reg.rollback().version == "a"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    assert [reg.stage(v) for v in "abc"] == ["production", "archived", "archived"]


def test_a_hook_that_raises_refuses_the_promotion(tmp_path: Path) -> None:
    reg = cards(tmp_path)
    add(reg, "a")

    def broken(cand: Card, prod: Card | None) -> list[str]:
        raise ValueError(f"{cand.version} does not load")

    with pytest.raises(ValueError, match="does not load"):
        reg.promote("a", broken)
    assert reg.production_version() is None


def test_an_existing_production_json_without_rollbacks_stays_readable(tmp_path: Path) -> None:
    reg = cards(tmp_path)
    add(reg, "a")
    add(reg, "b")
    written = {"version": "b", "promoted_at": "2020-01-01T00:00:00+00:00", "archived": ["a"]}
    (tmp_path / "production.json").write_text(json.dumps(written, indent=2))
    assert reg.production_version() == "b" and reg.stage("a") == "archived"
    stamp = reg.stamp()
    reg.promote("a")
    assert json.loads((tmp_path / "production.json").read_text())["archived"] == ["b"]  # no "retired": []
    assert "retired" not in (tmp_path / "production.json").read_text() and reg.stamp() >= stamp


def test_index_layout_keeps_the_stage_in_each_record(tmp_path: Path) -> None:
    reg = VersionRegistry(IndexLayout(tmp_path, ModelVersion.model_validate))

    def version(v: str) -> ModelVersion:
        return reg.add(v, lambda folder: ModelVersion(version=v, classes=["stall"]))

    version("a")
    version("b")
    reg.promote("a")
    reg.promote("b")
    raw = json.loads((tmp_path / "registry.json").read_text())["versions"]
    assert raw["a"]["stage"] == "archived" and raw["b"]["stage"] == "production" and raw["a"]["promoted_at"]
    reg.rollback()
    raw = json.loads((tmp_path / "registry.json").read_text())["versions"]
    assert raw["a"]["stage"] == "production" and raw["b"]["stage"] == "archived" and raw["b"]["promoted_at"] is None
    with pytest.raises(RegistryError, match="exists already; versions are immutable"):
        version("a")

from pathlib import Path

import pytest

from cityeye.cli import main
from cityeye.config import ConfigError, load_settings
from models.taxonomy import Taxonomy


def test_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYEYE_DETECTOR__IMGSZ", "640")
    s = load_settings(data_dir=tmp_path)
    assert s.detector.imgsz == 640
    assert s.db_url == f"sqlite:///{(tmp_path / 'cityeye.db').resolve()}"


def test_yaml_file_and_precedence(monkeypatch, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detector:\n  conf: 0.4\n  imgsz: 320\n")
    monkeypatch.setenv("CITYEYE_DETECTOR__IMGSZ", "480")
    s = load_settings(f)
    assert s.detector.conf == 0.4 and s.detector.imgsz == 480  # env beats file


def test_unknown_and_out_of_range_keys_name_their_path(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("detector:\n  imgsz: 99999\n  modle: x\npersistance: {}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    errors = info.value.errors
    assert any(e.startswith("detector.imgsz:") for e in errors)
    assert "detector.modle: unknown key (did you mean 'model'?)" in errors
    assert "persistance: unknown key (did you mean 'persistence'?)" in errors


def test_validate_config_cli(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("api:\n  prot: 80\n")
    assert main(["validate-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "api.prot: unknown key (did you mean 'port'?)" in err
    good = tmp_path / "good.yaml"
    good.write_text("api:\n  port: 8080\n")
    assert main(["validate-config", str(good)]) == 0
    assert main(["validate-config", str(tmp_path / "missing.yaml")]) == 1
    notyaml = tmp_path / "x.yaml"
    notyaml.write_text("a: [b\n")
    assert main(["validate-config", str(notyaml)]) == 1
    assert "not valid YAML" in capsys.readouterr().err


def test_taxonomy_shipped_and_strict(tmp_path):
    t = Taxonomy.load()
    assert set(t.categories) == {"street_stall", "garbage", "illegal_construction", "billboard_hazard"}
    assert t.category_of("vendedor_ambulante") == "street_stall"
    assert t.category_of("window") is None and t.category_of("garbage_bin") is None
    assert t.categories["garbage"].name_zh == "暴露垃圾"
    bad = tmp_path / "t.yaml"
    bad.write_text(
        Path(__file__)
        .parents[2]
        .joinpath("models/taxonomy.yaml")
        .read_text()
        .replace("stall: street_stall", "stall: street_stal")
    )
    with pytest.raises(ValueError, match="unknown categories"):
        Taxonomy.load(bad)

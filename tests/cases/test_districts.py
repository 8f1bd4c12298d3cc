"""Districts as a configured list: case-insensitive ids, display names, old configs, refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cases.auth import ApiKeys
from cases.db import make_engine, migrate, session_factory
from cases.districts import UnknownDistrict, district_id, known
from cases.lifecycle import Actor, Role
from cases.settings import LifecycleSettings
from cityeye.config import Settings

BOX = [121.4, 31.2, 121.5, 31.3]


def test_the_historic_form_still_loads_and_ids_are_case_insensitive() -> None:
    settings = LifecycleSettings.model_validate(
        {"districts": {"Huangpu": BOX, "jingan": {"name": "静安", "bbox": BOX}}}
    )
    assert list(settings.districts) == ["huangpu", "jingan"]
    assert settings.districts["huangpu"].name == "Huangpu" and settings.districts["huangpu"].bbox == tuple(BOX)
    assert settings.districts["jingan"].name == "静安"
    assert settings.box_of(31.25, 121.45) == "huangpu"
    assert known(settings, " HUANGPU ") == "huangpu"


@pytest.mark.parametrize(
    "districts,fragment",
    [
        ({"Huangpu": BOX, "huangpu": BOX}, "listed twice"),
        ({"hu\x07angpu": BOX}, "control or invisible"),
        ({"hu\u200bangpu": BOX}, "control or invisible"),
        ({"huangpu": {"name": "a\x00b"}}, "control characters"),
        ({"huangpu": {"bbox": [1, 2, 0, 1]}}, "box must be"),
    ],
)
def test_bad_districts_are_configuration_errors(districts: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        LifecycleSettings.model_validate({"districts": districts})


def test_unknown_and_malformed_districts_are_refused() -> None:
    settings = LifecycleSettings.model_validate({"districts": {"huangpu": BOX}})
    with pytest.raises(UnknownDistrict, match="unknown district 'xuhui'; the configured districts are: huangpu"):
        known(settings, "xuhui")
    for bad in ("", "   ", "x" * 65, "a\x00", "\u202ehuangpu"):
        with pytest.raises(UnknownDistrict):
            district_id(bad)
    assert known(LifecycleSettings(), "Anything") == "anything"  # no list configured: any well-formed id


def test_actors_compare_districts_case_insensitively() -> None:
    actor = Actor("k", Role.INSPECTOR, ("Huangpu",))
    assert actor.may_see("huangpu") and actor.may_see("HUANGPU")
    assert not actor.may_see("jingan") and not actor.may_see(None)
    assert Actor("all", Role.ADMIN).may_see(None)


def test_keys_are_bound_to_canonical_known_districts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, lifecycle=LifecycleSettings.model_validate({"districts": {"Huangpu": BOX}}))
    engine = make_engine(settings)
    try:
        migrate(settings, engine)
        keys = ApiKeys(session_factory(engine), settings.lifecycle)
        new = keys.create("insp", Role.INSPECTOR, ["HuangPu", "huangpu "])
        assert new.key.districts == ["huangpu"]
        assert keys.authenticate(new.token).districts == ("huangpu",)
        with pytest.raises(UnknownDistrict, match="unknown district 'xuhui'"):
            keys.create("other", Role.INSPECTOR, ["xuhui"])
        assert [k.name for k in keys.list()] == ["insp"]
    finally:
        engine.dispose()

"""`cityeye keys create | list | revoke` against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.auth import ApiKeys
from cases.db import make_engine, session_factory
from cases.errors import AuthError
from cases.lifecycle import Role
from cityeye.cli import main
from cityeye.config import Settings


def test_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "keys", "create", "--role", "dispatcher", "--name", "alice",
                 "--district", "huangpu"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "key 'alice': role dispatcher, huangpu" and "not shown again" in out[2]
    token = out[1]

    engine = make_engine(Settings(data_dir=Path(data)))
    try:
        store = ApiKeys(session_factory(engine))
        actor = store.authenticate(token)
        assert (actor.name, actor.role, actor.districts) == ("alice", Role.DISPATCHER, ("huangpu",))

        assert main(["--data-dir", data, "keys", "list"]) == 0
        listing = capsys.readouterr().out
        assert "alice" in listing and "dispatcher" in listing and token not in listing
        assert token.split("_", 2)[2] not in listing

        assert main(["--data-dir", data, "keys", "create", "--role", "admin", "--name", "alice"]) == 1
        assert "a key named 'alice' exists" in capsys.readouterr().err

        assert main(["--data-dir", data, "keys", "revoke", "alice"]) == 0
        assert "revoked" in capsys.readouterr().out
        with pytest.raises(AuthError, match="revoked"):
            store.authenticate(token)
        assert main(["--data-dir", data, "keys", "revoke", "bob"]) == 1
        assert "no key named 'bob'" in capsys.readouterr().err
    finally:
        engine.dispose()


def test_keys_create_refuses_unknown_roles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path), "keys", "create", "--role", "mayor", "--name", "x"])
    assert "invalid choice: 'mayor'" in capsys.readouterr().err


def test_keys_create_days_sets_an_expiry_that_list_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "keys", "create", "--role", "inspector", "--name", "temp", "--days", "7"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("key 'temp': role inspector, all districts, expires ") and out[0].endswith(" UTC")
    assert main(["--data-dir", data, "keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "expires" in listing.splitlines()[0] and out[0].split("expires ")[1][:10] in listing
    assert "(expired)" not in listing
    for bad in ("0", "3651", "-1"):
        assert main(["--data-dir", data, "keys", "create", "--role", "inspector", "--name", "x", "--days", bad]) == 1
        assert "key lifetime" in capsys.readouterr().err

    engine = make_engine(Settings(data_dir=Path(data)))
    try:  # a key whose time ran out: 401 with the reason, and `keys list` says so
        from sqlalchemy import update

        from cases.orm import ApiKey, utcnow

        with session_factory(engine)() as session:
            session.execute(update(ApiKey).where(ApiKey.name == "temp").values(expires_at=utcnow()))
            session.commit()
        with pytest.raises(AuthError, match=r"API key 'temp' expired at .*ask an admin for a new one"):
            ApiKeys(session_factory(engine)).authenticate(out[1])
    finally:
        engine.dispose()
    assert main(["--data-dir", data, "keys", "list"]) == 0
    assert "(expired)" in capsys.readouterr().out


def test_revoking_the_last_admin_key_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    for name, role in (("root", "admin"), ("root2", "admin"), ("ops", "dispatcher")):
        assert main(["--data-dir", data, "keys", "create", "--role", role, "--name", name]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "keys", "revoke", "root"]) == 0
    assert "warning" not in capsys.readouterr().err  # root2 is still there
    assert main(["--data-dir", data, "keys", "revoke", "ops"]) == 0
    assert "warning" not in capsys.readouterr().err  # not an admin key
    assert main(["--data-dir", data, "keys", "revoke", "root2"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: that was the last active admin key") and "reads stay closed" in err


def test_keys_create_takes_only_configured_districts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cityeye.yaml"
    cfg.write_text("lifecycle:\n  districts:\n    Huangpu: [121.4, 31.2, 121.5, 31.3]\n", encoding="utf-8")
    base = ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "keys", "create", "--role", "inspector"]
    assert main([*base, "--name", "x", "--district", "xuhui"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cityeye: error: unknown district 'xuhui'; the configured districts are: huangpu"]
    assert main([*base, "--name", "y", "--district", "HUANGPU"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "key 'y': role inspector, huangpu"
    assert main([*base, "--name", "z", "--district", "hu\u200bangpu"]) == 1
    assert "invisible characters" in capsys.readouterr().err

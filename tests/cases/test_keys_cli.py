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

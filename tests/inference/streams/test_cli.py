"""`cityeye cameras` / `cityeye streams --cameras`: a bad camera file is one error line and exit 1, nothing
written; a good one is imported (added, then updated)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cityeye.cli import main


def _write(path: Path, cameras: object) -> Path:
    path.write_text(yaml.safe_dump({"cameras": cameras}))
    return path


GOOD = {"id": "gate-1", "url": "rtsp://10.0.0.5:8554/cam", "zones": []}


@pytest.mark.parametrize(
    ("camera", "text"),
    [
        ({**GOOD, "url": "gopher://x/y"}, "cameras[0].url: Value error, url scheme must be one of"),
        (
            {**GOOD, "zones": [{"name": "z", "kind": "no_vending", "points": [[1, 1], [2, 2]]}]},
            "cameras[0].zones.0.points: Value error, a polygon needs at least 3 points",
        ),
        ({**GOOD, "fsp": 3}, "cameras[0].fsp: unknown key (did you mean 'fps'?)"),
        ({**GOOD, "url": "rtsp://127.0.0.1:8554/cam"}, "host '127.0.0.1' is loopback; list it in security.allow_hosts"),
        ({**GOOD, "url": "file:///var/lib/cityeye/cityeye.db"}, "file:// reads this machine"),
    ],
)
def test_bad_camera_file_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], camera: dict[str, object], text: str
) -> None:
    f = _write(tmp_path / "cams.yaml", [camera])
    data = tmp_path / "data"
    for argv in (["cameras", "import", str(f)], ["streams", "--cameras", str(f)]):
        assert main(["--data-dir", str(data), *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cityeye: error: ") and text in err[0], err
    assert main(["--data-dir", str(data), "cameras", "list"]) == 0
    assert "gate-1" not in capsys.readouterr().out


def test_import_list_status_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path / "cams.yaml", [GOOD])
    base = ["--data-dir", str(tmp_path / "data"), "cameras"]
    assert main([*base, "import", str(f)]) == 0
    assert "added camera gate-1" in capsys.readouterr().out
    assert main([*base, "import", str(f)]) == 0
    assert "updated camera gate-1" in capsys.readouterr().out
    assert main([*base, "list"]) == 0
    assert "gate-1" in capsys.readouterr().out
    assert main([*base, "status", "gate-1"]) == 0
    assert "never reported" in capsys.readouterr().out
    assert main([*base, "remove", "gate-1"]) == 0
    assert main([*base, "remove", "gate-1"]) == 1
    assert "camera 'gate-1' not found" in capsys.readouterr().err
    dup = _write(tmp_path / "dup.yaml", [GOOD, GOOD])
    assert main([*base, "import", str(dup)]) == 1
    assert "appears more than once" in capsys.readouterr().err


def test_allow_hosts_lets_a_loopback_camera_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYEYE_SECURITY__ALLOW_HOSTS", '["127.0.0.1", "local-files"]')
    f = _write(
        tmp_path / "cams.yaml",
        [{**GOOD, "url": "rtsp://127.0.0.1:8554/cam"}, {**GOOD, "id": "f", "url": "file:///x.mp4"}],
    )
    assert main(["--data-dir", str(tmp_path / "data"), "cameras", "import", str(f)]) == 0
    assert "added camera gate-1 (rtsp://127.0.0.1:8554/cam)" in capsys.readouterr().out

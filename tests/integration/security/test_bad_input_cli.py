"""The bad-input corpus against the command line: every bad file or config is one clear `cityeye: error:` line
and exit 1, and the case store and the files already in the data dir are untouched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cases.db import make_engine, migrate, session_factory
from cases.service import CaseService
from cityeye.cli import main
from cityeye.config import Settings
from inference.event import EvidenceImage
from models.taxonomy import load_taxonomy
from tests.cases.factories import T0, image, make_event, north_of
from tests.integration.security.corpus import ARCHIVE, CONFIG, GEO, MEDIA, write_corpus
from tests.integration.security.snapshot import snapshot


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A data dir with three cases and their evidence files, as a running city has."""
    data = tmp_path / "data"
    monkeypatch.setenv("CITYEYE_DATA_DIR", str(data))
    monkeypatch.setenv("CITYEYE_DETECTOR__BACKEND", "pytorch")  # no ONNX export in this short-lived data dir
    settings = Settings(data_dir=data)
    engine = make_engine(settings)
    migrate(settings, engine)
    service = CaseService(session_factory(engine), settings, load_taxonomy())
    for i in range(3):
        service.ingest(
            make_event(geo=north_of(800 * i), start=T0 + timedelta(minutes=i), evidence=(EvidenceImage(image(seed=i)),))
        )
    yield engine, data
    engine.dispose()


def test_every_bad_media_file_is_one_error_line_and_nothing_changes(
    store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    engine, data = store
    corpus = write_corpus(tmp_path / "media", MEDIA)
    before = snapshot(engine, data)
    assert main(["detect", str(tmp_path / "media")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(MEDIA), err
    for name, path in corpus.items():
        lines = [e for e in err if e.startswith(f"cityeye: error: {path}: ")]
        assert len(lines) == 1, f"{name}: {err}"
    assert snapshot(engine, data) == before


@pytest.mark.parametrize("bad", ARCHIVE, ids=lambda b: b.name)
def test_archives_are_refused_by_detect_without_extracting_anything(
    bad, store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    engine, data = store
    path = write_corpus(tmp_path / "up" / "in", [bad])[bad.name]
    before = snapshot(engine, data)
    assert main(["detect", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cityeye: error: {path}: unsupported file type .zip; images: .bmp, .jpeg, .jpg, .png, .tif, "
                   ".tiff, .webp; videos: .avi, .m4v, .mkv, .mov, .mp4, .webm"]  # fmt: skip
    assert snapshot(engine, data) == before
    assert sorted(p.name for p in (tmp_path / "up").rglob("*")) == sorted(["in", path.name])  # nothing extracted


def test_images_with_broken_position_metadata_never_place_a_case(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """EXIF GPS at lat 123 / a GeoTIFF in an unknown CRS: the pixels are read, the position is not trusted."""
    engine, data = store
    write_corpus(tmp_path / "geo", GEO)
    assert main(["detect", str(tmp_path / "geo")]) == 0
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT lat, lon FROM cases").all()
    assert all(lat is None or -90 <= lat <= 90 for lat, _ in rows)
    assert all(lon is None or -180 <= lon <= 180 for _, lon in rows)


@pytest.mark.parametrize("name,text,fragment", CONFIG, ids=[c[0] for c in CONFIG])
def test_bad_config_is_refused_with_the_key_path(
    name: str, text: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_bytes(text.encode("latin-1"))
    assert main(["validate-config", str(cfg)]) == 1
    out = capsys.readouterr()
    assert fragment in out.out + out.err
    # the same file given to a real command: one `config error` line per problem, exit 1, nothing created
    assert main(["--config", str(cfg), "--data-dir", str(tmp_path / "d"), "detect", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("cityeye: config error: ") for line in err)
    assert fragment.split(": ")[-1][:20] in "\n".join(err) or fragment in "\n".join(err)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "env,fragment",
    [
        ({"CITYEYE_DETECTOR__IMGSZ": "abc"}, "detector.imgsz: Input should be a valid integer"),
        ({"CITYEYE_API__PORT": "70000"}, "api.port: Input should be less than or equal to 65535"),
        ({"CITYEYE_OPS__MAX_BODY_KB": "-5"}, "ops.max_body_kb: Input should be greater than or equal to 1"),
        ({"CITYEYE_CONFIG": "/nonexistent/cityeye.yaml"}, "cannot read config file"),
    ],
    ids=["env_wrong_type", "env_out_of_range", "env_negative_limit", "missing_config_file"],
)
def test_bad_environment_is_one_line_and_exit_1(
    env: dict[str, str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["--data-dir", str(tmp_path / "d"), "detect", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cityeye: config error: ") and fragment in err[0]


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["datasets", "build", "../escape"], "dataset name '../escape': use letters, digits"),
        (["datasets", "stats", "../../etc"], "dataset '../../etc' not found"),
        (["detect", "/etc/passwd"], "unsupported file type"),
        (["detect", "/nonexistent/x.jpg"], "no such file or directory"),
        (["keys", "create", "--role", "admin", "--name", "x", "--days", "0"], "key lifetime 0 days: use 1-3650 days"),
        (["keys", "create", "--role", "admin", "--name", "x", "--days", "99999"], "key lifetime 99999 days"),
    ],
    ids=[
        "dataset_name_traversal",
        "dataset_path_traversal",
        "detect_non_media",
        "detect_missing",
        "key_days_zero",
        "key_days_huge",
    ],
)
def test_bad_paths_and_names_on_the_command_line(
    argv: list[str], fragment: str, store, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    engine, data = store
    before = snapshot(engine, data)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cityeye: error: ") and fragment in err[0]
    assert snapshot(engine, data) == before


def test_coco_import_with_bad_annotations_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text('{"images": [{"id": 1, "file_name": "../../../etc/passwd", "width": 10, "height": 10}],'
                   ' "annotations": [{"image_id": 1, "bbox": [0, 0, "x", 5], "category_id": 1}],'
                   ' "categories": [{"id": 1, "name": "stall"}]}')  # fmt: skip
    (tmp_path / "bad.json").write_text("{bad json")
    for src in (ann, tmp_path / "bad.json"):
        out = tmp_path / f"out-{src.stem}"
        assert main(["datasets", "import", "--format", "coco", "--train", str(src), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"cityeye: error: {src}")
        assert not out.exists() or not any(out.rglob("*.jpg"))


def test_a_broken_video_is_one_line_on_the_real_stderr(tmp_path: Path) -> None:
    """FFmpeg's own complaints ("moov atom not found") do not reach the terminal: one line, exit 1."""
    import subprocess
    import sys

    from tests.servers import REPO, cityeye_env

    path = write_corpus(tmp_path / "v", [b for b in MEDIA if b.name == "corrupt_mp4"])["corrupt_mp4"]
    env = cityeye_env(tmp_path / "d", CITYEYE_DETECTOR__BACKEND="pytorch")
    proc = subprocess.run([sys.executable, "-m", "cityeye.cli", "detect", str(path)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"cityeye: error: {path}: unreadable video (no decoder could open it)"
    ], proc.stderr

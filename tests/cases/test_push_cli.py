"""`cityeye webhooks list | retry`: the dead-letter list from the command line, on the real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import Engine

from cases.db import session_factory
from cases.push import WebhookDeliverer
from cases.service import CaseService
from cityeye.config import Settings
from models.taxonomy import load_taxonomy
from tests.cases.factories import make_event, north_of
from tests.cases.test_push import push_settings
from tests.servers import cityeye_env


def cli(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump({"database_url": settings.db_url}))
    return subprocess.run(
        [sys.executable, "-m", "cityeye.cli", "webhooks", *args],
        env=cityeye_env(tmp_path / "cli-data", CITYEYE_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dead_letters_are_listed_and_retried_from_the_cli(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    push = push_settings("http://127.0.0.1:9/hook", max_attempts=1)  # nothing listens: dead after one try
    s = settings.model_copy(update={"push": push})
    service = CaseService(session_factory(engine), s, load_taxonomy())
    case_id = service.ingest(make_event(geo=north_of(0), evidence=())).case_id
    deliverer = WebhookDeliverer(session_factory(engine), push)
    assert deliverer.deliver_due() == 1
    (dead,) = deliverer.dead_letters()

    listed = cli(settings, tmp_path, "list", "--state", "dead")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(str(dead.id)))
    assert row.split()[:5] == [str(dead.id), "dead", "case.created", str(case_id), "1"] and "ConnectError" in row
    assert listed.stdout.strip().endswith("1 deliveries (dead)")

    retried = cli(settings, tmp_path, "retry", str(dead.id))
    assert retried.returncode == 0 and f"delivery {dead.id} is pending again" in retried.stdout
    (again,) = deliverer.deliveries()
    assert (again.state, again.attempts) == ("pending", 0)

    wrong = cli(settings, tmp_path, "retry", str(dead.id))  # pending now, not dead
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [f"cityeye: error: no dead webhook delivery {dead.id}"]
    deliverer.stop()

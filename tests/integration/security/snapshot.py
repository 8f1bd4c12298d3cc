"""What "the other data is untouched" means in these tests: every table's rows and every file under the data dir."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Engine, MetaData, select

SKIP_FILES = {"cityeye.db", "cityeye.db-wal", "cityeye.db-shm"}  # compared through their rows instead
# caches a command may create on first use: the registry's copy of the bundled model, ultralytics' settings
SKIP_DIRS = {"models", "ultralytics"}


def table_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for name, table in sorted(meta.tables.items())
            if name != "alembic_version"
        }


def files(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in SKIP_FILES and p.relative_to(root).parts[0] not in SKIP_DIRS
    }


def snapshot(engine: Engine, data_dir: Path) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, str]]:
    return table_rows(engine), files(data_dir)


def counts(engine: Engine) -> dict[str, int]:
    return {name: len(rows) for name, rows in table_rows(engine).items()}

"""district scope: cameras and surveys get a district; district ids become case-insensitive (lower case)

Existing district values of cases and API keys are put in their canonical form (trimmed, case-folded), so a
case of `Huangpu` stays visible to a key of `huangpu`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("cameras", "surveys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("district", sa.String(64), nullable=True))
        op.create_index(f"ix_{table}_district", table, ["district"])
    conn = op.get_bind()
    for (old,) in conn.execute(sa.text("SELECT DISTINCT district FROM cases WHERE district IS NOT NULL")).all():
        new = old.strip().casefold()
        if new != old:
            conn.execute(sa.text("UPDATE cases SET district = :new WHERE district = :old"), {"new": new, "old": old})
    for key_id, raw in conn.execute(sa.text("SELECT id, districts FROM api_keys")).all():
        districts = json.loads(raw) if isinstance(raw, str) else (raw or [])
        clean = sorted({d.strip().casefold() for d in districts if d.strip()})
        if clean != districts:
            stmt = sa.text("UPDATE api_keys SET districts = :d WHERE id = :id")
            conn.execute(stmt.bindparams(sa.bindparam("d", type_=sa.JSON)), {"d": clean, "id": key_id})


def downgrade() -> None:
    for table in ("surveys", "cameras"):
        op.drop_index(f"ix_{table}_district", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("district")

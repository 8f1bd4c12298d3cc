"""predictive scoring on cases: P(confirmed), score (P × severity), reasons, scorer version, scored_at

`score` starts as the case's severity (an unscored case counts as P = 1, so sort=priority keeps its old order
until a scorer is promoted) and is indexed with `due_at` and `id` for sort=priority.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("p_confirmed", sa.Float(), nullable=True))
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("score_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("scorer_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE cases SET score = severity")
    op.create_index("ix_cases_score_due_at_id", "cases", ["score", "due_at", "id"])
    op.create_index("ix_cases_p_confirmed", "cases", ["p_confirmed"])


def downgrade() -> None:
    op.drop_index("ix_cases_p_confirmed", table_name="cases")
    op.drop_index("ix_cases_score_due_at_id", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for name in ("scored_at", "scorer_version", "score_reasons", "score", "p_confirmed"):
            batch.drop_column(name)

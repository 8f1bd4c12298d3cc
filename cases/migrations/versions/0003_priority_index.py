"""priority index: (severity, due_at, id) on cases, for `GET /cases?sort=priority`

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # priority = severity × (2 if overdue else 1) depends on the time of the request, so no stored column can
    # hold it; the list query reads each (severity, overdue/not/no deadline) stream off this index in order.
    op.create_index("ix_cases_severity_due_at_id", "cases", ["severity", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_severity_due_at_id", table_name="cases")

"""lifecycle: SLA deadlines, district, verdict, links; audit log, API keys, webhook outbox

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# status → the lifecycle step whose time limit runs while a case is in it (cases.lifecycle.STEP_OF_STATUS)
_STEP_OF_STATUS = {
    "detected": "register",
    "registered": "dispatch",
    "dispatched": "handle",
    "handled": "verify",
    "verified": "close",
}


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("severity", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))
        batch.add_column(sa.Column("department", sa.String(128), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(16), nullable=True))
        batch.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("repeat_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("status_since", ts, nullable=True))
        batch.add_column(sa.Column("due_at", ts, nullable=True))
        for name in ("registered_at", "dispatched_at", "handled_at", "verified_at", "closed_at"):
            batch.add_column(sa.Column(name, ts, nullable=True))
        batch.create_foreign_key("fk_cases_duplicate_of_cases", "cases", ["duplicate_of"], ["id"], ondelete="SET NULL")
        batch.create_foreign_key("fk_cases_repeat_of_cases", "cases", ["repeat_of"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_cases_district", ["district"])
        batch.create_index("ix_cases_due_at", ["due_at"])

    _backfill()

    with op.batch_alter_table("cases") as batch:
        batch.alter_column("status_since", existing_type=ts, nullable=False)
        batch.alter_column("severity", existing_type=sa.Integer(), server_default=None)
        batch.alter_column("reopen_count", existing_type=sa.Integer(), server_default=None)

    op.create_table(
        "case_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_audit_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_audit"),
    )
    op.create_index("ix_case_audit_case_id", "case_audit", ["case_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("revoked_at", ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ts, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("delivered_at", ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_state_next_attempt_at", "webhook_deliveries", ["state", "next_attempt_at"])


def _backfill() -> None:
    """Existing cases: severity from the shipped taxonomy, status_since = updated_at, due_at from the SLA."""
    from models.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, category, status, updated_at FROM cases")).all()
    for case_id, category, status, updated_at in rows:
        since = updated_at if isinstance(updated_at, datetime) else datetime.fromisoformat(str(updated_at))
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        cat = taxonomy.categories.get(category)
        step = _STEP_OF_STATUS.get(status)
        due = since + timedelta(hours=cat.sla_hours.hours(step)) if cat and step else None
        if conn.dialect.name == "sqlite":  # SQLite stores naive UTC (cases.orm.UTCDateTime)
            since = since.replace(tzinfo=None)
            due = due.replace(tzinfo=None) if due else None
        conn.execute(
            sa.text("UPDATE cases SET severity = :sev, status_since = :since, due_at = :due WHERE id = :id"),
            {"sev": cat.severity if cat else 1, "since": since, "due": due, "id": case_id},
        )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("api_keys")
    op.drop_table("case_audit")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_due_at")
        batch.drop_index("ix_cases_district")
        batch.drop_constraint("fk_cases_repeat_of_cases", type_="foreignkey")
        batch.drop_constraint("fk_cases_duplicate_of_cases", type_="foreignkey")
        for name in (
            "closed_at",
            "verified_at",
            "handled_at",
            "dispatched_at",
            "registered_at",
            "due_at",
            "status_since",
            "reopen_count",
            "repeat_of",
            "duplicate_of",
            "verdict",
            "department",
            "district",
            "severity",
        ):
            batch.drop_column(name)

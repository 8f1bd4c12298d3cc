"""citizen reports (Open311 POST): citizen_reports and, apart from them, citizen_contacts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizen_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("app", sa.String(128), nullable=False),
        sa.Column("client_ref", sa.String(128), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("service_code", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address_string", sa.String(500), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("media_url", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_citizen_reports_case_id_cases", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_reports"),
        sa.UniqueConstraint("token", name="uq_citizen_reports_token"),
        sa.UniqueConstraint("app", "client_ref", name="uq_citizen_reports_app_client_ref"),
    )
    op.create_index("ix_citizen_reports_case_id", "citizen_reports", ["case_id"])
    op.create_table(
        "citizen_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["citizen_reports.id"],
            name="fk_citizen_contacts_report_id_citizen_reports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_contacts"),
        sa.UniqueConstraint("report_id", name="uq_citizen_contacts_report_id"),
    )


def downgrade() -> None:
    op.drop_table("citizen_contacts")
    op.drop_table("citizen_reports")

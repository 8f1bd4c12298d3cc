"""drone surveys: surveys, survey_files, survey_findings, permits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("area", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("flight", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("files_total", sa.Integer, nullable=False),
        sa.Column("files_done", sa.Integer, nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("current_file", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.Column("findings_count", sa.Integer, nullable=False),
        sa.Column("cases_created", sa.Integer, nullable=False),
        sa.Column("cases_merged", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_surveys_area", "surveys", ["area"])
    op.create_table(
        "survey_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("survey_id", sa.Integer, sa.ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("detections", sa.Integer, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("survey_id", "sha256", name="uq_survey_files_survey_id_sha256"),
    )
    op.create_index("ix_survey_files_survey_id", "survey_files", ["survey_id"])
    op.create_table(
        "survey_findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("survey_id", sa.Integer, sa.ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("survey_files.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("x1", sa.Float, nullable=False),
        sa.Column("y1", sa.Float, nullable=False),
        sa.Column("x2", sa.Float, nullable=False),
        sa.Column("y2", sa.Float, nullable=False),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL")),
        sa.Column("permit", sa.String(200)),
        sa.Column("note", sa.String(500), nullable=False),
    )
    op.create_index("ix_survey_findings_survey_id", "survey_findings", ["survey_id"])
    op.create_table(
        "permits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("area", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("ring", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_permits_area", "permits", ["area"])


def downgrade() -> None:
    op.drop_table("permits")
    op.drop_table("survey_findings")
    op.drop_table("survey_files")
    op.drop_table("surveys")

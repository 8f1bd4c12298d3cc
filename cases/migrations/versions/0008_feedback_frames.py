"""data-team loop: feedback_frames (verdicts, corrections and active-learning samples with their full frames)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("image", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("labelled", sa.Boolean(), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_feedback_frames_case_id_cases", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name="fk_feedback_frames_observation_id_observations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_frames"),
        sa.UniqueConstraint("origin", "observation_id", name="uq_feedback_frames_origin_observation_id"),
    )
    op.create_index("ix_feedback_frames_origin", "feedback_frames", ["origin"])
    op.create_index("ix_feedback_frames_case_id", "feedback_frames", ["case_id"])
    op.create_index("ix_feedback_frames_sha256", "feedback_frames", ["sha256"])


def downgrade() -> None:
    op.drop_table("feedback_frames")

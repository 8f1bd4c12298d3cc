"""cameras: the street cameras `cityeye streams` watches, their last reported status; observations.tracker_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("tracker_id", sa.Integer(), nullable=True))
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
    )
    op.create_table(
        "camera_status",
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_camera_status_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_status")),
    )


def downgrade() -> None:
    op.drop_table("camera_status")
    op.drop_table("cameras")
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("tracker_id")

"""Board change log and its per-pipeline position, for the live deal board.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_positions",
        sa.Column("pipeline_id", sa.Uuid(), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "board_changes",
        sa.Column("pipeline_id", sa.Uuid(), primary_key=True),
        sa.Column("position", sa.BigInteger(), primary_key=True),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("was_present", sa.Boolean(), nullable=False),
        sa.Column("was_owner_id", sa.String(255), nullable=True),
        sa.Column("was_department", sa.String(255), nullable=True),
        sa.Column("was_workgroup", sa.String(255), nullable=True),
        sa.Column("is_present", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    )
    # Every existing pipeline starts at position 0, so the first change of each is position 1.
    op.execute("INSERT INTO board_positions (pipeline_id, position) SELECT id, 0 FROM pipelines")


def downgrade() -> None:
    op.drop_table("board_changes")
    op.drop_table("board_positions")

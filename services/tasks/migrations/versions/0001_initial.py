"""Deal references and the runtime tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "deal_references",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("primary_contact_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "deal_references",
        "aggregate_versions",
        "processed_events",
        "outbox",
    ):
        op.drop_table(table)

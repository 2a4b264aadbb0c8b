"""Runtime tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from alembic import op

from servicekit.migrations import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)


def downgrade() -> None:
    for table in ("aggregate_versions", "processed_events", "outbox"):
        op.drop_table(table)

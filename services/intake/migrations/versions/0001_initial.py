"""Raw requests and the runtime tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime
from servicekit.migrations import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "raw_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("endpoint", "idempotency_key", name="uq_raw_requests_idempotency"),
    )
    op.create_index("ix_raw_requests_status", "raw_requests", ["status"])


def downgrade() -> None:
    op.drop_table("raw_requests")
    op.drop_table("aggregate_versions")
    op.drop_table("processed_events")
    op.drop_table("outbox")

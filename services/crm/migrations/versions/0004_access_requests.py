"""Access requests: a user asks a record's owner for read access, and the owner grants it for some days.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey("deals.id"), nullable=True),
        sa.Column("requester_id", sa.String(255), nullable=False, index=True),
        sa.Column("requester_name", sa.String(255), nullable=True),
        sa.Column("requester_department", sa.String(255), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True, index=True),
        sa.Column("owner_department", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by_id", sa.String(255), nullable=True),
        sa.Column("decided_by_name", sa.String(255), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    # At most one pending request per user and record, even when two arrive at the same moment.
    op.create_index(
        "uq_access_requests_pending",
        "access_requests",
        ["requester_id", "record_type", "record_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_access_requests_pending", table_name="access_requests")
    op.drop_table("access_requests")

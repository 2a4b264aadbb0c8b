"""Access of deals and companies, for the records linked to them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_access",
        sa.Column("record_id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
    )
    op.create_index("ix_record_access_request_id", "record_access", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_record_access_request_id", table_name="record_access")
    op.drop_table("record_access")

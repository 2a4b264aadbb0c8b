"""Department of a channel's inquiry deals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as table:
        table.add_column(sa.Column("department", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as table:
        table.drop_column("department")

"""Keep a projected document's workgroup, so the workspace hides workgroup documents from non-members.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_views") as batch:
        batch.add_column(sa.Column("workgroup", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document_views") as batch:
        batch.drop_column("workgroup")

"""Tasks, observers and history; projections of CRM companies and contacts; more deal fields.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_HISTORY_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deal_references") as batch:
        batch.add_column(sa.Column("contact_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("client_legal_entity_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("our_legal_entity_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("workgroup", sa.String(255), nullable=True))
        batch.add_column(sa.Column("stage_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("stage_semantics", sa.String(20), nullable=True))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "company_references",
        sa.Column("company_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "contact_references",
        sa.Column("contact_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )

    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("creator_id", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("expected_result", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("return_reason", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("visible_to_client", sa.Boolean(), nullable=False),
        sa.Column("result_required", sa.Boolean(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=True),
        sa.UniqueConstraint("creator_id", "request_key", name="uq_tasks_creator_request_key"),
    )
    for column in ("company_id", "contact_id", "deal_id", "owner_id"):
        op.create_index(f"ix_tasks_{column}", "tasks", [column])

    op.create_table(
        "task_observers",
        sa.Column("task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(255), primary_key=True),
    )
    op.create_index("ix_task_observers_user_id", "task_observers", ["user_id"])

    op.create_table(
        "task_history",
        sa.Column("id", _HISTORY_ID, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("actor_type", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_task_history_task_id", "task_history", ["task_id"])


def downgrade() -> None:
    for table in ("task_history", "task_observers", "tasks", "contact_references", "company_references"):
        op.drop_table(table)
    with op.batch_alter_table("deal_references") as batch:
        for column in (
            "deleted",
            "stage_semantics",
            "stage_name",
            "workgroup",
            "our_legal_entity_id",
            "client_legal_entity_id",
            "project_id",
            "contact_ids",
        ):
            batch.drop_column(column)

"""Pipelines, stages, deals, the runtime tables and the default sales pipeline.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import uuid

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime
from servicekit.migrations import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SALES_PIPELINE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f0001")
SALES_STAGES = [
    ("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1001", "New", "in_progress"),
    ("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1002", "Qualified", "in_progress"),
    ("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1003", "Proposal", "in_progress"),
    ("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1004", "Won", "won"),
    ("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1005", "Lost", "lost"),
]


def upgrade() -> None:
    create_runtime_tables(op)
    pipelines = op.create_table(
        "pipelines",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
    )
    stages = op.create_table(
        "stages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("pipeline_id", sa.Uuid(), sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("semantics", sa.String(20), nullable=False),
    )
    op.create_table(
        "deals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("stage_id", sa.Uuid(), sa.ForeignKey("stages.id"), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("contact_name", sa.String(500), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True, unique=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.bulk_insert(pipelines, [{"id": SALES_PIPELINE_ID, "key": "sales", "name": "Sales"}])
    op.bulk_insert(
        stages,
        [
            {
                "id": uuid.UUID(stage_id),
                "pipeline_id": SALES_PIPELINE_ID,
                "name": name,
                "position": i,
                "semantics": kind,
            }
            for i, (stage_id, name, kind) in enumerate(SALES_STAGES)
        ],
    )


def downgrade() -> None:
    for table in (
        "deals",
        "stages",
        "pipelines",
        "aggregate_versions",
        "processed_events",
        "outbox",
    ):
        op.drop_table(table)

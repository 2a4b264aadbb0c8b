"""Clients, legal entities, projects, custom fields, stage rules, deal details, markers and projections.

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


def _audit_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


def upgrade() -> None:
    _create_client_tables()
    _extend_pipelines()
    _extend_deals()
    _create_projection_tables()


def _create_client_tables() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("tax_id", sa.String(50), nullable=True, index=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("email_domains", sa.JSON(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        *_audit_columns(),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), sa.ForeignKey("companies.id"), nullable=True, index=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        *_audit_columns(),
    )
    op.create_table(
        "contact_identities",
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("value", sa.String(400), primary_key=True, index=True),
    )
    op.create_table(
        "legal_entities",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), sa.ForeignKey("companies.id"), nullable=True, index=True),
        sa.Column("is_own", sa.Boolean(), nullable=False),
        sa.Column("legal_name", sa.String(500), nullable=False),
        sa.Column("legal_form", sa.String(100), nullable=True),
        sa.Column("tax_id", sa.String(50), nullable=True, index=True),
        sa.Column("registration_numbers", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("bank_accounts", sa.JSON(), nullable=False),
        *_audit_columns(),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), sa.ForeignKey("companies.id"), nullable=True, index=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        *_audit_columns(),
    )


def _extend_pipelines() -> None:
    with op.batch_alter_table("stages") as batch:
        batch.add_column(sa.Column("required_fields", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("exit_conditions", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_days", sa.Integer(), nullable=True))
    op.create_table(
        "pipeline_fields",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("pipeline_id", sa.Uuid(), sa.ForeignKey("pipelines.id"), nullable=False, index=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("pipeline_id", "key", name="uq_pipeline_fields_pipeline_id_key"),
    )


def _extend_deals() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("workgroup", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("company_id", sa.Uuid(), sa.ForeignKey("companies.id", name="fk_deals_company_id_companies"))
        )
        batch.add_column(
            sa.Column("primary_contact_id", sa.Uuid(), sa.ForeignKey("contacts.id", name="fk_deals_primary_contact"))
        )
        batch.add_column(
            sa.Column(
                "client_legal_entity_id",
                sa.Uuid(),
                sa.ForeignKey("legal_entities.id", name="fk_deals_client_legal_entity"),
            )
        )
        batch.add_column(
            sa.Column(
                "our_legal_entity_id",
                sa.Uuid(),
                sa.ForeignKey("legal_entities.id", name="fk_deals_our_legal_entity"),
            )
        )
        batch.add_column(
            sa.Column("project_id", sa.Uuid(), sa.ForeignKey("projects.id", name="fk_deals_project_id_projects"))
        )
        batch.add_column(sa.Column("next_step", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("next_step_due_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("custom_fields", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("stage_entered_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("touched_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("attention_task_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("attention_since", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("markers", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_deals_company_id", ["company_id"])
        batch.create_index("ix_deals_project_id", ["project_id"])
    # Deals of the first migration entered their stage and were last touched when created.
    op.execute("UPDATE deals SET stage_entered_at = created_at, touched_at = updated_at")
    with op.batch_alter_table("deals") as batch:
        batch.alter_column("stage_entered_at", existing_type=UtcDateTime(), nullable=False)
        batch.alter_column("touched_at", existing_type=UtcDateTime(), nullable=False)

    op.create_table(
        "deal_contacts",
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey("deals.id"), primary_key=True),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id"), primary_key=True, index=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "deal_comments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey("deals.id"), nullable=False, index=True),
        sa.Column("author_id", sa.String(255), nullable=False),
        sa.Column("author_name", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "deal_timeline",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey("deals.id"), nullable=False, index=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("cause", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("link", sa.JSON(), nullable=True),
    )
    op.create_table(
        "marker_snoozes",
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey("deals.id"), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def _create_projection_tables() -> None:
    op.create_table(
        "task_views",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("project_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("result_text", sa.Text(), nullable=True),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "document_views",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(1000), nullable=False),
        sa.Column("number", sa.String(100), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("project_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "file_views",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("file_name", sa.String(1000), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("project_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "file_views",
        "document_views",
        "task_views",
        "marker_snoozes",
        "deal_timeline",
        "deal_comments",
        "deal_contacts",
    ):
        op.drop_table(table)
    with op.batch_alter_table("deals") as batch:
        batch.drop_index("ix_deals_project_id")
        batch.drop_index("ix_deals_company_id")
        for column in (
            "deleted",
            "markers",
            "attention_since",
            "attention_task_id",
            "touched_at",
            "stage_entered_at",
            "custom_fields",
            "next_step_due_at",
            "next_step",
            "project_id",
            "our_legal_entity_id",
            "client_legal_entity_id",
            "primary_contact_id",
            "company_id",
            "workgroup",
        ):
            batch.drop_column(column)
    op.drop_table("pipeline_fields")
    with op.batch_alter_table("stages") as batch:
        for column in ("max_days", "exit_conditions", "required_fields"):
            batch.drop_column(column)
    for table in ("projects", "legal_entities", "contact_identities", "contacts", "companies"):
        op.drop_table(table)

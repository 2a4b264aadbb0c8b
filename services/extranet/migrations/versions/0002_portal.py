"""Sharing policies, source candidates, the client view, invitations, portal users, sessions and audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from servicekit.db import AutoId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ids(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Uuid(), nullable=True, index=True) for name in names]


def upgrade() -> None:
    # source_deals replaces the deal projection of 0001, which held ids only; since every deal event
    # carries the deal's full state, the next event of an older deal fills its row.
    op.drop_table("client_deals")

    op.create_table(
        "sharing_policies",
        sa.Column("company_id", sa.Uuid(), primary_key=True),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "source_companies",
        sa.Column("company_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "source_contacts",
        sa.Column("contact_id", sa.Uuid(), primary_key=True),
        *_ids("company_id"),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "source_deals",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        *_ids("company_id"),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("stage_name", sa.String(255), nullable=False),
        sa.Column("stage_semantics", sa.String(20), nullable=False),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "source_tasks",
        sa.Column("task_id", sa.Uuid(), primary_key=True),
        *_ids("company_id"),
        sa.Column("visible_to_client", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("status", sa.String(20), nullable=True),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("public_text", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "source_versions",
        sa.Column("version_id", sa.Uuid(), primary_key=True),
        sa.Column("document_id", sa.Uuid(), nullable=False, index=True),
        *_ids("company_id"),
        sa.Column("document_title", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "source_files",
        sa.Column("file_id", sa.Uuid(), primary_key=True),
        *_ids("company_id"),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    _create_view_tables()
    _create_access_tables()


def _create_view_tables() -> None:
    op.create_table(
        "view_deals",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("stage_name", sa.String(255), nullable=True),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
    )
    op.create_table(
        "view_tasks",
        sa.Column("task_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("public_text", sa.Text(), nullable=True),
    )
    op.create_table(
        "view_versions",
        sa.Column("version_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("document_title", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "view_files",
        sa.Column("file_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )


def _create_access_tables() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("invited_by", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("portal_user_id", sa.Uuid(), nullable=True),
    )
    op.create_table(
        "portal_users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "portal_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("portal_user_id", sa.Uuid(), sa.ForeignKey("portal_users.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "access_log",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("portal_user_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("object_type", sa.String(30), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_access_log_company_id_id", "access_log", ["company_id", "id"])


def downgrade() -> None:
    for table in (
        "access_log",
        "portal_sessions",
        "portal_users",
        "invitations",
        "view_files",
        "view_versions",
        "view_tasks",
        "view_deals",
        "source_files",
        "source_versions",
        "source_tasks",
        "source_contacts",
        "source_deals",
        "source_companies",
        "sharing_policies",
    ):
        op.drop_table(table)
    op.create_table(
        "client_deals",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=True),
    )

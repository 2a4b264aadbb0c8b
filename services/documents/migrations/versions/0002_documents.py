"""Documents, versions, comments, send records, files, and the CRM projections the check relies on.

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


def upgrade() -> None:
    with op.batch_alter_table("deal_references") as batch:
        batch.add_column(sa.Column("department", sa.String(255), nullable=True))
        batch.add_column(sa.Column("workgroup", sa.String(255), nullable=True))
        batch.add_column(sa.Column("client_legal_entity_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("our_legal_entity_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "company_references",
        sa.Column("company_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("email_domains", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "legal_entity_references",
        sa.Column("legal_entity_id", sa.Uuid(), primary_key=True),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("is_own", sa.Boolean(), nullable=False),
        sa.Column("legal_name", sa.String(1000), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("number", sa.String(100), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("client_legal_entity_id", sa.Uuid(), nullable=True),
        sa.Column("our_legal_entity_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("workgroup", sa.String(255), nullable=True),
        sa.Column("final_version_id", sa.Uuid(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "document_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("document_id", sa.Uuid(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(255), nullable=False),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.UniqueConstraint("document_id", "number"),
    )
    op.create_table(
        "document_comments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "document_id", sa.Uuid(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("version_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.String(255), nullable=False),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "document_sends",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "document_id", sa.Uuid(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient_email", sa.String(320), nullable=True),
        sa.Column("recipient_company_id", sa.Uuid(), nullable=True),
        sa.Column("sent_by", sa.String(255), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("company_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("department", sa.String(255), nullable=True),
        sa.Column("shared_with_client", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "files",
        "document_sends",
        "document_comments",
        "document_versions",
        "documents",
        "legal_entity_references",
        "company_references",
    ):
        op.drop_table(table)
    with op.batch_alter_table("deal_references") as batch:
        for column in (
            "deleted",
            "project_id",
            "our_legal_entity_id",
            "client_legal_entity_id",
            "workgroup",
            "department",
        ):
            batch.drop_column(column)

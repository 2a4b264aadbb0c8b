"""Outcomes and dedupe keys of raw requests, forms, channel connections, and the default website form.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A fresh installation answers the website's contact form, as before forms had settings.
DEFAULT_FORM = {
    "title": "Website contact form",
    "honeypot_field": "website",
}


def upgrade() -> None:
    with op.batch_alter_table("raw_requests") as table:
        table.add_column(sa.Column("kind", sa.String(32), nullable=False, server_default="form"))
        table.add_column(sa.Column("query", sa.Text(), nullable=False, server_default=""))
        table.add_column(sa.Column("body_sha256", sa.String(64), nullable=False, server_default=""))
        table.add_column(sa.Column("reason", sa.String(64), nullable=True))
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        table.add_column(sa.Column("delivery_id", sa.String(255), nullable=True))
        table.add_column(sa.Column("dedupe_key", sa.String(400), nullable=True))
        table.add_column(sa.Column("duplicate_of", sa.Uuid(), nullable=True))
        table.add_column(sa.Column("thread_of", sa.Uuid(), nullable=True))
        table.add_column(sa.Column("summary", sa.JSON(), nullable=True))
        table.add_column(sa.Column("deal_id", sa.Uuid(), nullable=True))
        table.add_column(sa.Column("deal", sa.JSON(), nullable=True))
    op.create_index("ix_raw_requests_dedupe_key", "raw_requests", ["dedupe_key"])
    op.create_index("ix_raw_requests_endpoint_body", "raw_requests", ["endpoint", "body_sha256"])
    op.create_index("ix_raw_requests_rate", "raw_requests", ["endpoint", "remote_addr", "received_at"])
    op.create_index("ix_raw_requests_received_at", "raw_requests", ["received_at"])

    forms = op.create_table(
        "forms",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("round_robin", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "channels",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("verify_token", sa.Text(), nullable=True),
        sa.Column("form_key", sa.String(100), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    now = datetime.now(UTC)
    op.execute(
        forms.insert().values(
            key="website-contact", config=DEFAULT_FORM, round_robin={}, created_at=now, updated_at=now
        )
    )


def downgrade() -> None:
    op.drop_table("channels")
    op.drop_table("forms")
    op.drop_index("ix_raw_requests_received_at", "raw_requests")
    op.drop_index("ix_raw_requests_rate", "raw_requests")
    op.drop_index("ix_raw_requests_endpoint_body", "raw_requests")
    op.drop_index("ix_raw_requests_dedupe_key", "raw_requests")
    with op.batch_alter_table("raw_requests") as table:
        for column in (
            "deal",
            "deal_id",
            "thread_of",
            "duplicate_of",
            "summary",
            "dedupe_key",
            "delivery_id",
            "last_error",
            "attempts",
            "reason",
            "body_sha256",
            "query",
            "kind",
        ):
            table.drop_column(column)

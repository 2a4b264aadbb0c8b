"""Alembic migrations per service, applied at start-up on the service's own engine."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import AutoId, UtcDateTime

logger = logging.getLogger(__name__)


def alembic_config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, script_location: Path) -> None:
    """Upgrade the service's database to the newest revision."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(script_location, connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)
    logger.info("database migrated to head (%s)", script_location.parent.name)


def run_env(context: Any, target_metadata: sa.MetaData) -> None:
    """Body of every service's ``env.py``: run migrations on the connection the service passed in."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through 'clientwork migrate SERVICE', which passes a connection")
    # Batch mode lets ALTER TABLE work on SQLite, the embedded default.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def create_runtime_tables(op: Any) -> None:
    """Create the outbox, processed-event and aggregate-version tables of the shared runtime."""
    op.create_table(
        "outbox",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
    )
    # Only unsent rows are scanned, so a partial index stays small however long the outbox grows.
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "aggregate_versions",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("aggregate_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )

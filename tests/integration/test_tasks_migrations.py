"""The tasks migrations on real PostgreSQL: 0002 upgrades a database that already holds deal references."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from servicekit.db import create_engine, create_sessionmaker
from servicekit.migrations import alembic_config
from services.tasks.bootstrap import MIGRATIONS
from services.tasks.tables import DealReference

pytestmark = pytest.mark.integration


async def test_upgrade_keeps_deal_references(database_url: str) -> None:
    engine = create_engine(database_url)
    deal_id = uuid.uuid4()

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            command.upgrade(alembic_config(MIGRATIONS, connection), revision)

        return run

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("0001"))
            await connection.execute(
                text("INSERT INTO deal_references (deal_id, title) VALUES (:id, 'Old deal')"), {"id": deal_id}
            )
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("head"))

        async with create_sessionmaker(engine)() as session:
            reference = await session.get(DealReference, deal_id)
        assert reference is not None
        assert reference.title == "Old deal"
        assert reference.contact_ids == []
        assert reference.deleted is False
    finally:
        await engine.dispose()

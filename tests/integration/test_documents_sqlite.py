"""The documents service's embedded default: its migrations and a use case on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts.envelope import Actor, ActorType
from servicekit.db import OutboxMessage
from servicekit.migrations import migrate
from services.documents.bootstrap import create_runtime
from services.documents.handlers import Context, CreateDocument, create_document
from services.documents.settings import DocumentsSettings
from services.documents.tables import Document

pytestmark = pytest.mark.integration


async def test_sqlite_migrates_and_records_event(tmp_path: Path) -> None:
    # database_url=None overrides a DATABASE_URL that scripts/test exports for the server tiers.
    settings = DocumentsSettings(database_url=None, data_dir=tmp_path, environment="test")
    runtime = create_runtime(settings)
    try:
        await migrate(runtime.engine, runtime.migrations)
        context = Context(settings, Actor(type=ActorType.USER, id="u-1"), "corr-1")
        async with runtime.sessionmaker() as session, session.begin():
            created = await create_document(session, context, CreateDocument(kind="act", title="Act 1"))

        async with runtime.sessionmaker() as session:
            stored = await session.get(Document, created.id)
            events = await session.scalar(select(func.count()).select_from(OutboxMessage))
    finally:
        await runtime.engine.dispose()

    assert (tmp_path / "documents.db").exists()
    assert stored is not None
    assert stored.title == "Act 1"
    assert events == 1

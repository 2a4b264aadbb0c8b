"""The live board stream on the embedded SQLite database, where streams wake on local commits or poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.crm.tables import SALES_PIPELINE_ID
from tests.board_support import open_stream, serve_app
from tests.integration.crm.conftest import SALES, Crm, create

pytestmark = pytest.mark.integration

PIPELINE = str(SALES_PIPELINE_ID)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
async def base_url(crm: Crm) -> AsyncIterator[str]:
    async with serve_app(crm.app) as url:
        yield url


async def sales_deal(crm: Crm, title: str) -> dict[str, Any]:
    return await create(crm, "/deals", {"title": title, "amount": "5.00", "currency": "EUR"}, headers=SALES)


async def test_sqlite_stream_and_resume(crm: Crm, base_url: str) -> None:
    first = await sales_deal(crm, "Первая")
    reader = await open_stream(base_url, PIPELINE, SALES)
    try:
        snapshot = await reader.next()
        assert [card["id"] for card in snapshot.data["deals"]] == [first["id"]]
        second = await sales_deal(crm, "Вторая")
        update = await reader.next()
        assert [card["id"] for card in update.data["deals"]] == [second["id"]]
        assert next(iter(update.data["totals"]["stages"].values()))["sums"] == {"EUR": "10.00"}
    finally:
        await reader.close()

    third = await sales_deal(crm, "Третья")
    resumed = await open_stream(base_url, PIPELINE, SALES, update.id)
    try:
        event = await resumed.next()
    finally:
        await resumed.close()
    assert event.kind == "update"
    assert [card["id"] for card in event.data["deals"]] == [third["id"]]

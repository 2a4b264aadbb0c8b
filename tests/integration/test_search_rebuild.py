"""A rebuild from the topics while queries run: no query fails and the results do not change."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import pytest

from contracts.topics import Topic
from servicekit.auth import Principal
from services.search.documents import Domain
from services.search.linking import AccessStore
from services.search.rebuild import ProgressBar, Rebuild
from tests.conftest import Servers
from tests.search_support import SearchService, contact, deal, publish, search_service
from tests.support import eventually

pytestmark = pytest.mark.integration

__all__ = ["search_service"]

ADMIN = Principal(user_id="u-admin", roles=["admin"])
USERS = (
    ADMIN,
    Principal(user_id="u-sales", department="sales"),
    Principal(user_id="u-support", department="support"),
)
#: Bound of the concurrent query loop, so a rebuild that never ends cannot hang the test.
MAX_QUERIES = 3000


async def snapshot(service: SearchService, marker: str) -> list[Any]:
    """Return every user's totals, counts and hit ids for the marker, and their suggestions."""
    results: list[Any] = []
    for user in USERS:
        page = (await service.get("/search", user, q=marker, limit=100)).json()
        results.append((page["total"], page.get("counts"), sorted(item["id"] for item in page["items"])))
        suggested = (await service.get("/suggest", user, q=f"{marker} rebu")).json()
        results.append(sorted(item["id"] for item in suggested["items"]))
    return results


async def test_rebuild_under_queries_changes_nothing(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    late_marker = uuid.uuid4().hex[:8]
    events: list[Any] = []
    for number in range(60):
        deal_id = uuid.uuid4()
        department = "sales" if number % 2 else "support"
        events.append(deal(f"Rebuilt {marker} {number}", deal_id=deal_id, department=department))
        if number % 5 == 0:
            events.append(deal(f"Rebuilt {marker} {number} renamed", deal_id=deal_id, version=2))
        if number % 7 == 0:
            events.append(deal(f"Rebuilt {marker}", deal_id=deal_id, version=3, deleted=True))
    people = [contact(f"Rebuilt {marker} person {number}", phones=[], emails=[]) for number in range(20)]
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), events)
    await publish(servers.kafka, search_service.topic(Topic.CRM_CONTACTS), people)
    expected_total = 60 - len(range(0, 60, 7)) + 20

    async def all_indexed() -> bool:
        page = (await search_service.get("/search", ADMIN, q=marker)).json()
        return bool(page["total"] == expected_total)

    await eventually(all_indexed, timeout=60)
    before = await snapshot(search_service, marker)
    old_indices = set(await search_service.index.client.indices.get_alias(name=search_service.index.alias(Domain.DEAL)))

    rebuild_done = asyncio.Event()
    failures: list[str] = []
    totals: set[int] = set()

    async def query_loop() -> int:
        count = 0
        while not rebuild_done.is_set() and count < MAX_QUERIES:
            response = await search_service.get("/search", ADMIN, q=marker)
            count += 1
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text}")
                continue
            totals.add(response.json()["total"])
        return count

    progress = io.StringIO()
    rebuild = Rebuild(
        search_service.settings,
        search_service.index.client,
        access=AccessStore(search_service.runtime.sessionmaker),
        batch_size=50,
        progress=lambda total: ProgressBar(total, stream=progress, interval=0),
    )

    async def run_rebuild() -> None:
        try:
            late = deal(f"Late {late_marker}")
            await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [late])
            await rebuild.run(drop_after=0.5)
        finally:
            rebuild_done.set()

    queries, _ = await asyncio.gather(query_loop(), run_rebuild())

    assert queries > 0
    assert failures == []
    assert totals == {expected_total}
    assert await snapshot(search_service, marker) == before
    new_indices = set(await search_service.index.client.indices.get_alias(name=search_service.index.alias(Domain.DEAL)))
    assert new_indices == {rebuild.report.indices[Domain.DEAL]}
    assert not old_indices & new_indices
    assert "100%" in progress.getvalue()
    assert await search_service.index.client.indices.exists(index=",".join(old_indices)) is False

    async def late_found() -> bool:
        page = (await search_service.get("/search", ADMIN, q=late_marker)).json()
        return bool(page["total"] == 1)

    await eventually(late_found, timeout=30)

"""The live board stream on real PostgreSQL: filtering per user, totals, coalescing, resume and removal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from contracts.tasks import ClientReference
from servicekit.auth import issue_token
from services.crm.live import prune_board_changes
from services.crm.projections import refresh_open_deal_markers
from services.crm.tables import SALES_PIPELINE_ID, AccessRequest, BoardChange
from tests.board_support import SseEvent, SseReader, open_stream, serve_app
from tests.integration.crm.conftest import ADMIN, JWT_KEY, OTHER, SALES, Crm, bearer, create
from tests.integration.crm.test_crm_loop_and_access import task_event

pytestmark = pytest.mark.integration

PIPELINE = str(SALES_PIPELINE_ID)


@pytest.fixture
def crm_overrides() -> dict[str, Any]:
    return {"board_heartbeat_seconds": 1.0}


@pytest.fixture
async def base_url(crm: Crm) -> AsyncIterator[str]:
    async with serve_app(crm.app) as url:
        yield url


@pytest.fixture
async def stage_ids(crm: Crm) -> list[str]:
    response = await crm.client.get(f"/pipelines/{PIPELINE}", headers=ADMIN)
    return [stage["id"] for stage in response.json()["stages"]]


async def new_deal(crm: Crm, title: str, amount: str, department: str, **extra: Any) -> dict[str, Any]:
    body = {"title": title, "amount": amount, "currency": "RUB", "owner_id": f"u-{department}-owner"}
    return await create(crm, "/deals", {**body, "department": department, **extra})


async def patch(crm: Crm, deal_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await crm.client.patch(f"/deals/{deal_id}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


class Board:
    """The board a client builds from the events it received."""

    def __init__(self) -> None:
        self.deals: dict[str, dict[str, Any]] = {}
        self.totals: dict[str, Any] = {}

    def apply(self, event: SseEvent) -> None:
        if event.kind == "snapshot":
            self.deals = {card["id"]: card for card in event.data["deals"]}
        else:
            self.deals.update({card["id"]: card for card in event.data["deals"]})
            for deal_id in event.data["removed"]:
                self.deals.pop(deal_id, None)
        self.totals = event.data["totals"]

    def stages(self) -> dict[str, str]:
        return {deal_id: card["stage_id"] for deal_id, card in self.deals.items()}


def position(event: SseEvent) -> int:
    assert event.id is not None
    pipeline, _, number = event.id.rpartition(":")
    assert pipeline == PIPELINE
    return int(number)


async def snapshot_of(base_url: str, headers: dict[str, str]) -> SseEvent:
    reader = await open_stream(base_url, PIPELINE, headers)
    try:
        event = await reader.next()
        assert event.kind == "snapshot"
        return event
    finally:
        await reader.close()


async def test_stream_shows_only_readable_deals(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    ours = await new_deal(crm, "Поставка серверов 🚀", "100.00", "sales")
    hidden = await new_deal(crm, "Support renewal", "999.00", "support")
    sales = await open_stream(base_url, PIPELINE, SALES)
    support = await open_stream(base_url, PIPELINE, OTHER)
    try:
        first = await sales.next()
        assert first.kind == "snapshot"
        assert first.id is not None
        assert [card["id"] for card in first.data["deals"]] == [ours["id"]]
        column = first.data["totals"]["stages"][stage_ids[0]]
        assert column["count"] == 1
        assert column["sums"] == {"RUB": "100.00"}
        assert column["markers"] == {"no_next_step": 1}
        assert [card["id"] for card in (await support.next()).data["deals"]] == [hidden["id"]]

        await new_deal(crm, "Secret support deal", "777.00", "support")
        second = await new_deal(crm, "Second sales deal", "50.00", "sales")
        update = await sales.next()
        assert update.kind == "update"
        assert [card["id"] for card in update.data["deals"]] == [second["id"]]
        assert update.data["totals"]["stages"][stage_ids[0]]["sums"] == {"RUB": "150.00"}
        assert update.data["totals"]["stages"][stage_ids[0]]["count"] == 2
        assert position(update) > position(first)
        await sales.drain(quiet=1.5)
    finally:
        await sales.close()
        await support.close()
    text = sales.text()
    # Amounts with their decimals: bare digits such as 777 also occur in timestamps.
    for secret in ("Secret support deal", "777.00", "Support renewal", "999.00", hidden["id"]):
        assert secret not in text


async def test_burst_coalesced_to_latest_state(crm: Crm, base_url: str) -> None:
    deal = await new_deal(crm, "Burst", "1.00", "sales")
    reader = await open_stream(base_url, PIPELINE, SALES)
    try:
        assert (await reader.next()).kind == "snapshot"
        for amount in range(2, 22):
            await patch(crm, deal["id"], {"amount": f"{amount}.00"})
        updates = await reader.drain(quiet=1.5)
    finally:
        await reader.close()
    assert 1 <= len(updates) < 20
    assert all(len(event.data["deals"]) == 1 for event in updates)
    assert updates[-1].data["deals"][0]["amount"] == "21.00"
    assert next(iter(updates[-1].data["totals"]["stages"].values()))["sums"] == {"RUB": "21.00"}


async def test_resume_after_disconnect(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    moved = await new_deal(crm, "Moves", "10.00", "sales")
    deleted = await new_deal(crm, "Goes away", "20.00", "sales")
    reader = await open_stream(base_url, PIPELINE, SALES)
    board = Board()
    board.apply(await reader.next())
    await reader.close()
    last_id = reader.last_id

    created = await new_deal(crm, "Created meanwhile", "30.00", "sales")
    await patch(crm, moved["id"], {"stage_id": stage_ids[1]})
    await patch(crm, moved["id"], {"amount": "15.00"})
    assert (await crm.client.delete(f"/deals/{deleted['id']}", headers=ADMIN)).status_code == 204

    resumed = await open_stream(base_url, PIPELINE, SALES, last_id)
    try:
        events = await resumed.drain(quiet=1.5)
    finally:
        await resumed.close()
    assert events
    assert all(event.kind == "update" for event in events)
    sent = [card["id"] for event in events for card in event.data["deals"]]
    assert len(sent) == len(set(sent))
    for event in events:
        board.apply(event)
    assert board.deals[moved["id"]]["stage_id"] == stage_ids[1]
    assert board.deals[moved["id"]]["amount"] == "15.00"
    assert created["id"] in board.deals
    assert deleted["id"] not in board.deals
    fresh = await snapshot_of(base_url, SALES)
    assert board.deals == {card["id"]: card for card in fresh.data["deals"]}
    assert board.totals == fresh.data["totals"]


async def test_concurrent_writers_leave_no_gap(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    deals = [await new_deal(crm, f"Concurrent {i}", "1.00", "sales") for i in range(6)]
    seen_positions: list[int] = []
    done = asyncio.Event()

    async def tail_log() -> None:
        # A reader that resumes with "position > last" must see every committed row exactly once.
        last = 0
        while True:
            finished = done.is_set()
            async with crm.runtime.sessionmaker() as session:
                rows = list(
                    await session.scalars(
                        select(BoardChange.position)
                        .where(BoardChange.pipeline_id == SALES_PIPELINE_ID, BoardChange.position > last)
                        .order_by(BoardChange.position)
                    )
                )
            seen_positions.extend(rows)
            last = rows[-1] if rows else last
            if finished:
                return
            await asyncio.sleep(0.01)

    async def writer(deal: dict[str, Any]) -> None:
        for step in range(8):
            await patch(crm, deal["id"], {"amount": f"{step + 2}.00", "stage_id": stage_ids[step % 2]})

    async def resuming_stream_reader(board: Board) -> None:
        last_id: str | None = None
        while not done.is_set():
            reader = await open_stream(base_url, PIPELINE, SALES, last_id)
            try:
                for _ in range(3):
                    board.apply(await reader.next(timeout=3))
            except TimeoutError:
                pass
            finally:
                await reader.close()
            last_id = reader.last_id

        reader = await open_stream(base_url, PIPELINE, SALES, last_id)
        for event in await reader.drain(quiet=1.5):
            board.apply(event)
        await reader.close()

    board = Board()
    tail = asyncio.create_task(tail_log())
    streamer = asyncio.create_task(resuming_stream_reader(board))
    await asyncio.gather(*(writer(deal) for deal in deals))
    done.set()
    await tail
    await streamer

    async with crm.runtime.sessionmaker() as session:
        all_positions = list(
            await session.scalars(select(BoardChange.position).where(BoardChange.pipeline_id == SALES_PIPELINE_ID))
        )
    assert sorted(all_positions) == list(range(1, len(all_positions) + 1))
    assert seen_positions == sorted(all_positions)
    fresh = await snapshot_of(base_url, SALES)
    assert board.deals == {card["id"]: card for card in fresh.data["deals"]}
    assert {card["amount"] for card in board.deals.values()} == {"9.00"}


async def test_unknown_or_old_id_gets_snapshot(crm: Crm, base_url: str) -> None:
    await new_deal(crm, "Any", "1.00", "sales")
    unknown_ids = ("999999", "not-a-number", "-3", "", f"{PIPELINE}:999999", f"{PIPELINE}:-1", f"{uuid.uuid4()}:1")
    for last_id in unknown_ids:
        reader = await open_stream(base_url, PIPELINE, SALES, last_id)
        try:
            event = await reader.next()
        finally:
            await reader.close()
        assert event.kind == "snapshot", last_id

    await new_deal(crm, "Second", "2.00", "sales")
    assert await prune_board_changes(crm.runtime.sessionmaker, timedelta(0)) == 2
    reader = await open_stream(base_url, PIPELINE, SALES, f"{PIPELINE}:1")
    try:
        assert (await reader.next()).kind == "snapshot"
    finally:
        await reader.close()


async def test_resume_at_head_sends_no_snapshot(crm: Crm, base_url: str) -> None:
    await new_deal(crm, "Quiet", "1.00", "sales")
    first = await snapshot_of(base_url, SALES)
    reader = await open_stream(base_url, PIPELINE, SALES, first.id)
    try:
        assert await reader.drain(quiet=1.5) == []
        assert ": heartbeat" in reader.raw
    finally:
        await reader.close()


async def test_unreadable_deal_removed(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    leaves = await new_deal(crm, "Leaves the department", "40.00", "sales")
    pipeline = await create(
        crm, "/pipelines", {"key": "projects", "name": "Projects", "stages": [{"name": "Start"}]}, headers=ADMIN
    )
    moves = await new_deal(crm, "Moves to projects", "60.00", "sales")
    reader = await open_stream(base_url, PIPELINE, SALES)
    board = Board()
    try:
        board.apply(await reader.next())
        assert set(board.deals) == {leaves["id"], moves["id"]}

        await patch(crm, leaves["id"], {"department": "support", "title": "Top secret title"})
        event = await reader.next()
        board.apply(event)
        assert event.data["removed"] == [leaves["id"]]
        assert event.data["deals"] == []

        await patch(crm, moves["id"], {"pipeline_id": pipeline["id"]})
        event = await reader.next()
        board.apply(event)
        assert event.data["removed"] == [moves["id"]]
        assert board.deals == {}
        assert board.totals["stages"][stage_ids[0]] == {"count": 0, "sums": {}, "markers": {}}
    finally:
        await reader.close()
    assert "Top secret title" not in reader.text()

    projects = await open_stream(base_url, pipeline["id"], SALES)
    try:
        assert [card["id"] for card in (await projects.next()).data["deals"]] == [moves["id"]]
    finally:
        await projects.close()


async def test_removal_while_disconnected(crm: Crm, base_url: str) -> None:
    leaves = await new_deal(crm, "Owner changes", "40.00", "sales")
    own = bearer("u-own", department="sales", roles=[])
    crm_own_level = await snapshot_of(base_url, own)
    assert leaves["id"] in {card["id"] for card in crm_own_level.data["deals"]}

    await patch(crm, leaves["id"], {"owner_id": "u-elsewhere", "department": "support", "title": "Moved away"})
    reader = await open_stream(base_url, PIPELINE, own, crm_own_level.id)
    try:
        events = await reader.drain(quiet=1.5)
    finally:
        await reader.close()
    assert [event.data["removed"] for event in events] == [[leaves["id"]]]
    assert "Moved away" not in reader.text()


async def test_stream_rejects_bad_requests(crm: Crm, base_url: str) -> None:
    unknown = await open_stream(base_url, str(uuid.uuid4()), SALES)
    no_token = await open_stream(base_url, PIPELINE, {})
    not_uuid = await open_stream(base_url, "board-1", SALES)
    readers: list[SseReader] = [unknown, no_token, not_uuid]
    for reader in readers:
        for _ in range(50):
            if reader.status is not None:
                break
            await asyncio.sleep(0.05)
        await reader.close()
    assert unknown.status == 404
    assert no_token.status == 401
    assert not_uuid.status == 422


async def next_with_deal(reader: SseReader, deal_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Return the first card of ``deal_id`` that an update carries."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event = await reader.next(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        for card in event.data.get("deals", []):
            if card["id"] == deal_id and event.kind == "update":
                return {"card": card, "totals": event.data["totals"]}


async def test_markers_from_projection_and_refresh(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    rules = {"max_days": 1}
    response = await crm.client.put(f"/pipelines/{PIPELINE}/stages/{stage_ids[0]}/rules", json=rules, headers=ADMIN)
    assert response.status_code == 200, response.text
    deal = await new_deal(crm, "Marked", "10.00", "sales", next_step="Call")
    reader = await open_stream(base_url, PIPELINE, SALES)
    try:
        assert (await reader.next()).kind == "snapshot"

        client = ClientReference(deal_id=uuid.UUID(deal["id"]))
        finished = datetime.now(UTC) + timedelta(seconds=1)
        await crm.publish("tasks.tasks", [task_event(uuid.uuid4(), 1, "done", client, finished_at=finished)])
        update = await next_with_deal(reader, deal["id"])
        assert update["card"]["markers"] == ["task_result"]
        assert update["totals"]["stages"][stage_ids[0]]["markers"] == {"task_result": 1}

        later = datetime.now(UTC) + timedelta(days=2)
        assert await refresh_open_deal_markers(crm.runtime.sessionmaker, crm.runtime.settings, now=later) == 1
        update = await next_with_deal(reader, deal["id"], timeout=10)
        assert update["card"]["markers"] == ["task_result", "stale_in_stage"]
        assert update["totals"]["markers"] == {"stale_in_stage": 1, "task_result": 1}

        until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
        response = await crm.client.post(
            f"/deals/{deal['id']}/markers/task_result/snooze", json={"reason": "Later", "until": until}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        update = await next_with_deal(reader, deal["id"], timeout=10)
        assert "task_result" not in update["card"]["markers"]
    finally:
        await reader.close()


async def test_merge_relinks_card_client(crm: Crm, base_url: str) -> None:
    target = await create(crm, "/companies", {"name": "Ромашка", "owner_id": "u-sales", "department": "sales"})
    source = await create(crm, "/companies", {"name": "Romashka dup", "owner_id": "u-sales", "department": "sales"})
    deal = await new_deal(crm, "Linked", "10.00", "sales", company_id=source["id"])
    reader = await open_stream(base_url, PIPELINE, SALES)
    try:
        [card] = (await reader.next()).data["deals"]
        assert card["client"]["name"] == "Romashka dup"
        response = await crm.client.post(
            f"/companies/{target['id']}/merge", json={"source_id": source["id"]}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        update = await next_with_deal(reader, deal["id"], timeout=10)
        assert update["card"]["client"] == {"id": target["id"], "type": "company", "status": "ok", "name": "Ромашка"}
    finally:
        await reader.close()


async def test_stream_ends_when_token_expires(crm: Crm, base_url: str) -> None:
    short = issue_token(JWT_KEY, "u-sales", department="sales", ttl=timedelta(seconds=3))
    reader = await open_stream(base_url, PIPELINE, {"Authorization": f"Bearer {short}"})
    try:
        assert (await reader.next()).kind == "snapshot"
        assert not reader.ended
        for _ in range(100):
            if reader.ended:
                break
            await asyncio.sleep(0.1)
        assert reader.ended
    finally:
        await reader.close()


async def test_grant_opens_and_expiry_closes_stream(crm: Crm, base_url: str, stage_ids: list[str]) -> None:
    hidden = await new_deal(crm, "Support renewal", "300.00", "support", owner_id="u-other")
    reader = await open_stream(base_url, PIPELINE, SALES)
    try:
        first = await reader.next()
        assert hidden["id"] not in [card["id"] for card in first.data["deals"]]

        asked = await crm.client.post(
            "/access-requests",
            json={"record_type": "deal", "record_id": hidden["id"], "reason": "Joint offer"},
            headers=SALES,
        )
        assert asked.status_code == 201, asked.text
        granted = await crm.client.post(f"/access-requests/{asked.json()['id']}/grant", json={"days": 1}, headers=OTHER)
        assert granted.status_code == 200, granted.text
        # The grant changes no deal, so the stream resends the board once it reads the new grant.
        opened = await reader.next()
        while opened.kind != "snapshot":
            opened = await reader.next()
        assert hidden["id"] in [card["id"] for card in opened.data["deals"]]
        assert opened.data["totals"]["stages"][stage_ids[0]]["sums"] == {"RUB": "300.00"}

        async with crm.runtime.sessionmaker() as session, session.begin():
            past = datetime.now(UTC) - timedelta(minutes=1)
            await session.execute(
                update(AccessRequest).where(AccessRequest.id == uuid.UUID(asked.json()["id"])).values(expires_at=past)
            )
        closed = await reader.next()
        while closed.kind != "snapshot":
            closed = await reader.next()
        assert hidden["id"] not in [card["id"] for card in closed.data["deals"]]
        assert closed.data["totals"]["stages"][stage_ids[0]]["count"] == 0
    finally:
        await reader.close()

"""Nothing accepted is lost: stored requests outlive a failing processor and an unreachable Kafka."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from contracts.topics import Topic
from servicekit.db import OutboxMessage
from servicekit.relay import outbox_backlog
from services.intake import handlers
from services.intake.handlers import process_pending
from tests.conftest import Servers
from tests.intake_support import Intake, bearer, configure, in_process_intake, samples
from tests.support import ServiceProcess, eventually, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def intake(database_url: str, topic_prefix: str) -> AsyncIterator[Intake]:
    async for harness in in_process_intake(database_url, topic_prefix, processor_max_attempts=3):
        await configure(harness.client)
        yield harness


async def _post(intake: Intake, name: str) -> str:
    sample = samples()[name]
    answer = await intake.client.post(
        sample.path, content=sample.body, headers={**sample.headers, "Content-Type": sample.content_type}
    )
    assert answer.status_code in (200, 202), answer.text
    request_id: str = answer.json()["request_id"]
    return request_id


async def _view(intake: Intake, request_id: str) -> dict[str, Any]:
    view: dict[str, Any] = (await intake.client.get(f"/requests/{request_id}", headers=bearer())).json()
    return view


async def test_failing_processor_keeps_the_request_until_replay(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = await _post(intake, "RI-08")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("routing is broken in this release")

    monkeypatch.setattr(handlers, "build_inquiry", broken)
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert view["status"] == "received"
    assert view["attempts"] == 1
    assert "routing is broken" in view["last_error"]

    for _ in range(2):
        await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert (view["status"], view["reason"]) == ("failed", "processing_error")
    failed = await intake.client.get("/requests", params={"status": "failed"}, headers=bearer())
    assert [item["id"] for item in failed.json()["items"]] == [request_id]
    assert await outbox_backlog(intake.runtime.sessionmaker) == 0

    # The fixed release replays what failed; the stored body is all it needs.
    monkeypatch.undo()
    replayed = await intake.client.post("/requests/replay", json={"status": "failed"}, headers=bearer())
    assert replayed.json()["replayed"] == 1
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert view["status"] == "accepted"
    assert view["outcome"].startswith("accepted")
    assert await outbox_backlog(intake.runtime.sessionmaker) == 1

    # Replaying an accepted request announces the same request again; CRM keys its deal on the request id.
    again = await intake.client.post(f"/requests/{request_id}/replay", headers=bearer())
    assert again.status_code == 202
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    async with intake.runtime.sessionmaker() as session:
        keys = (await session.scalars(select(OutboxMessage.key))).all()
    assert keys == [request_id, request_id]


async def test_database_outage_uses_no_attempt(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = await _post(intake, "RI-08")

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr(handlers, "build_inquiry", unreachable)
    for _ in range(4):
        with pytest.raises(ConnectionRefusedError):
            await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert view["status"] == "received"
    assert view["attempts"] == 0

    monkeypatch.undo()
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert view["status"] == "accepted"


async def test_requests_accepted_while_kafka_is_unreachable_are_published_after_it_returns(
    intake: Intake, servers: Servers, database_url: str, topic_prefix: str
) -> None:
    # This intake's Kafka address answers nothing: storing, answering and processing go on without it.
    ids = [await _post(intake, name) for name in ("RI-02", "RI-05-text", "RI-08", "RI-02-ping")]
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises for an unreachable broker
        await intake.runtime.broker.connect()
        await intake.runtime.relay.publish_batch()
    assert await outbox_backlog(intake.runtime.sessionmaker) == 3

    # Kafka is back: a relay with the right address publishes every stored event, once.
    relay = ServiceProcess(
        "intake",
        {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": servers.kafka, "KAFKA_TOPIC_PREFIX": topic_prefix},
        command="relay",
    ).start()
    try:
        await eventually(lambda: _published(intake), timeout=60)
    finally:
        relay.stop()
    records = await read_topic(servers.kafka, topic_prefix + Topic.INTAKE_REQUESTS, expected=4, timeout=10)
    assert sorted(record.key.decode() for record in records) == sorted(ids[:3])
    assert {json.loads(record.value)["event_type"] for record in records} == {"intake.request.accepted"}


async def _published(intake: Intake) -> bool:
    return await outbox_backlog(intake.runtime.sessionmaker) == 0

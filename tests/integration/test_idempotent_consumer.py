"""Idempotent consumers on real Kafka and PostgreSQL: duplicates and older versions change nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.topics import Topic
from servicekit.db import ProcessedEvent
from servicekit.migrations import migrate
from servicekit.service import ServiceRuntime, wait_for_kafka
from services.tasks.bootstrap import create_runtime
from services.tasks.settings import TasksSettings
from services.tasks.tables import DealReference
from tests.conftest import Servers
from tests.factories import deal_event
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def tasks_runtime(servers: Servers, database_url: str, topic_prefix: str) -> AsyncIterator[ServiceRuntime]:
    settings = TasksSettings(
        database_url=database_url, kafka_bootstrap_servers=servers.kafka, kafka_topic_prefix=topic_prefix
    )
    runtime = create_runtime(settings)
    await migrate(runtime.engine, runtime.migrations)
    await wait_for_kafka(runtime)
    await runtime.broker.start()
    yield runtime
    await runtime.broker.stop()
    await runtime.engine.dispose()


async def publish_in_order(bootstrap: str, topic: str, events: list) -> None:  # type: ignore[type-arg]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            # One partition for all, so the test controls the delivery order across aggregates.
            await producer.send_and_wait(
                topic, event.model_dump_json().encode(), key=str(event.aggregate_id).encode(), partition=0
            )
    finally:
        await producer.stop()


async def test_older_event_after_newer_is_ignored(servers: Servers, tasks_runtime: ServiceRuntime) -> None:
    deal_id = uuid.uuid4()
    newer = deal_event(deal_id, 2, "Second title")
    older = deal_event(deal_id, 1, "First title")
    sentinel = deal_event(uuid.uuid4(), 1, "Sentinel")

    await publish_in_order(servers.kafka, tasks_runtime.topic(Topic.CRM_DEALS), [newer, older, newer, sentinel])

    async def sentinel_applied() -> bool:
        async with tasks_runtime.sessionmaker() as session:
            return await session.get(DealReference, sentinel.aggregate_id) is not None

    await eventually(sentinel_applied)
    async with tasks_runtime.sessionmaker() as session:
        reference = await session.get(DealReference, deal_id)
        processed = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert reference is not None
    assert reference.title == "Second title"
    # newer, older and the sentinel are recorded once each; the redelivered newer event is not.
    assert processed == 3

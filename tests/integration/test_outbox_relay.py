"""The outbox relay, killed with SIGKILL mid-batch, loses nothing; the consumer applies each event once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import OutOfOrderSequenceNumber
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.topics import Topic
from servicekit.consumers import ConsumerPolicy
from servicekit.db import OutboxMessage, ProcessedEvent, create_engine, create_sessionmaker
from servicekit.kafka import create_broker, ensure_topics, make_sender, reset_producer, topic_partitions
from servicekit.migrations import migrate
from servicekit.outbox import record_event
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from services.crm.bootstrap import MIGRATIONS as CRM_MIGRATIONS
from services.tasks.tables import DealReference
from tests.conftest import Servers
from tests.factories import deal_event
from tests.support import ServiceProcess, eventually, topic_message_count

pytestmark = pytest.mark.integration

EVENTS = 6000


async def _published_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_not(None))
        )
    return int(count or 0)


async def test_relay_killed_mid_batch_publishes_every_event_once(
    servers: Servers, database_url: str, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    topic = topic_prefix + Topic.CRM_DEALS
    await ensure_topics(servers.kafka, [topic])
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    await migrate(engine, CRM_MIGRATIONS)
    async with sessionmaker() as session, session.begin():
        for number in range(EVENTS):
            record_event(session, topic, deal_event(uuid.uuid4(), 1, f"Deal {number}"))

    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "OUTBOX_BATCH_SIZE": "500",
    }
    partitions = await topic_partitions(servers.kafka, [topic])
    offsets = AIOKafkaConsumer(bootstrap_servers=servers.kafka)
    await offsets.start()
    relay = ServiceProcess("crm", env, command="relay").start()

    # A batch is in flight when Kafka contains more messages than the rows marked sent. One consumer
    # reused for the end offsets keeps each check to a few milliseconds, so the window is not missed.
    async def batch_in_flight() -> bool:
        in_kafka = sum((await offsets.end_offsets(partitions)).values())
        return bool(in_kafka > await _published_rows(sessionmaker) and in_kafka < EVENTS)

    try:
        await eventually(batch_in_flight, timeout=60, interval=0.002)
    finally:
        relay.kill()
        await offsets.stop()
    published_before_restart = await _published_rows(sessionmaker)
    assert published_before_restart < EVENTS

    restarted = ServiceProcess("crm", env, command="relay").start()
    try:
        await eventually(lambda: _all_published(sessionmaker), timeout=120)
    finally:
        restarted.stop()
    assert await topic_message_count(servers.kafka, topic) >= EVENTS

    tasks_database = await make_database()
    consumer = ServiceProcess("tasks", {**env, "DATABASE_URL": tasks_database}).start()
    try:
        await consumer.wait_ready()
        tasks_engine = create_engine(tasks_database)
        tasks_sessions = create_sessionmaker(tasks_engine)

        async def consumer_caught_up() -> bool:
            async with tasks_sessions() as session:
                return await session.scalar(select(func.count()).select_from(DealReference)) == EVENTS

        await eventually(consumer_caught_up, timeout=180, interval=1.0)
        await asyncio.sleep(2)  # let any redelivered duplicates arrive before counting
        async with tasks_sessions() as session:
            references = await session.scalar(select(func.count()).select_from(DealReference))
            processed = await session.scalar(select(func.count()).select_from(ProcessedEvent))
        assert references == EVENTS
        assert processed == EVENTS
        await tasks_engine.dispose()
    finally:
        consumer.stop()
        await engine.dispose()


async def _all_published(sessionmaker: async_sessionmaker[AsyncSession], expected: int = EVENTS) -> bool:
    return await _published_rows(sessionmaker) == expected


async def test_relay_replaces_producer_after_sequence_error(
    servers: Servers, database_url: str, topic_prefix: str
) -> None:
    topic = topic_prefix + Topic.CRM_DEALS
    await ensure_topics(servers.kafka, [topic])
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    await migrate(engine, CRM_MIGRATIONS)
    async with sessionmaker() as session, session.begin():
        for number in range(3):
            record_event(session, topic, deal_event(uuid.uuid4(), 1, f"Deal {number}"))

    settings = ServiceSettings(service_name="relaytest", kafka_bootstrap_servers=servers.kafka)
    broker = create_broker(settings, ConsumerPolicy("relaytest", group_id="relaytest"))
    await broker.connect()
    send = make_sender(broker)
    failures = [OutOfOrderSequenceNumber()]
    resets: list[int] = []

    # The first send fails as aiokafka's idempotent producer does once its sequence numbers no longer
    # match the broker's. The relay must then replace the producer and send the batch again.
    async def failing_once(row: OutboxMessage) -> asyncio.Future[Any]:
        if failures:
            raise failures.pop()
        future: asyncio.Future[Any] = await send(row)
        return future

    async def reset() -> None:
        resets.append(1)
        await reset_producer(broker)

    relay = OutboxRelay(sessionmaker, failing_once, service="relaytest", reset_sender=reset)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: _all_published(sessionmaker, expected=3), timeout=30)
    finally:
        stop.set()
        await running
        await broker.stop()
        await engine.dispose()
    assert resets == [1]
    assert await topic_message_count(servers.kafka, topic) == 3

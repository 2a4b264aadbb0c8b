"""Events per second through outbox, relay, Kafka and an idempotent consumer, beside plain aiokafka.

Run with ``scripts/bench`` (servers started by ``deploy/servers up``). Both runs use the same broker,
the same message size and the same number of events; the baseline skips the databases entirely.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.topics import Topic
from servicekit.db import create_engine, create_sessionmaker
from servicekit.kafka import make_sender
from servicekit.migrations import migrate
from servicekit.outbox import record_event
from servicekit.relay import OutboxRelay
from servicekit.service import wait_for_kafka
from services.crm.bootstrap import MIGRATIONS as CRM_MIGRATIONS
from services.tasks.bootstrap import create_runtime as create_tasks_runtime
from services.tasks.settings import TasksSettings
from services.tasks.tables import DealReference
from tests.factories import deal_event


async def plain_aiokafka(bootstrap: str, count: int, payload: bytes) -> float:
    """Produce ``count`` messages with an idempotent ``acks=all`` producer and consume them; return events/s."""
    topic = f"bench.plain.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await producer.start()
    await consumer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, payload, key=str(i % 500).encode()) for i in range(count)]
    await asyncio.gather(*futures)
    received = 0
    while received < count:
        batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
        received += sum(len(records) for records in batches.values())
        await consumer.commit()
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return count / elapsed


async def through_outbox(bootstrap: str, server_url: str, count: int) -> float:
    """Write ``count`` events to a CRM outbox, relay them, and apply them in the tasks consumer; return events/s."""
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    crm_url, tasks_url = await _create_databases(server_url, 2)
    crm_engine = create_engine(crm_url)
    await migrate(crm_engine, CRM_MIGRATIONS)
    tasks = create_tasks_runtime(
        TasksSettings(database_url=tasks_url, kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    )
    await migrate(tasks.engine, tasks.migrations)
    await wait_for_kafka(tasks)

    relay = OutboxRelay(create_sessionmaker(crm_engine), make_sender(tasks.broker), service="crm", batch_size=500)
    stop = asyncio.Event()
    await tasks.broker.start()
    started = time.perf_counter()
    relay_task = asyncio.create_task(relay.run(stop))
    sessionmaker = create_sessionmaker(crm_engine)
    for first in range(0, count, 100):
        async with sessionmaker() as session, session.begin():
            for number in range(first, min(first + 100, count)):
                record_event(session, prefix + Topic.CRM_DEALS, deal_event(uuid.uuid4(), 1, f"Deal {number}"))
        relay.notify()
    while True:
        async with tasks.sessionmaker() as session:
            applied = await session.scalar(select(func.count()).select_from(DealReference))
        if applied == count:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await relay_task
    await tasks.broker.stop()
    await tasks.engine.dispose()
    await crm_engine.dispose()
    return count / elapsed


async def _create_databases(server_url: str, number: int) -> list[str]:
    admin = create_async_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    urls = []
    async with admin.connect() as connection:
        for _ in range(number):
            name = f"bench_{uuid.uuid4().hex[:10]}"
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
            urls.append(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    await admin.dispose()
    return urls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000, help="events per run")
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    server_url = os.environ["DATABASE_URL"]
    payload = deal_event(uuid.uuid4(), 1, "Deal 0").model_dump_json().encode()

    baseline = await plain_aiokafka(bootstrap, args.events, payload)
    system = await through_outbox(bootstrap, server_url, args.events)
    print(f"events={args.events} payload_bytes={len(payload)}")
    print(f"plain aiokafka produce+consume: {baseline:,.0f} events/s")
    print(f"outbox -> relay -> Kafka -> idempotent consumer: {system:,.0f} events/s")


if __name__ == "__main__":
    asyncio.run(main())

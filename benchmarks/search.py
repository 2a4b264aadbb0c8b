"""Search figures on real servers: rebuild throughput beside a plain bulk load, query and freshness latency.

Run with ``scripts/bench-search`` (servers started by ``deploy/servers up``). It publishes N deal
events to topics of its own prefix, then measures:

- *rebuild*: ``services.search.rebuild`` reading the topics into new indices (Kafka read, contract
  parsing, bulk writes with external versions), beside *plain bulk*: opensearch-py's ``async_bulk`` of
  the same documents, already built in memory, into a fresh index with the same mapping;
- *query latency*: ``/search`` requests through the service's HTTP app in this process, as a user who
  may read one department of twenty, over the N records;
- *event to searchable*: from an event's ``occurred_at`` to the first search that finds it, with the
  live consumer writing without forced refreshes, as in production. Its database is a SQLite file.

Everything it creates (topics, indices) carries a unique prefix and is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk

from contracts.topics import Topic
from servicekit.auth import Principal, issue_token
from servicekit.kafka import topic_partitions
from servicekit.migrations import migrate
from servicekit.service import create_http_app, wait_for_kafka
from services.search.bootstrap import create_runtime
from services.search.documents import SOURCES, deal_document
from services.search.http import router
from services.search.linking import AccessStore
from services.search.mappings import REFRESH_INTERVAL, index_body
from services.search.rebuild import Rebuild
from services.search.settings import SearchSettings
from tests.search_support import deal

WORDS = [
    "договор", "поставка", "сайт", "редизайн", "аудит", "лицензия", "обучение", "поддержка", "внедрение",
    "website", "redesign", "audit", "licence", "training", "support", "rollout", "migration", "consulting",
]  # fmt: skip
NAMES = ["Анна", "Пётр", "Olga", "Ivan", "Мария", "John", "Елена", "Sergey"]
SURNAMES = ["Смирнова", "Иванов", "Petrova", "Sidorov", "Кузнецова", "Smith", "Попов", "Volkov"]
DEPARTMENTS = [f"dept-{number:02}" for number in range(20)]
JWT_KEY = "search-benchmark-signing-key-of-32-bytes"


def make_events(count: int, rng: random.Random) -> list[Any]:
    """Build ``count`` deal creations with Russian and English titles spread over twenty departments."""
    events = []
    for number in range(count):
        title = " ".join(rng.sample(WORDS, 3)) + f" {number}"
        name = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"
        events.append(
            deal(
                title,
                department=rng.choice(DEPARTMENTS),
                owner_id=f"u-{rng.randrange(500)}",
                contact_name=name,
                contact_phone=f"+7999{number:07d}",
            )
        )
    return events


async def publish_all(bootstrap: str, topic: str, events: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, event.model_dump_json().encode(), key=str(event.aggregate_id).encode())
            for event in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def plain_bulk(client: AsyncOpenSearch, prefix: str, events: list[Any]) -> float:
    """Bulk-load the documents of ``events`` with opensearch-py alone; return documents per second."""
    index = f"{prefix}plain-bulk"
    sources = [deal_document(event).source for event in events]
    await client.indices.create(index=index, body=index_body(loading=True))
    started = time.perf_counter()
    actions = ({"_index": index, "_id": source["id"], "_source": source} for source in sources)
    await async_bulk(client, actions, chunk_size=1000)
    await client.indices.put_settings(index=index, body={"index": {"refresh_interval": REFRESH_INTERVAL}})
    await client.indices.refresh(index=index)
    return len(sources) / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return p50 and p99 of ``samples`` in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def query_latency(http: httpx.AsyncClient, queries: int, rng: random.Random) -> tuple[float, float, float]:
    """Time ``queries`` searches by a user of one department; return p50, p99 (ms) and the mean hit total."""
    user = Principal(user_id="u-7", department="dept-03")
    headers = {"Authorization": "Bearer " + issue_token(JWT_KEY, user.user_id, department=user.department)}
    samples, totals = [], []
    for _ in range(queries):
        text = rng.choice([rng.choice(WORDS), " ".join(rng.sample(WORDS, 2)), rng.choice(SURNAMES)])
        started = time.perf_counter()
        response = await http.get("/search", params={"q": text}, headers=headers)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
        totals.append(response.json()["total"])
    p50, p99 = percentiles(samples)
    return p50, p99, statistics.fmean(totals)


async def event_to_searchable(
    bootstrap: str, topic: str, http: httpx.AsyncClient, events: int, pause: float
) -> tuple[float, float]:
    """Publish ``events`` one by one and poll search for each; return p50 and p99 (ms) of occurred_at to found."""
    headers = {"Authorization": "Bearer " + issue_token(JWT_KEY, "u-admin", roles=["admin"])}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    delays: list[float] = []

    async def wait_found(marker: str, occurred_at: datetime) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await http.get("/search", params={"q": marker, "types": "deal"}, headers=headers)
            if response.json()["total"]:
                delays.append((datetime.now(UTC) - occurred_at).total_seconds())
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"event {marker} not searchable within 60 s")

    pollers = []
    try:
        for _ in range(events):
            marker = uuid.uuid4().hex[:12]
            event = deal(f"Fresh {marker}")
            await producer.send_and_wait(topic, event.model_dump_json().encode(), key=str(event.aggregate_id).encode())
            pollers.append(asyncio.create_task(wait_found(marker, event.occurred_at)))
            await asyncio.sleep(pause)
        await asyncio.gather(*pollers)
    finally:
        await producer.stop()
    return percentiles(delays)


async def skip_backlog(settings: SearchSettings) -> None:
    """Commit the end offsets for the service's consumer group, so its live consumer sees only new events."""
    topics = [settings.topic(source.topic) for source in SOURCES]
    partitions = await topic_partitions(settings.kafka_bootstrap_servers, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({partition: offset for partition, offset in ends.items()})
    finally:
        await consumer.stop()


async def timed(step: str, work: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await work()
    print(f"  {step}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="deal events to index")
    parser.add_argument("--queries", type=int, default=1000, help="searches to time")
    parser.add_argument("--fresh-events", type=int, default=200, help="events timed from publish to searchable")
    parser.add_argument("--fresh-pause", type=float, default=0.05, help="seconds between those events")
    args = parser.parse_args()
    rng = random.Random(7)  # noqa: S311 -- a seeded generator makes the data set the same on every run
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory() as data_dir:
        settings = SearchSettings(
            kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            opensearch_url=os.environ["OPENSEARCH_URL"],
            kafka_topic_prefix=prefix,
            index_prefix=prefix,
            database_url=f"sqlite+aiosqlite:///{Path(data_dir) / 'search.db'}",
            jwt_secret_key=JWT_KEY,
        )
        try:
            await run(settings, args, rng)
        finally:
            await clean_up(settings, prefix)


async def run(settings: SearchSettings, args: argparse.Namespace, rng: random.Random) -> None:
    runtime = create_runtime(settings)
    client: AsyncOpenSearch = runtime.extras["opensearch"]
    topic = settings.topic(Topic.CRM_DEALS)
    await migrate(runtime.engine, runtime.migrations)
    await wait_for_kafka(runtime)

    print(f"records={args.records} queries={args.queries} fresh_events={args.fresh_events}", flush=True)
    events = make_events(args.records, rng)
    await timed("publish", lambda: publish_all(settings.kafka_bootstrap_servers, topic, events))

    rebuild = Rebuild(settings, client, access=AccessStore(runtime.sessionmaker), batch_size=1000)
    report = await timed("rebuild", lambda: rebuild.run(drop_after=0))
    baseline = await timed("plain bulk", lambda: plain_bulk(client, settings.index_prefix, events))

    app = create_http_app(runtime, title="search", routers=[router])
    app.state.search_index = runtime.extras["search_index"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://search") as http:
        query_p50, query_p99, mean_total = await timed("queries", lambda: query_latency(http, args.queries, rng))
        # The rebuild indexed the backlog already; the live consumer starts at the end of each topic.
        await skip_backlog(settings)
        await runtime.broker.start()
        try:
            fresh_p50, fresh_p99 = await timed(
                "event to searchable",
                lambda: event_to_searchable(
                    settings.kafka_bootstrap_servers, topic, http, args.fresh_events, args.fresh_pause
                ),
            )
        finally:
            await runtime.broker.stop()
            await runtime.engine.dispose()

    print(
        f"rebuild from Kafka: {report.events / report.load_seconds:,.0f} events/s while loading "
        f"({report.load_seconds:.1f} s; {report.seconds:.1f} s with index creation and alias swap)"
    )
    print(f"plain opensearch-py bulk of the same documents: {baseline:,.0f} documents/s")
    print(f"query latency over {args.records:,} records: p50 {query_p50:.1f} ms, p99 {query_p99:.1f} ms")
    print(f"  (user of one department of {len(DEPARTMENTS)}; mean total {mean_total:,.0f} hits)")
    print(f"event to searchable: p50 {fresh_p50:.0f} ms, p99 {fresh_p99:.0f} ms")


async def clean_up(settings: SearchSettings, prefix: str) -> None:
    """Delete the indices and topics of this run, found by its unique prefix."""
    client = AsyncOpenSearch(hosts=[settings.opensearch_url])
    try:
        names = [name for name in await client.indices.get(index=f"{prefix}*") if name.startswith(prefix)]
        if names:
            await client.indices.delete(index=",".join(names))
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

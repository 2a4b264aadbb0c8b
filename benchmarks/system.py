"""The system's figures in one run, each beside a baseline measured in the same run, as a Markdown table.

Run with ``scripts/bench-system`` (servers started by ``deploy/servers up``). It starts CRM, intake and
search with ``clientwork run`` on fresh databases and a topic and index prefix of their own, and measures:

- *intake throughput*: ``--requests`` form POSTs with ``--concurrency`` in flight, beside a bare FastAPI
  route that only returns 202 (``benchmarks.intake``);
- *form to deal, searchable and board*: ``--samples`` forms one after another; for each, the time from
  the POST to its ``crm.deal.created`` event, to the first ``/search`` that finds it, and to the first
  ``GET /pipelines/{id}/board`` that lists it. The baseline is one message's trip through a plain
  aiokafka producer and consumer;
- *search latency*: ``--queries`` searches through the search service's HTTP API, beside the same
  text as a direct OpenSearch ``multi_match`` query on the same index;
- *rebuild throughput*: ``services.search.rebuild`` over ``--records`` deal events, beside a plain
  opensearch-py bulk load of the same documents (``benchmarks.search``);
- *event pipeline*: ``--events`` events through outbox, relay, Kafka and an idempotent consumer, beside
  a plain aiokafka producer and consumer (``benchmarks.pipeline``).

Everything it creates carries a unique prefix or name and is deleted at the end. ``--max-seconds``
bounds the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opensearchpy import AsyncOpenSearch
from sqlalchemy import make_url

from benchmarks import intake as intake_bench
from benchmarks import pipeline as pipeline_bench
from benchmarks import search as search_bench
from contracts.topics import Topic
from servicekit.auth import issue_token
from servicekit.migrations import migrate
from servicekit.service import wait_for_kafka
from services.search.bootstrap import create_runtime
from services.search.linking import AccessStore
from services.search.query import TEXT_FIELDS
from services.search.rebuild import Rebuild
from services.search.settings import SearchSettings
from tests.factories import deal_event
from tests.support import ServiceProcess, eventually

JWT_KEY = "system-benchmark-signing-key-of-32-bytes"
ADMIN = {"Authorization": "Bearer " + issue_token(JWT_KEY, "u-bench", roles=["admin"])}
QUERIES = ["Смирнова", "внедрения CRM", "Анна", "расчёт", "pricing", "Smirnova"]


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of the system and its baseline from the same run."""

    figure: str
    measured: str
    baseline: str
    baseline_measured: str


@dataclass
class Services:
    crm: ServiceProcess
    intake: ServiceProcess
    search: ServiceProcess

    def all(self) -> list[ServiceProcess]:
        return [self.crm, self.intake, self.search]


def latency(samples: list[float]) -> str:
    p50, p99 = intake_bench.percentiles(samples)
    return f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms"


async def start_services(bootstrap: str, opensearch: str, prefix: str, urls: list[str]) -> Services:
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "OPENSEARCH_URL": opensearch,
        "INDEX_PREFIX": prefix,
        "JWT_SECRET_KEY": JWT_KEY,
    }
    services = Services(
        *(
            ServiceProcess(name, {**base, "DATABASE_URL": url})
            for name, url in zip(("crm", "intake", "search"), urls, strict=True)
        )
    )
    for process in services.all():
        process.start()
    for process in services.all():
        await process.wait_ready()
    async with httpx.AsyncClient(base_url=services.intake.url, timeout=10) as client:
        # Every submission comes from 127.0.0.1, so the form's per-address rate limit is switched off.
        answer = await client.put("/staff/forms/website-contact", json={"rate_limit_per_minute": None}, headers=ADMIN)
        answer.raise_for_status()
    return services


async def intake_throughput(services: Services, requests: int, concurrency: int) -> Row:
    bare_process, bare_url = intake_bench.start_bare_app()
    try:

        async def bare_ready() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.post(bare_url + "/bare")).status_code == 202
            except httpx.HTTPError:
                return False

        await eventually(bare_ready, timeout=30)
        bare = await intake_bench.drive(bare_url + "/bare", requests, concurrency, 0, 202)
        accepted = await intake_bench.drive(services.intake.url + intake_bench.FORM_PATH, requests, concurrency, 0, 202)
    finally:
        bare_process.terminate()
        bare_process.wait(timeout=15)
    return Row(
        f"intake throughput ({requests} form POSTs, {concurrency} in flight)",
        f"{accepted.requests_per_second:,.0f} accepted/s (p50 {accepted.p50_ms:.0f} ms, p99 {accepted.p99_ms:.0f} ms)",
        "bare FastAPI route returning 202",
        f"{bare.requests_per_second:,.0f} requests/s (p50 {bare.p50_ms:.0f} ms, p99 {bare.p99_ms:.0f} ms)",
    )


async def sales_pipeline_id(crm_url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        pipelines = (await client.get(crm_url + "/pipelines", headers=ADMIN)).json()["items"]
    return str(next(item["id"] for item in pipelines if item["key"] == "sales"))


async def one_form_path(
    client: httpx.AsyncClient, services: Services, watcher: intake_bench.DealWatcher, board_url: str, number: int
) -> tuple[float, float, float]:
    """Post one form; return seconds from the POST to its deal event, to a search hit and to the board."""
    body = intake_bench.form_body(number)
    marker = f"Смирнова {number}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    started = time.perf_counter()
    response = await client.post(services.intake.url + intake_bench.FORM_PATH, content=body, headers=headers)
    response.raise_for_status()
    request_id = response.json()["request_id"]

    async def deal_id() -> str | None:
        if request_id not in watcher.created:
            return None
        deals = (await client.get(services.crm.url + "/deals", params={"request_id": request_id}, headers=ADMIN)).json()
        return str(deals["items"][0]["id"]) if deals["items"] else None

    async def searchable() -> float | None:
        found = await client.get(services.search.url + "/search", params={"q": marker, "types": "deal"}, headers=ADMIN)
        return time.perf_counter() if found.json()["total"] else None

    identifier = await eventually(deal_id, timeout=60, interval=0.02)

    async def on_board() -> float | None:
        board = (await client.get(board_url, headers=ADMIN)).json()
        ids = {deal["id"] for stage in board["stages"] for deal in stage["deals"]}
        return time.perf_counter() if identifier in ids else None

    searched, boarded = await asyncio.gather(
        eventually(searchable, timeout=60, interval=0.02), eventually(on_board, timeout=60, interval=0.02)
    )
    return watcher.created[request_id] - started, searched - started, boarded - started


async def kafka_trip(bootstrap: str, samples: int) -> list[float]:
    """Send ``samples`` messages one at a time through a plain aiokafka producer and consumer; return each trip."""
    topic = f"bench.trip.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    trips = []
    try:
        for number in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(number).encode())
            await consumer.getone()
            trips.append(time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()
    return trips


async def form_paths(services: Services, bootstrap: str, watcher: intake_bench.DealWatcher, samples: int) -> list[Row]:
    board_url = f"{services.crm.url}/pipelines/{await sales_pipeline_id(services.crm.url)}/board"
    to_deal, to_search, to_board = [], [], []
    async with httpx.AsyncClient(timeout=30) as client:
        for index in range(samples):
            deal, found, listed = await one_form_path(client, services, watcher, board_url, 20_000_000 + index)
            to_deal.append(deal)
            to_search.append(found)
            to_board.append(listed)
    trips = await kafka_trip(bootstrap, samples)
    kafka = "one message through a plain aiokafka producer and consumer"
    return [
        Row(f"form to deal event ({samples} forms, one at a time)", latency(to_deal), kafka, latency(trips)),
        Row("form to searchable (`/search` finds it)", latency(to_search), kafka, latency(trips)),
        Row("form to board (`GET /pipelines/{id}/board` lists it)", latency(to_board), kafka, latency(trips)),
    ]


async def search_latency(services: Services, opensearch: str, prefix: str, queries: int) -> Row:
    rng = random.Random(11)  # noqa: S311 -- a seeded generator makes the query mix the same on every run
    texts = [rng.choice(QUERIES) for _ in range(queries)]
    through_service, direct = [], []
    async with httpx.AsyncClient(base_url=services.search.url, timeout=30) as client:
        for text in texts:
            started = time.perf_counter()
            (await client.get("/search", params={"q": text}, headers=ADMIN)).raise_for_status()
            through_service.append(time.perf_counter() - started)
    opensearch_client = AsyncOpenSearch(hosts=[opensearch])
    try:
        for text in texts:
            query = {"multi_match": {"query": text, "type": "cross_fields", "operator": "and", "fields": TEXT_FIELDS}}
            started = time.perf_counter()
            await opensearch_client.search(index=f"{prefix}deals", body={"query": query, "size": 20})
            direct.append(time.perf_counter() - started)
    finally:
        await opensearch_client.close()
    return Row(
        f"search latency ({queries} queries, admin)",
        latency(through_service),
        "direct OpenSearch `multi_match` on the same index",
        latency(direct),
    )


async def rebuild_throughput(bootstrap: str, opensearch: str, records: int) -> Row:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory() as data_dir:
        settings = SearchSettings(
            kafka_bootstrap_servers=bootstrap,
            opensearch_url=opensearch,
            kafka_topic_prefix=prefix,
            index_prefix=prefix,
            database_url=f"sqlite+aiosqlite:///{Path(data_dir) / 'search.db'}",
            jwt_secret_key=JWT_KEY,
        )
        runtime = create_runtime(settings)
        client: AsyncOpenSearch = runtime.extras["opensearch"]
        try:
            await migrate(runtime.engine, runtime.migrations)
            await wait_for_kafka(runtime)
            events = search_bench.make_events(records, random.Random(7))  # noqa: S311 -- seeded test data
            await search_bench.publish_all(bootstrap, settings.topic(Topic.CRM_DEALS), events)
            rebuild = Rebuild(settings, client, access=AccessStore(runtime.sessionmaker), batch_size=1000)
            report = await rebuild.run(drop_after=0)
            baseline = await search_bench.plain_bulk(client, prefix, events)
        finally:
            await client.close()
            await runtime.engine.dispose()
            await search_bench.clean_up(settings, prefix)
    return Row(
        f"search rebuild from Kafka ({records:,} deal events)",
        f"{report.events / report.load_seconds:,.0f} events/s ({report.seconds:.1f} s with alias swap)",
        "plain opensearch-py bulk of the same documents",
        f"{baseline:,.0f} documents/s",
    )


async def event_pipeline(bootstrap: str, server_url: str, events: int) -> Row:
    payload = deal_event(uuid.uuid4(), 1, "Deal 0").model_dump_json().encode()
    baseline = await pipeline_bench.plain_aiokafka(bootstrap, events, payload)
    measured = await pipeline_bench.through_outbox(bootstrap, server_url, events)
    return Row(
        f"outbox → relay → Kafka → idempotent consumer ({events:,} events)",
        f"{measured:,.0f} events/s",
        "plain aiokafka producer and consumer",
        f"{baseline:,.0f} events/s",
    )


async def timed(label: str, step: Callable[[], Awaitable[Any]]) -> Any:
    print(f"{label}...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = await step()
    print(f"{label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return result


async def run(args: argparse.Namespace, bootstrap: str, opensearch: str, server_url: str) -> list[Row]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    names = await intake_bench.create_databases(server_url, 3)
    urls = [make_url(server_url).set(database=name).render_as_string(hide_password=False) for name in names]
    started: list[Services] = []
    watcher = intake_bench.DealWatcher(bootstrap, prefix + Topic.CRM_DEALS)
    rows: list[Row] = []
    try:
        services: Services = await timed("start", lambda: start_services(bootstrap, opensearch, prefix, urls))
        started.append(services)
        await watcher.start()
        rows.append(await timed("intake", lambda: intake_throughput(services, args.requests, args.concurrency)))

        async def burst_made() -> bool:
            return len(watcher.created) >= int(args.requests)

        await timed("burst to deals", lambda: eventually(burst_made, timeout=600, interval=0.5))
        rows += await timed("form paths", lambda: form_paths(services, bootstrap, watcher, args.samples))
        rows.append(await timed("search", lambda: search_latency(services, opensearch, prefix, args.queries)))
    finally:
        await watcher.stop()
        for process in [process for running in started for process in running.all()]:
            process.stop()
        await intake_bench.drop_databases(server_url, names)
        await intake_bench.delete_topics(bootstrap, prefix)
        await search_bench.clean_up(
            SearchSettings(kafka_bootstrap_servers=bootstrap, opensearch_url=opensearch), prefix
        )
    rows.append(await timed("rebuild", lambda: rebuild_throughput(bootstrap, opensearch, args.records)))
    rows.append(await timed("pipeline", lambda: event_pipeline(bootstrap, server_url, args.events)))
    return rows


def machine() -> str:
    """Describe the machine: cores, memory, CPU model and the load average."""
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S607
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{cores} cores (`nproc`), {memory_kb / 1024**2:.0f} GiB memory, {model}, load average {load}"


def markdown(rows: list[Row], before: str, after: str, command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine at the start: {before}.",
        f"Machine at the end: {after}.",
        "",
        "| figure | clientwork | baseline | baseline figure |",
        "|---|---|---|---|",
    ]
    lines += [f"| {row.figure} | {row.measured} | {row.baseline} | {row.baseline_measured} |" for row in rows]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="form POSTs in the throughput run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight in the throughput run")
    parser.add_argument("--samples", type=int, default=30, help="forms timed from POST to deal, search and board")
    parser.add_argument("--queries", type=int, default=300, help="searches timed, through search and direct")
    parser.add_argument("--records", type=int, default=20_000, help="deal events for the rebuild run")
    parser.add_argument("--events", type=int, default=3000, help="events for the pipeline run")
    parser.add_argument("--max-seconds", type=float, default=900, help="maximum duration of the whole run, in seconds")
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    opensearch = os.environ["OPENSEARCH_URL"]
    server_url = os.environ["DATABASE_URL"]
    command = "scripts/bench-system " + " ".join(sys.argv[1:])
    before = machine()
    async with asyncio.timeout(args.max_seconds):
        rows = await run(args, bootstrap, opensearch, server_url)
    print(markdown(rows, before, machine(), command.strip()))


if __name__ == "__main__":
    asyncio.run(main())

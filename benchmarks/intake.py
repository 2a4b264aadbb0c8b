"""Intake figures on real servers: accepted submissions per second beside a bare endpoint, and form to deal.

Run with ``scripts/bench-intake`` (servers started by ``deploy/servers up``). It starts intake and CRM
with ``clientwork run`` on fresh databases and a topic prefix of their own, and a bare FastAPI app on
uvicorn whose one route only returns 202 (the same HTTP stack as the services). Then it measures:

- *accept*: ``--requests`` POSTs of an urlencoded website form to ``/forms/website-contact``, at most
  ``--concurrency`` in flight, from one async httpx client over loopback; the same against the bare
  route. Intake stores each body in PostgreSQL before it answers 202.
- *form to deal*: once the burst has become deals, ``--rate`` submissions a second for ``--seconds``;
  each one's time from the POST to its ``crm.deal.created`` event on ``crm.deals`` (matched by
  ``source.request_id``).

The databases and topics it creates are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI, Response
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.topics import Topic
from servicekit.auth import issue_token
from tests.support import ServiceProcess, eventually, free_port

JWT_KEY = "intake-benchmark-signing-key-of-32-bytes"
FORM_PATH = "/forms/website-contact"

bare_app = FastAPI()


@bare_app.post("/bare", status_code=202)
async def bare() -> Response:
    """Return 202 without reading the body, which sets the floor of intake's HTTP stack."""
    return Response(status_code=202)


def form_body(number: int) -> bytes:
    """Build a website form as a browser posts it, unique per ``number`` so no two are duplicates."""
    fields = {
        "name": f"Анна Смирнова {number}",
        "phone": f"8 (999) {number // 10000 % 1000:03d}-{number // 100 % 100:02d}-{number % 100:02d}",
        "email": f"Anna.Smirnova+{number}@Example.com",
        "message": f"Нужен расчёт внедрения CRM на 25 пользователей, заявка {number}",
        "utm_source": "yandex",
        "utm_medium": "cpc",
        "utm_campaign": "crm_spring",
        "page": "https://example.org/pricing?x=1&y=2",
        "website": "",
    }
    return urlencode(fields).encode()


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return p50 and p99 of ``samples`` (seconds) in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def drive(url: str, count: int, concurrency: int, first_number: int, expected: int) -> LoadResult:
    """POST ``count`` form bodies to ``url`` with ``concurrency`` in flight; fail on any other status."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    numbers = iter(range(first_number, first_number + count))

    async def worker(client: httpx.AsyncClient) -> None:
        for number in numbers:
            body = form_body(number)
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != expected:
                raise RuntimeError(f"POST {url} returned {response.status_code}, expected {expected}: {response.text}")

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    p50, p99 = percentiles(latencies)
    return LoadResult(count / elapsed, p50, p99)


class DealWatcher:
    """Read ``crm.deals`` from its current end and note when the deal of each request id is created."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", enable_auto_commit=False
        )
        self.created: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        # Wait for the partition assignment, so no deal made after this call is missed.
        while not self.consumer.assignment():
            await self.consumer.getmany(timeout_ms=200)
        for partition in self.consumer.assignment():
            await self.consumer.position(partition)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("event_type") != "crm.deal.created":
                        continue
                    request_id = event["data"]["deal"]["source"].get("request_id")
                    if request_id:
                        self.created.setdefault(request_id, now)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


async def form_to_deal(intake_url: str, watcher: DealWatcher, rate: float, seconds: float) -> tuple[float, float]:
    """Submit forms at ``rate`` per second for ``seconds``; return p50 and p99 (ms) of POST to deal created."""
    sent: dict[str, float] = {}
    count = int(rate * seconds)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(timeout=30) as client:

        async def submit(number: int) -> None:
            started = time.perf_counter()
            response = await client.post(intake_url + FORM_PATH, content=form_body(number), headers=headers)
            if response.status_code != 202:
                raise RuntimeError(f"POST {FORM_PATH} returned {response.status_code}, expected 202: {response.text}")
            sent[response.json()["request_id"]] = started

        posts = []
        began = time.perf_counter()
        for index in range(count):
            # Submissions start on a fixed schedule, whatever the latency of earlier responses.
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
            posts.append(asyncio.create_task(submit(10_000_000 + index)))
        await asyncio.gather(*posts)

    async def all_made() -> bool:
        return all(request_id in watcher.created for request_id in sent)

    await eventually(all_made, timeout=120, interval=0.1)
    return percentiles([watcher.created[request_id] - sent[request_id] for request_id in sent])


async def create_databases(server_url: str, number: int) -> list[str]:
    admin = create_async_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(number)]
    async with admin.connect() as connection:
        for name in names:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return names


async def drop_databases(server_url: str, names: list[str]) -> None:
    admin = create_async_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        for name in names:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def timed(label: str, step: Callable[[], Awaitable[LoadResult | tuple[float, float]]]) -> object:
    print(f"{label}...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = await step()
    print(f"{label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return result


def start_bare_app() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # Fixed arguments and this interpreter, so nothing from outside reaches the command line.
    command = [sys.executable, "-m", "uvicorn", "benchmarks.intake:bare_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command)  # noqa: S603
    return process, f"http://127.0.0.1:{port}"


async def run(args: argparse.Namespace, bootstrap: str, server_url: str, prefix: str, databases: list[str]) -> None:
    base = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix, "JWT_SECRET_KEY": JWT_KEY}
    urls = [make_url(server_url).set(database=name).render_as_string(hide_password=False) for name in databases]
    crm = ServiceProcess("crm", {**base, "DATABASE_URL": urls[0]})
    intake = ServiceProcess("intake", {**base, "DATABASE_URL": urls[1]})
    bare_process, bare_url = start_bare_app()
    watcher = DealWatcher(bootstrap, prefix + Topic.CRM_DEALS)
    try:
        crm.start()
        intake.start()
        await crm.wait_ready()
        await intake.wait_ready()
        admin = {"Authorization": "Bearer " + issue_token(JWT_KEY, "u-bench", roles=["admin"])}
        async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
            # Every submission comes from 127.0.0.1, so the form's per-address rate limit is switched off.
            answer = await client.put(
                "/staff/forms/website-contact", json={"rate_limit_per_minute": None}, headers=admin
            )
            answer.raise_for_status()

        async def bare_ready() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.post(bare_url + "/bare")
            except httpx.HTTPError:
                return False
            return response.status_code == 202

        await eventually(bare_ready, timeout=30)
        await watcher.start()

        print(f"requests={args.requests} concurrency={args.concurrency} rate={args.rate}/s seconds={args.seconds}")
        body_bytes = len(form_body(0))
        bare_result = await timed("bare", lambda: drive(bare_url + "/bare", args.requests, args.concurrency, 0, 202))
        intake_result = await timed(
            "accept", lambda: drive(intake.url + FORM_PATH, args.requests, args.concurrency, 0, 202)
        )
        assert isinstance(bare_result, LoadResult)
        assert isinstance(intake_result, LoadResult)

        async def burst_made() -> bool:
            return len(watcher.created) >= int(args.requests)

        started = time.perf_counter()
        await eventually(burst_made, timeout=600, interval=0.5)
        drained = time.perf_counter() - started
        latency = await timed("form to deal", lambda: form_to_deal(intake.url, watcher, args.rate, args.seconds))
        assert isinstance(latency, tuple)
        p50, p99 = latency

        print(f"form body: {body_bytes} bytes, urlencoded")
        print(
            f"bare FastAPI route (202, body unread): {bare_result.requests_per_second:,.0f} requests/s, "
            f"p50 {bare_result.p50_ms:.1f} ms, p99 {bare_result.p99_ms:.1f} ms"
        )
        print(
            f"intake POST {FORM_PATH}: {intake_result.requests_per_second:,.0f} accepted/s, "
            f"p50 {intake_result.p50_ms:.1f} ms, p99 {intake_result.p99_ms:.1f} ms"
        )
        print(f"burst of {args.requests} became deals {drained:.1f} s after the last answer")
        print(f"form to deal at {args.rate}/s for {args.seconds:.0f} s: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    finally:
        await watcher.stop()
        bare_process.terminate()
        bare_process.wait(timeout=15)
        intake.stop()
        crm.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="POSTs per accept run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight during an accept run")
    parser.add_argument("--rate", type=float, default=20, help="submissions per second in the form-to-deal run")
    parser.add_argument("--seconds", type=float, default=30, help="length of the form-to-deal run, in seconds")
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    server_url = os.environ["DATABASE_URL"]
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    databases = await create_databases(server_url, 2)
    try:
        await run(args, bootstrap, server_url, prefix, databases)
    finally:
        await drop_databases(server_url, databases)
        await delete_topics(bootstrap, prefix)


if __name__ == "__main__":
    asyncio.run(main())

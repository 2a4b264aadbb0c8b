"""Composition of one service process: database, broker, outbox relay, inbox and HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.topics import dead_letter_topic
from servicekit.auth import TokenVerifier
from servicekit.consumers import CONSUMER_ACK_POLICY, ConsumerPolicy
from servicekit.db import create_engine, create_sessionmaker
from servicekit.http import ReadyCheck, install_conventions, install_probes, reject_nul_characters
from servicekit.inbox import Inbox
from servicekit.kafka import consumer_lag, create_broker, ensure_topics, make_sender, reset_producer
from servicekit.metrics import CONSUMER_LAG, OUTBOX_BACKLOG
from servicekit.migrations import migrate
from servicekit.relay import OutboxRelay, outbox_backlog
from servicekit.settings import ServiceSettings

logger = logging.getLogger(__name__)

BackgroundJob = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class ServiceRuntime:
    """Everything a service's handlers need, built once per process."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    policy: ConsumerPolicy
    relay: OutboxRelay
    inbox: Inbox
    migrations: Path
    #: Topics this service publishes or consumes, created at start when missing.
    topics: list[str] = field(default_factory=list)
    #: Topics this service consumes, for the consumer-lag metric.
    consumed: list[str] = field(default_factory=list)
    #: Consumer group of each consumed topic that does not use the service's own group.
    topic_groups: dict[str, str] = field(default_factory=dict)
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    background_jobs: list[BackgroundJob] = field(default_factory=list)
    #: Called after migrations and before consumers start, such as creating search indices.
    before_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Service-specific adapters, reachable from HTTP routes through ``app.state.runtime``.
    extras: dict[str, Any] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def use_topic(self, name: str, *, consume: bool = False) -> str:
        """Register a contract topic (and its dead-letter topic) and return its real name."""
        real = self.settings.topic(name)
        for topic in (real, dead_letter_topic(real)):
            if topic not in self.topics:
                self.topics.append(topic)
        if consume and real not in self.consumed:
            self.consumed.append(real)
        return real


def build_runtime(settings: ServiceSettings, migrations: Path, *, description: str | None = None) -> ServiceRuntime:
    """Build the runtime of a service without connecting to anything yet."""
    engine = create_engine(settings.sqlalchemy_url)
    sessionmaker = create_sessionmaker(engine)
    policy = ConsumerPolicy(
        settings.service_name,
        group_id=settings.consumer_group,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
        backoff_max_seconds=settings.consumer_backoff_max_seconds,
    )
    broker = create_broker(settings, policy, description=description)
    relay = OutboxRelay(
        sessionmaker,
        make_sender(broker),
        service=settings.service_name,
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
        reset_sender=lambda: reset_producer(broker),
    )
    return ServiceRuntime(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        broker=broker,
        policy=policy,
        relay=relay,
        inbox=Inbox(sessionmaker, settings.service_name),
        migrations=migrations,
    )


async def wait_for_kafka(runtime: ServiceRuntime, stop: asyncio.Event | None = None) -> None:
    """Create the service's topics, retrying while the broker is unreachable."""
    delay = 0.5
    while True:
        try:
            await ensure_topics(runtime.settings.kafka_bootstrap_servers, runtime.topics)
            return
        except Exception as exc:
            if stop is not None and stop.is_set():
                raise
            logger.warning(
                "Kafka at %s not reachable (%r); retrying in %.1f s",
                runtime.settings.kafka_bootstrap_servers,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


@dataclass
class MessagingStart:
    """The part of a service's start that needs Kafka: topics, start hooks, consumers and the outbox relay."""

    started: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        """Wait for Kafka, run the start hooks, then start the consumers and the relay.

        A failing step, such as creating search indices while OpenSearch is down, is retried with
        backoff until it succeeds or the service stops.
        """
        await wait_for_kafka(runtime, stop)
        for prepare in runtime.before_start:
            await _retry_until_done(prepare, stop, getattr(prepare, "__qualname__", repr(prepare)))
        await _retry_until_done(runtime.broker.start, stop, "starting the Kafka consumers")
        self.started = True
        if runtime.settings.run_outbox_relay:
            self.tasks.append(asyncio.create_task(runtime.relay.run(stop), name="outbox-relay"))
        logger.info("%s connected to Kafka and started its consumers", runtime.settings.service_name)


async def _retry_until_done(step: Callable[[], Awaitable[Any]], stop: asyncio.Event, name: str) -> None:
    delay = 0.5
    while True:
        try:
            await step()
            return
        except Exception as exc:
            if stop.is_set():
                raise
            logger.warning("%s failed (%r); retrying in %.1f s", name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_http_app(runtime: ServiceRuntime, *, title: str, routers: list[Any] = ()) -> FastAPI:  # type: ignore[assignment]
    """Create the service's FastAPI app whose lifespan migrates, starts consumers and the relay."""

    messaging = MessagingStart()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        await migrate(runtime.engine, runtime.migrations)
        # HTTP is served while Kafka is still unreachable, so a service restarted during a Kafka outage
        # serves /health, and intake stores forms. /ready reports Kafka as not ready until it is started.
        starting = asyncio.create_task(messaging.start(runtime, stop), name="start-messaging")
        jobs = [asyncio.create_task(job(stop)) for job in runtime.background_jobs]
        logger.info("%s started", runtime.settings.service_name)
        try:
            yield
        finally:
            stop.set()
            if not starting.done():
                starting.cancel()
            await asyncio.gather(starting, *messaging.tasks, *jobs, return_exceptions=True)
            if messaging.started:
                await runtime.policy.committer.flush()
                await runtime.broker.stop()
            for callback in runtime.on_stop:
                await callback()
            await runtime.engine.dispose()
            logger.info("%s stopped", runtime.settings.service_name)

    app = FastAPI(title=title, lifespan=lifespan, dependencies=[Depends(reject_nul_characters)])
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(runtime.settings)
    install_conventions(app, runtime.settings.service_name, max_request_bytes=runtime.settings.max_request_bytes)

    async def database_ready() -> None:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def kafka_ready() -> None:
        if not messaging.started:
            raise ConnectionError(f"still waiting for Kafka at {runtime.settings.kafka_bootstrap_servers} to start")
        if not await runtime.broker.ping(timeout=2.0):
            raise ConnectionError(f"Kafka at {runtime.settings.kafka_bootstrap_servers} did not respond to a ping")

    checks: dict[str, ReadyCheck] = {
        "database": database_ready,
        "kafka": kafka_ready,
        **runtime.ready_checks,
    }
    install_probes(app, runtime.settings.service_name, checks, lambda: refresh_metrics(runtime))
    for router in routers:
        app.include_router(router)
    return app


async def refresh_metrics(runtime: ServiceRuntime) -> None:
    """Update the gauges that are measured on scrape: outbox backlog and consumer lag."""
    service = runtime.settings.service_name
    OUTBOX_BACKLOG.labels(service).set(await outbox_backlog(runtime.sessionmaker))
    groups: dict[str, list[str]] = {}
    for topic in runtime.consumed:
        groups.setdefault(runtime.topic_groups.get(topic, runtime.settings.consumer_group), []).append(topic)
    for group, topics in groups.items():
        lags = await consumer_lag(runtime.settings.kafka_bootstrap_servers, group, topics)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(group, topic, str(partition)).set(lag)


def subscribe(
    runtime: ServiceRuntime,
    contract_topic: str,
    body_type: Any,
    handler: Callable[[AsyncSession, Any], Awaitable[None]],
    *,
    description: str,
    projection: str | None = None,
) -> None:
    """Subscribe ``handler`` to a topic under the service's group, error policy and inbox.

    Each event runs in one transaction with its ``event_id``; with ``projection`` set, an event that
    is not newer than the projection's stored ``aggregate_version`` is skipped.
    """
    topic = runtime.use_topic(contract_topic, consume=True)

    async def consume(event: Any) -> None:
        async def apply(session: AsyncSession) -> None:
            await handler(session, event)

        if await runtime.inbox.apply(event, topic, apply, projection=projection):
            runtime.relay.notify()

    consume.__annotations__["event"] = body_type
    consume.__name__ = f"on_{contract_topic.replace('.', '_')}"
    # One group per subscriber: subscribers sharing a group rebalance each other one by one at start,
    # which took about 10 s for a service with four of them.
    group = f"{runtime.settings.consumer_group}.{contract_topic}"
    runtime.topic_groups[topic] = group
    runtime.broker.subscriber(
        topic,
        group_id=group,
        ack_policy=CONSUMER_ACK_POLICY,
        auto_offset_reset="earliest",
        title=f"{topic}:{runtime.settings.service_name}",
        description=description,
    )(consume)

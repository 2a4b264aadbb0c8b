"""Outbox relay: publishes stored events in id order and marks them sent once the broker acknowledged them.

A crash between the broker's acknowledgement and the commit that marks the rows sent publishes those
rows again on restart, so delivery is at least once and consumers deduplicate by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import (
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.db import OutboxMessage, utcnow
from servicekit.metrics import OUTBOX_PUBLISHED

logger = logging.getLogger(__name__)

#: Sends one message and returns a future that resolves when the broker acknowledged it.
SendFunction = Callable[[OutboxMessage], Awaitable["asyncio.Future[Any]"]]

#: Replaces the producer behind a SendFunction with a new one.
ResetFunction = Callable[[], Awaitable[None]]

#: Errors after which the idempotent producer's sequence numbers no longer match the broker's. aiokafka
#: 0.14 does not reset its producer id after them, so every later batch fails the same way until a new
#: producer takes over. A Kafka restart while a batch was in flight caused OutOfOrderSequenceNumber here.
PRODUCER_STATE_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
)

# Arbitrary constant that names the relay's PostgreSQL advisory lock.
_RELAY_LOCK_ID = 0x0C17E5


class OutboxRelay:
    """Moves outbox rows to Kafka, in order, one batch per transaction."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        send: SendFunction,
        *,
        service: str,
        batch_size: int = 500,
        poll_seconds: float = 0.05,
        reset_sender: ResetFunction | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._send = send
        self._reset_sender = reset_sender
        self._service = service
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    def notify(self) -> None:
        """Wake the relay now instead of at its next poll, after a commit that added events."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish batches until ``stop`` is set; errors are logged and retried with backoff."""
        logger.info("outbox relay started")
        failures = 0
        while not stop.is_set():
            try:
                published = await self.publish_batch()
                failures = 0
            except PRODUCER_STATE_ERRORS as exc:
                failures += 1
                await self._replace_producer(exc)
                continue
            except Exception:
                failures += 1
                delay = min(0.5 * 2 ** min(failures, 6), 30.0)
                logger.exception("outbox relay batch failed; retrying in %.1f s", delay)
                await _sleep_or_stop(stop, delay)
                continue
            if published == 0:
                self._wakeup.clear()
                await _first_of(stop, self._wakeup, seconds=self._poll_seconds)
        logger.info("outbox relay stopped")

    async def _replace_producer(self, exc: Exception) -> None:
        """Start a new producer after ``exc`` left the old one out of step with the broker."""
        if self._reset_sender is None:
            logger.error("outbox relay batch failed with %r and no producer reset is configured; retrying", exc)
            await asyncio.sleep(1.0)
            return
        logger.warning("outbox relay batch failed with %r; replacing the producer and sending the batch again", exc)
        try:
            await self._reset_sender()
        except Exception:
            logger.exception("replacing the producer failed; retrying in 1.0 s")
            await asyncio.sleep(1.0)

    async def publish_batch(self) -> int:
        """Publish one batch of unsent rows; return how many were published."""
        async with self._sessionmaker() as session, session.begin():
            if not await _take_relay_lock(session):
                return 0
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(self._batch_size)
                )
            ).all()
            if not rows:
                return 0

            # Sending without waiting keeps the batch pipelined; the idempotent producer keeps
            # per-partition order, and the rows are marked sent only after every acknowledgement.
            futures = [await self._send(row) for row in rows]
            await asyncio.gather(*futures)

            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(published_at=utcnow())
            )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)


async def outbox_backlog(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Count outbox rows not yet published."""
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
    return int(count or 0)


async def _take_relay_lock(session: AsyncSession) -> bool:
    # Two relays of one database would interleave batches and break per-key order, so on
    # PostgreSQL only the holder of a transaction-scoped advisory lock publishes. SQLite has a
    # single writer already.
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _RELAY_LOCK_ID}))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _first_of(stop: asyncio.Event, wakeup: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wakeup.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""Idempotent consumers: each event is applied at most once, and a projection never goes back to older state."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import Event
from servicekit.db import AggregateVersion, ProcessedEvent
from servicekit.metrics import EVENTS_SKIPPED

logger = logging.getLogger(__name__)

EventHandler = Callable[[AsyncSession], Awaitable[None]]


class Inbox:
    """Applies events in the service's database with duplicate and ordering checks."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], service: str) -> None:
        self._sessionmaker = sessionmaker
        self._service = service

    async def apply(
        self,
        event: Event[Any],
        topic: str,
        handler: EventHandler,
        *,
        projection: str | None = None,
    ) -> bool:
        """Run ``handler`` in one transaction with the event's bookkeeping; return False if skipped.

        With ``projection`` set, an event is skipped unless its ``aggregate_version`` is newer than the
        version the projection stores for that aggregate. The check and the update share the handler's
        transaction, so a crash leaves either both or neither.
        """
        event_id = str(event.event_id)
        async with self._sessionmaker() as session, session.begin():
            if await session.get(ProcessedEvent, event_id) is not None:
                self._skip(topic, "duplicate", event)
                return False
            session.add(ProcessedEvent(event_id=event_id, topic=topic))

            if projection is not None and not await _advance_version(session, projection, event):
                self._skip(topic, "stale", event)
                return False

            await handler(session)
        return True

    def _skip(self, topic: str, reason: str, event: Event[Any]) -> None:
        EVENTS_SKIPPED.labels(self._service, topic, reason).inc()
        logger.info(
            "skipped %s event %s of %s %s at version %s",
            reason,
            event.event_id,
            event.aggregate_type,
            event.aggregate_id,
            event.aggregate_version,
        )


async def _advance_version(session: AsyncSession, projection: str, event: Event[Any]) -> bool:
    row = await session.scalar(
        select(AggregateVersion)
        .where(AggregateVersion.projection == projection)
        .where(AggregateVersion.aggregate_id == str(event.aggregate_id))
        .with_for_update()
    )
    if row is None:
        session.add(
            AggregateVersion(
                projection=projection,
                aggregate_id=str(event.aggregate_id),
                version=event.aggregate_version,
            )
        )
        return True
    if event.aggregate_version <= row.version:
        return False
    row.version = event.aggregate_version
    return True

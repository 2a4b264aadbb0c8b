"""Transactional outbox: events are stored with the change that caused them and published later."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Event
from servicekit.db import OutboxMessage
from servicekit.logs import new_traceparent, traceparent


def record_event(session: AsyncSession, topic: str, event: Event[Any]) -> OutboxMessage:
    """Add ``event`` to the outbox in the caller's transaction; the relay publishes it after commit."""
    message = OutboxMessage(
        topic=topic,
        key=str(event.aggregate_id),
        event_id=str(event.event_id),
        event_type=event.event_type,
        payload=event.model_dump_json(),
        headers=event.headers(traceparent=new_traceparent(traceparent())),
    )
    session.add(message)
    return message

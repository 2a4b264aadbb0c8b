"""Transactional outbox: events are stored with the change that caused them and published later."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Event
from servicekit.db import OutboxMessage
from servicekit.errors import ServiceError
from servicekit.logs import new_traceparent, traceparent

#: Largest event payload, in bytes, kept below Kafka's default 1 MiB message and request limits
#: (``message.max.bytes`` on the broker, ``max_request_size`` in aiokafka) with room for headers.
MAX_EVENT_BYTES = 900_000


class EventTooLarge(ServiceError):
    """An event is larger than Kafka accepts; the change that caused it cannot be recorded."""

    status_code = 413
    code = "event_too_large"


def record_event(session: AsyncSession, topic: str, event: Event[Any]) -> OutboxMessage:
    """Add ``event`` to the outbox in the caller's transaction; the relay publishes it after commit.

    Raises :class:`EventTooLarge` for a payload over ``MAX_EVENT_BYTES``, because the relay could never
    publish it and every later event of the service would wait behind it.
    """
    payload = event.model_dump_json()
    size = len(payload.encode())
    if size > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"{event.event_type} event of {event.aggregate_type} {event.aggregate_id} is {size} bytes, "
            f"over the limit of {MAX_EVENT_BYTES}; shorten the record's text fields",
            limit=MAX_EVENT_BYTES,
            size=size,
        )
    message = OutboxMessage(
        topic=topic,
        key=str(event.aggregate_id),
        event_id=str(event.event_id),
        event_type=event.event_type,
        payload=payload,
        headers=event.headers(traceparent=new_traceparent(traceparent())),
    )
    session.add(message)
    return message

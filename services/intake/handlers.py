"""Use cases of intake: store a request, then turn stored requests into accepted inquiries."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import Actor, ActorType
from contracts.intake import IntakeRequest, RequestAccepted
from contracts.topics import Topic
from servicekit.db import utcnow
from servicekit.logs import log_context
from servicekit.outbox import record_event
from servicekit.settings import ServiceSettings
from services.intake.parsing import (
    UnparseableRequest,
    extract_contact,
    extract_message,
    extract_utm,
    parse_fields,
)
from services.intake.tables import RawRequest, RequestStatus

logger = logging.getLogger(__name__)


async def store_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    endpoint: str,
    content_type: str,
    headers: dict[str, Any],
    body: bytes,
    remote_addr: str | None,
    idempotency_key: str | None,
    correlation_id: str,
) -> tuple[RawRequest, bool]:
    """Store a request as received; return it and whether it is new (False for a repeated idempotency key)."""
    request = RawRequest(
        endpoint=endpoint,
        content_type=content_type,
        headers=headers,
        body=body,
        remote_addr=remote_addr,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
    )
    try:
        async with sessionmaker() as session, session.begin():
            session.add(request)
        return request, True
    except IntegrityError:
        if idempotency_key is None:
            raise
    async with sessionmaker() as session:
        earlier = await session.scalar(
            select(RawRequest).where(
                RawRequest.endpoint == endpoint,
                RawRequest.idempotency_key == idempotency_key,
            )
        )
    if earlier is None:
        raise RuntimeError("idempotency key conflict without an earlier request")
    return earlier, False


async def process_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: ServiceSettings,
    limit: int = 50,
) -> int:
    """Process stored requests in arrival order; return how many were handled."""
    async with sessionmaker() as session:
        ids = (
            await session.scalars(
                select(RawRequest.id)
                .where(RawRequest.status == RequestStatus.RECEIVED)
                .order_by(RawRequest.received_at)
                .limit(limit)
            )
        ).all()
    for request_id in ids:
        await process_request(sessionmaker, settings, request_id)
    return len(ids)


async def process_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: ServiceSettings,
    request_id: uuid.UUID,
) -> None:
    """Parse one stored request and record its outcome, with the accepted event, in one transaction."""
    async with sessionmaker() as session, session.begin():
        request = await session.get(RawRequest, request_id, with_for_update=True)
        if request is None or request.status != RequestStatus.RECEIVED:
            return
        with log_context(correlation_id=request.correlation_id):
            try:
                inquiry = build_inquiry(request)
            except UnparseableRequest as exc:
                request.status = RequestStatus.FAILED
                request.outcome = str(exc)
                request.processed_at = utcnow()
                logger.warning("request %s could not be parsed: %s", request.id, exc)
                return

            record_event(
                session,
                settings.topic(Topic.INTAKE_REQUESTS),
                RequestAccepted(
                    producer=settings.service_name,
                    aggregate_id=request.id,
                    aggregate_version=1,
                    correlation_id=request.correlation_id,
                    actor=Actor(type=ActorType.CHANNEL, id=f"form:{request.endpoint}"),
                    data=inquiry,
                ),
            )
            request.status = RequestStatus.ACCEPTED
            request.outcome = "accepted; a deal will be created"
            request.processed_at = utcnow()


def build_inquiry(request: RawRequest) -> IntakeRequest:
    fields = parse_fields(request.content_type, request.body)
    contact = extract_contact(fields)
    who = contact.name or contact.email or contact.phone or "unknown sender"
    return IntakeRequest(
        id=request.id,
        received_at=request.received_at,
        source="form",
        form_key=request.endpoint,
        title=f"Request from {request.endpoint}: {who}",
        message=extract_message(fields),
        contact=contact,
        fields=fields,
        utm=extract_utm(fields),
    )

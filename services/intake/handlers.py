"""Use cases of intake: store a request, turn stored requests into outcomes, replay them, link deals."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.crm import DealCreated, DealUpdated
from contracts.envelope import Actor, ActorType
from contracts.intake import IntakeRequest, RequestAccepted
from contracts.topics import Topic
from servicekit.db import utcnow
from servicekit.errors import NotFound
from servicekit.logs import log_context
from servicekit.outbox import record_event
from servicekit.transient import is_transient
from services.intake.channels import ADAPTERS, ChannelAdapter, GenericFormAdapter
from services.intake.channels.base import Inquiry, NotInquiry, Stored
from services.intake.errors import NotReplayable, UnparseableRequest
from services.intake.forms import FormConfig, mapped_values
from services.intake.normalize import clean_name, find_phone, normalize_email, normalize_phone
from services.intake.parsing import extract_contact, extract_message
from services.intake.routing import RoutingContext, RoutingDecision, route
from services.intake.settings import IntakeSettings
from services.intake.tables import ChannelRecord, FormRecord, RawRequest, RequestStatus

logger = logging.getLogger(__name__)

# Only one processor decides outcomes at a time, so duplicate checks never race (PostgreSQL; SQLite
# has a single writer already).
_PROCESSOR_LOCK_ID = 0x1A7A4E


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
    kind: str = "form",
    query: str = "",
    status: RequestStatus = RequestStatus.RECEIVED,
    reason: str | None = None,
    outcome: str | None = None,
) -> tuple[RawRequest, bool]:
    """Store a request as received; return it and whether it is new (False for a repeated idempotency key)."""
    final = status != RequestStatus.RECEIVED
    request = RawRequest(
        endpoint=endpoint,
        kind=kind,
        content_type=content_type,
        headers=headers,
        query=query,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        remote_addr=remote_addr,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        status=status,
        reason=reason,
        outcome=outcome,
        processed_at=utcnow() if final else None,
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
    settings: IntakeSettings,
    limit: int = 50,
) -> int:
    """Process stored requests in arrival order; return how many reached an outcome.

    Raises the first error that means a server is unreachable, leaving that request and the rest stored.
    """
    async with sessionmaker() as session:
        ids = (
            await session.scalars(
                select(RawRequest.id)
                .where(RawRequest.status == RequestStatus.RECEIVED)
                .order_by(RawRequest.received_at)
                .limit(limit)
            )
        ).all()
    done = 0
    for request_id in ids:
        try:
            await process_request(sessionmaker, settings, request_id)
            done += 1
        except Exception as exc:
            if is_transient(exc):
                # An outage is not the request's fault, so it uses up none of its attempts. The caller
                # retries the whole batch once the database responds again.
                raise
            logger.exception("processing request %s failed", request_id)
            await _record_failure(sessionmaker, settings, request_id, exc)
    return done


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession], settings: IntakeSettings, request_id: uuid.UUID, exc: Exception
) -> None:
    async with sessionmaker() as session, session.begin():
        request = await session.get(RawRequest, request_id, with_for_update=True)
        if request is None or request.status != RequestStatus.RECEIVED:
            return
        request.attempts += 1
        request.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if request.attempts >= settings.processor_max_attempts:
            _finish(request, RequestStatus.FAILED, "processing_error", f"gave up after {request.attempts} attempts")


async def process_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: IntakeSettings,
    request_id: uuid.UUID,
) -> None:
    """Decide one stored request's outcome and record it, with the accepted event, in one transaction."""
    async with sessionmaker() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PROCESSOR_LOCK_ID})
        request = await session.get(RawRequest, request_id, with_for_update=True)
        if request is None or request.status != RequestStatus.RECEIVED:
            return
        with log_context(correlation_id=request.correlation_id):
            await _decide(session, settings, request)
            logger.info("request %s from %s: %s (%s)", request.id, request.endpoint, request.status, request.reason)


async def _decide(session: AsyncSession, settings: IntakeSettings, request: RawRequest) -> None:
    form, form_key, channel = await _form_of(session, request)
    config = FormConfig.model_validate(form.config) if form is not None else None
    adapter = _adapter(request.kind, config)
    try:
        parsed = adapter.parse(Stored(request.content_type, request.body, request.headers))
    except UnparseableRequest as exc:
        _finish(request, RequestStatus.FAILED, "unparseable", str(exc))
        return

    request.delivery_id = parsed.delivery_id[:255] if parsed.delivery_id else None
    request.dedupe_key = f"{request.endpoint}|{request.delivery_id}"[:400] if request.delivery_id else None
    if isinstance(parsed, NotInquiry):
        _finish(request, RequestStatus.IGNORED, parsed.reason, f"not an inquiry: {parsed.detail}")
        return
    earlier = await _earlier_acceptance(session, settings, request)
    if earlier is not None:
        request.duplicate_of = earlier
        _finish(request, RequestStatus.IGNORED, "duplicate", f"repeats request {earlier}, which was accepted")
        return
    if config is not None and config.honeypot_field and parsed.fields.get(config.honeypot_field, "").strip():
        _finish(request, RequestStatus.IGNORED, "spam", f"the hidden field {config.honeypot_field!r} was filled")
        return
    answered = await _answered_request(session, request, parsed.references)
    if answered is not None:
        request.thread_of = answered
        _finish(request, RequestStatus.IGNORED, "reply", f"a reply in the thread of request {answered}")
        return

    round_robin = dict(form.round_robin) if form is not None else {}
    inquiry, decision = build_inquiry(
        request,
        parsed=parsed,
        adapter=adapter,
        config=config,
        form_key=form_key,
        round_robin=round_robin,
        settings=settings,
        channel_department=channel.department if channel is not None else None,
    )
    if form is not None and round_robin != form.round_robin:
        form.round_robin = round_robin
    record_event(
        session,
        settings.topic(Topic.INTAKE_REQUESTS),
        RequestAccepted(
            producer=settings.service_name,
            aggregate_id=request.id,
            aggregate_version=1,
            correlation_id=request.correlation_id,
            actor=Actor(type=ActorType.CHANNEL, id=f"{request.kind}:{request.endpoint}"),
            data=inquiry,
        ),
    )
    request.summary = {
        "title": inquiry.title,
        "contact": inquiry.contact.model_dump(exclude_none=True),
        "routing": {
            "pipeline_key": decision.pipeline_key,
            "stage_key": decision.stage_key,
            "owner_id": decision.owner_id,
            "department": decision.department,
            "reason": decision.reason,
        },
        "utm": inquiry.utm,
        "attachments": [attachment.name for attachment in inquiry.attachments],
    }
    where = decision.pipeline_key or "the default pipeline"
    _finish(request, RequestStatus.ACCEPTED, None, f"accepted into {where} by {decision.reason}; a deal will be made")


def _finish(request: RawRequest, status: RequestStatus, reason: str | None, outcome: str) -> None:
    request.status = status
    request.reason = reason
    request.outcome = outcome
    request.processed_at = utcnow()


def _adapter(kind: str, config: FormConfig | None) -> ChannelAdapter:
    if kind == "form":
        return GenericFormAdapter(config.fallback_charset if config is not None else "windows-1251")
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise UnparseableRequest(f"no adapter reads requests of kind {kind!r}")
    return adapter


async def _form_of(
    session: AsyncSession, request: RawRequest
) -> tuple[FormRecord | None, str | None, ChannelRecord | None]:
    """Return the form whose settings apply to ``request``, its key, and the channel it came through."""
    form_key: str | None = request.endpoint
    channel: ChannelRecord | None = None
    if request.kind != "form":
        channel = await session.get(ChannelRecord, request.endpoint)
        form_key = channel.form_key if channel is not None else None
    if form_key is None:
        return None, None, channel
    form = await session.get(FormRecord, form_key, with_for_update=True)
    return form, form_key, channel


async def _earlier_acceptance(session: AsyncSession, settings: IntakeSettings, request: RawRequest) -> uuid.UUID | None:
    """Return an accepted request that this one repeats: same delivery id, or the same body moments apart."""
    window = timedelta(seconds=settings.duplicate_window_seconds)
    same_body = (
        (RawRequest.body_sha256 == request.body_sha256)
        & (RawRequest.received_at >= request.received_at - window)
        & (RawRequest.received_at <= request.received_at + window)
    )
    same_delivery = RawRequest.dedupe_key == request.dedupe_key if request.dedupe_key else None
    earlier: uuid.UUID | None = await session.scalar(
        select(RawRequest.id)
        .where(
            RawRequest.endpoint == request.endpoint,
            RawRequest.id != request.id,
            RawRequest.status == RequestStatus.ACCEPTED,
            or_(same_body, same_delivery) if same_delivery is not None else same_body,
        )
        .order_by(RawRequest.received_at)
        .limit(1)
    )
    return earlier


async def _answered_request(session: AsyncSession, request: RawRequest, references: list[str]) -> uuid.UUID | None:
    """Return the request at the root of the thread that an e-mail reply answers."""
    if not references:
        return None
    earlier = (
        await session.execute(
            select(RawRequest.id, RawRequest.thread_of)
            .where(
                RawRequest.endpoint == request.endpoint,
                RawRequest.id != request.id,
                RawRequest.delivery_id.in_(references),
                or_(RawRequest.status == RequestStatus.ACCEPTED, RawRequest.reason == "reply"),
            )
            .order_by(RawRequest.received_at)
            .limit(1)
        )
    ).first()
    if earlier is None:
        return None
    root: uuid.UUID = earlier.thread_of or earlier.id
    return root


def build_inquiry(
    request: RawRequest,
    *,
    parsed: Inquiry,
    adapter: ChannelAdapter,
    config: FormConfig | None,
    form_key: str | None,
    round_robin: dict[str, Any],
    settings: IntakeSettings,
    channel_department: str | None = None,
) -> tuple[IntakeRequest, RoutingDecision]:
    """Normalize what an adapter read, apply the form's mapping and routing, and build the accepted inquiry."""
    region = settings.default_phone_region
    fields = {key: value for key, value in parsed.fields.items() if config is None or key != config.honeypot_field}
    mapped = mapped_values(config, fields) if config is not None else {}
    guessed = extract_contact(fields, region)
    message = mapped.get("deal.message") or parsed.message or extract_message(fields)

    phone_given = mapped.get("contact.phone") or parsed.phone
    if phone_given and parsed.phone_is_international and not mapped.get("contact.phone"):
        phone_given = "+" + phone_given.lstrip("+")
    phone = (normalize_phone(phone_given, region) if phone_given else None) or guessed.phone
    phone = phone or (find_phone(message, region) if message else None)
    email_given = mapped.get("contact.email") or parsed.email or guessed.email_as_entered
    contact = guessed.model_copy(
        update={
            "name": clean_name(mapped.get("contact.name") or parsed.name) or guessed.name,
            "phone": phone,
            "email": normalize_email(email_given) if email_given else None,
            "email_as_entered": email_given.strip() if email_given else None,
            "company_name": clean_name(mapped.get("company.name") or parsed.company_name) or guessed.company_name,
        }
    )
    channel = None if request.kind == "form" else request.kind
    decision = route(
        config,
        RoutingContext(fields=fields, utm=parsed.utm, source=adapter.source, channel=channel, form_key=form_key),
        round_robin,
        channel_department=channel_department,
    )
    who = contact.name or contact.email or contact.phone or "unknown sender"
    title = mapped.get("deal.title") or (f"{parsed.subject}: {who}" if parsed.subject else None)
    inquiry = IntakeRequest(
        id=request.id,
        received_at=request.received_at,
        source=adapter.source,
        form_key=form_key,
        channel=channel,
        title=(title or f"Request from {request.endpoint}: {who}")[:500],
        message=message,
        contact=contact,
        fields=fields,
        utm=parsed.utm,
        pipeline_key=decision.pipeline_key,
        stage_key=decision.stage_key,
        owner_id=decision.owner_id,
        department=decision.department,
        routing_reason=decision.reason,
        delivery_id=parsed.delivery_id,
        custom_fields={key[len("custom.") :]: value for key, value in mapped.items() if key.startswith("custom.")},
        company_fields={
            key[len("company.") :]: value
            for key, value in mapped.items()
            if key.startswith("company.") and key != "company.name"
        },
        attachments=parsed.attachments,
    )
    return _storable(inquiry), decision


# Maximum lengths of the contact values CRM stores (its column sizes); longer ones would make CRM reject the deal.
_CONTACT_LIMITS = {"name": 500, "company_name": 500, "email": 320, "email_as_entered": 320}


def _storable(inquiry: IntakeRequest) -> IntakeRequest:
    """Drop NUL characters and lone surrogates, which cannot be stored or sent, and clip contact values."""
    data = _clean_text(inquiry.model_dump(mode="json"))
    contact = data["contact"]
    for field, limit in _CONTACT_LIMITS.items():
        value = contact.get(field)
        if isinstance(value, str) and len(value) > limit:
            contact[field] = None if field.startswith("email") else value[:limit]
    return IntakeRequest.model_validate(data)


def _clean_text(value: Any) -> Any:
    if isinstance(value, str):
        # A lone surrogate (such as a JSON \\ud800 escape) cannot be encoded in UTF-8, so it becomes U+FFFD.
        text = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return text.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean_text(key): _clean_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_text(item) for item in value]
    return value


async def replay_request(sessionmaker: async_sessionmaker[AsyncSession], request_id: uuid.UUID) -> RawRequest:
    """Put a stored request back in line for processing; CRM still makes at most one deal of it."""
    async with sessionmaker() as session, session.begin():
        request = await session.get(RawRequest, request_id, with_for_update=True)
        if request is None:
            raise NotFound(f"request {request_id} not found", id=str(request_id))
        if request.status == RequestStatus.REJECTED:
            raise NotReplayable(
                f"request {request_id} was rejected ({request.reason}): its sender was never verified",
                id=str(request_id),
            )
        if request.status != RequestStatus.RECEIVED:
            previous = f"{request.status}" + (f" ({request.reason})" if request.reason else "")
            request.status = RequestStatus.RECEIVED
            request.reason = None
            request.outcome = f"replayed; was {previous}"
            request.attempts = 0
            request.last_error = None
            request.duplicate_of = None
            request.thread_of = None
            request.processed_at = None
    return request


async def replay_requests(
    sessionmaker: async_sessionmaker[AsyncSession], *, status: str, endpoint: str | None, limit: int
) -> list[uuid.UUID]:
    """Replay up to ``limit`` stored requests with an outcome of ``status``; return their ids."""
    query = select(RawRequest.id).where(RawRequest.status == status).order_by(RawRequest.received_at).limit(limit)
    if endpoint is not None:
        query = query.where(RawRequest.endpoint == endpoint)
    async with sessionmaker() as session:
        ids = list((await session.scalars(query)).all())
    for request_id in ids:
        await replay_request(sessionmaker, request_id)
    return ids


async def record_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
    """Remember which deal a request became, from CRM's deal events."""
    deal = event.data.deal
    if deal.source.request_id is None:
        return
    request = await session.get(RawRequest, deal.source.request_id)
    if request is None:
        return
    request.deal_id = deal.id
    request.deal = {
        "id": str(deal.id),
        "title": deal.title,
        "pipeline_id": str(deal.pipeline_id),
        "stage_id": str(deal.stage_id),
        "stage_name": deal.stage_name,
        "owner_id": deal.owner_id,
        "version": event.aggregate_version,
        "updated_at": event.occurred_at.isoformat(),
    }

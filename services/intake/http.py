"""Intake's public routes: the generic form endpoint and the channel webhooks. Each stores before it answers."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import func, select

from servicekit.db import utcnow
from servicekit.logs import correlation_id
from servicekit.request_limits import accepts_nul_characters, own_body_limit
from services.intake.channels import ADAPTERS, GenericFormAdapter
from services.intake.channels.base import TOKEN_HEADER, TOKEN_PARAM, Incoming, Inquiry, Stored
from services.intake.channels.messengers import TELEGRAM_SECRET_HEADER, whatsapp_handshake
from services.intake.errors import (
    InvalidSubmission,
    PayloadTooLarge,
    RateLimited,
    SenderNotVerified,
    UnknownChannel,
    UnknownForm,
    UnparseableRequest,
)
from services.intake.forms import FormConfig, check_fields
from services.intake.handlers import store_request
from services.intake.settings import IntakeSettings
from services.intake.tables import ChannelRecord, FormRecord, RawRequest, RequestStatus

logger = logging.getLogger(__name__)

router = APIRouter()

Key = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
IdempotencyKey = Annotated[str | None, Header(max_length=255)]

# The routes read the raw body themselves, so FastAPI cannot describe it. These declare its usual shapes
# for OpenAPI clients and schema-based fuzzing; each channel's adapter defines what it actually accepts.
_FIELDS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _FIELDS_SCHEMA},
            "multipart/form-data": {"schema": _FIELDS_SCHEMA},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}
_CHANNEL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {**_FORM_BODY["requestBody"]["content"], "message/rfc822": {"schema": {"type": "string"}}},
    }
}
_HANDSHAKE_QUERY: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("hub.mode", "hub.verify_token", "hub.challenge")
    ]
}

# Headers that carry credentials are not stored with the request.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", TELEGRAM_SECRET_HEADER, TOKEN_HEADER})


@router.post("/forms/{form_key}", status_code=202, openapi_extra=_FORM_BODY)
@own_body_limit
@accepts_nul_characters
async def submit_form(request: Request, form_key: Key, idempotency_key: IdempotencyKey = None) -> Response:
    """Store a form submission as received and answer before processing it."""
    runtime = request.app.state.runtime
    settings: IntakeSettings = runtime.settings
    _check_declared_size(request, settings.max_body_bytes)
    async with runtime.sessionmaker() as session:
        form = await session.get(FormRecord, form_key)
    if form is None:
        raise UnknownForm(f"no form has the key {form_key!r}; configure it with PUT /staff/forms/{form_key}")
    config = FormConfig.model_validate(form.config)
    body = await _read_body(request, settings.max_body_bytes)
    idempotency_key = (idempotency_key or "").strip() or None
    if idempotency_key is not None:
        # A retry of a stored request gets its first answer, even when the address is over its rate.
        earlier = await _earlier_with_key(runtime.sessionmaker, form_key, idempotency_key)
        if earlier is not None:
            return _receipt(earlier, False)
    remote_addr = request.client.host if request.client else None
    await _check_rate(runtime.sessionmaker, form_key, remote_addr, config)
    content_type = request.headers.get("content-type", "")

    try:
        parsed = GenericFormAdapter(config.fallback_charset).parse(Stored(content_type, body, {}))
    except UnparseableRequest as exc:
        # Kept as failed, so a request that a later version reads can still be replayed.
        await _store(request, form_key, body, status=RequestStatus.FAILED, reason="unparseable", outcome=str(exc))
        raise InvalidSubmission([{"field": "body", "reason": str(exc)}]) from exc
    fields = parsed.fields if isinstance(parsed, Inquiry) else {}
    errors = check_fields(config, fields, settings.default_phone_region)
    if errors:
        if config.reply.mode == "redirect" and config.reply.error_url is not None:
            return _redirect(str(config.reply.error_url), {"errors": ",".join(error["field"] for error in errors)})
        raise InvalidSubmission(errors)

    stored, created = await _store(request, form_key, body, idempotency_key=idempotency_key)
    if config.reply.mode == "redirect" and config.reply.success_url is not None:
        return _redirect(str(config.reply.success_url), {"request_id": str(stored.id)})
    return _receipt(stored, created)


@router.post("/intake/{channel_key}", openapi_extra=_CHANNEL_BODY)
@own_body_limit
@accepts_nul_characters
async def receive_from_channel(request: Request, channel_key: Key, idempotency_key: IdempotencyKey = None) -> Response:
    """Verify a channel's delivery over its raw body, store it and answer 200 before processing it."""
    runtime = request.app.state.runtime
    settings: IntakeSettings = runtime.settings
    _check_declared_size(request, settings.max_body_bytes)
    channel = await _channel(request, channel_key)
    body = await _read_body(request, settings.max_body_bytes)
    incoming = Incoming(
        headers={key.lower(): value for key, value in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        now=time.time(),
    )
    try:
        ADAPTERS[channel.kind].verify(
            incoming,
            channel.secret or "",
            {**channel.settings, "timestamp_tolerance_seconds": settings.webhook_timestamp_tolerance_seconds},
        )
    except SenderNotVerified as exc:
        logger.warning("%s delivery to channel %s rejected: %s", channel.kind, channel_key, exc.message)
        await _store(
            request,
            channel_key,
            body,
            kind=channel.kind,
            status=RequestStatus.REJECTED,
            reason="not_verified",
            outcome=exc.message,
        )
        raise

    stored, created = await _store(request, channel_key, body, kind=channel.kind, idempotency_key=idempotency_key)
    return _receipt(stored, created, accepted_status=200)


@router.get("/intake/{channel_key}", response_class=PlainTextResponse, openapi_extra=_HANDSHAKE_QUERY)
async def verify_subscription(request: Request, channel_key: Key) -> Response:
    """Answer WhatsApp's (Meta's) verification handshake with the challenge when the verify token matches."""
    channel = await _channel(request, channel_key)
    challenge = whatsapp_handshake(dict(request.query_params), channel.verify_token)
    if challenge is None:
        raise SenderNotVerified(
            "hub.verify_token does not match the channel's verify token, or hub.mode is not subscribe"
        )
    return PlainTextResponse(challenge)


async def _channel(request: Request, channel_key: str) -> ChannelRecord:
    async with request.app.state.runtime.sessionmaker() as session:
        channel: ChannelRecord | None = await session.get(ChannelRecord, channel_key)
    if channel is None or not channel.enabled or channel.kind not in ADAPTERS:
        raise UnknownChannel(f"no enabled channel has the key {channel_key!r}")
    return channel


async def _store(
    request: Request,
    endpoint: str,
    body: bytes,
    *,
    kind: str = "form",
    idempotency_key: str | None = None,
    status: RequestStatus = RequestStatus.RECEIVED,
    reason: str | None = None,
    outcome: str | None = None,
) -> tuple[RawRequest, bool]:
    runtime = request.app.state.runtime
    stored, created = await store_request(
        runtime.sessionmaker,
        endpoint=endpoint,
        kind=kind,
        content_type=request.headers.get("content-type", ""),
        headers={key: value for key, value in request.headers.items() if key.lower() not in _SECRET_HEADERS},
        query=urlencode([(key, value) for key, value in request.query_params.multi_items() if key != TOKEN_PARAM]),
        body=body,
        remote_addr=request.client.host if request.client else None,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id() or str(uuid.uuid4()),
        status=status,
        reason=reason,
        outcome=outcome,
    )
    if status == RequestStatus.RECEIVED:
        request.app.state.processor_wakeup.set()
    return stored, created


def _receipt(stored: RawRequest, created: bool, accepted_status: int = 202) -> JSONResponse:
    return JSONResponse(
        {"request_id": str(stored.id), "status": "received" if created else "duplicate"},
        status_code=accepted_status if created else 200,
    )


def _redirect(url: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in url else "?"
    return RedirectResponse(url + separator + urlencode(params), status_code=303)


async def _earlier_with_key(sessionmaker: Any, endpoint: str, idempotency_key: str) -> RawRequest | None:
    async with sessionmaker() as session:
        earlier: RawRequest | None = await session.scalar(
            select(RawRequest).where(RawRequest.endpoint == endpoint, RawRequest.idempotency_key == idempotency_key)
        )
    return earlier


async def _check_rate(sessionmaker: Any, form_key: str, remote_addr: str | None, config: FormConfig) -> None:
    if config.rate_limit_per_minute is None or remote_addr is None:
        return
    async with sessionmaker() as session:
        recent = await session.scalar(
            select(func.count())
            .select_from(RawRequest)
            .where(
                RawRequest.endpoint == form_key,
                RawRequest.remote_addr == remote_addr,
                RawRequest.received_at >= utcnow() - timedelta(minutes=1),
            )
        )
    if int(recent or 0) >= config.rate_limit_per_minute:
        raise RateLimited(
            f"more than {config.rate_limit_per_minute} submissions a minute from one address; try again later",
            retry_after_seconds=60,
        )


def _check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {declared} bytes exceeds the limit of {limit} bytes",
            limit=limit,
        )


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)

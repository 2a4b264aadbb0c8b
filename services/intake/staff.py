"""Staff routes of intake: stored requests and their outcomes, replay, forms and channel connections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from servicekit.auth import CurrentUser, Principal
from servicekit.db import utcnow
from servicekit.errors import NotFound, PermissionDenied, ValidationFailed
from services.intake.channels import CHANNEL_KINDS
from services.intake.forms import FormConfig
from services.intake.handlers import replay_request, replay_requests
from services.intake.http import Key
from services.intake.tables import ChannelRecord, FormRecord, RawRequest, RequestStatus

router = APIRouter()

#: Roles that may read stored requests and manage forms and channels.
STAFF_ROLES = frozenset({"admin", "intake"})


def intake_staff(user: CurrentUser) -> Principal:
    """FastAPI dependency: a staff user with the admin or intake role."""
    if not STAFF_ROLES & set(user.roles):
        raise PermissionDenied(
            "intake's requests, forms and channels need the admin or intake role", roles=sorted(STAFF_ROLES)
        )
    return user


StaffUser = Annotated[Principal, Depends(intake_staff)]


def _summary(stored: RawRequest) -> dict[str, Any]:
    return {
        "id": str(stored.id),
        "endpoint": stored.endpoint,
        "kind": stored.kind,
        "received_at": stored.received_at.isoformat(),
        "status": stored.status,
        "reason": stored.reason,
        "outcome": stored.outcome,
        "processed_at": stored.processed_at.isoformat() if stored.processed_at else None,
        "delivery_id": stored.delivery_id,
        "deal_id": str(stored.deal_id) if stored.deal_id else None,
    }


@router.get("/requests")
async def list_requests(
    request: Request,
    _user: StaffUser,
    *,
    status: Annotated[RequestStatus | None, Query()] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    endpoint: Annotated[str | None, Query(max_length=100)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    before: Annotated[datetime | None, Query(description="Only requests received before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """List stored requests, newest first, with their outcomes."""
    query = select(RawRequest).order_by(RawRequest.received_at.desc()).limit(limit)
    for column, value in (
        (RawRequest.status, status),
        (RawRequest.reason, reason),
        (RawRequest.endpoint, endpoint),
        (RawRequest.kind, kind),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(RawRequest.received_at < before)
    async with request.app.state.runtime.sessionmaker() as session:
        rows = (await session.scalars(query)).all()
    items = [_summary(row) for row in rows]
    return {"items": items, "next_before": items[-1]["received_at"] if len(items) == limit else None}


@router.get("/requests/{request_id}")
async def get_request(request: Request, request_id: uuid.UUID, _user: StaffUser) -> dict[str, Any]:
    """Show a stored request: its outcome and the reason, routing, normalized contact and the deal it became."""
    async with request.app.state.runtime.sessionmaker() as session:
        stored = await session.get(RawRequest, request_id)
        if stored is None:
            raise NotFound(f"request {request_id} not found", id=str(request_id))
        replies = (
            await session.scalars(
                select(RawRequest.id).where(RawRequest.thread_of == request_id).order_by(RawRequest.received_at)
            )
        ).all()
    return {
        **_summary(stored),
        "content_type": stored.content_type,
        "query": stored.query,
        "body_bytes": len(stored.body),
        "headers": stored.headers,
        "correlation_id": stored.correlation_id,
        "attempts": stored.attempts,
        "last_error": stored.last_error,
        "duplicate_of": str(stored.duplicate_of) if stored.duplicate_of else None,
        "thread_of": str(stored.thread_of) if stored.thread_of else None,
        "replies": [str(reply) for reply in replies],
        "summary": stored.summary,
        "deal": stored.deal,
    }


@router.post("/requests/{request_id}/replay", status_code=202)
async def replay(request: Request, request_id: uuid.UUID, _user: StaffUser) -> dict[str, Any]:
    """Process a stored request again; a request that already became a deal still makes only that one."""
    stored = await replay_request(request.app.state.runtime.sessionmaker, request_id)
    request.app.state.processor_wakeup.set()
    return {"id": str(stored.id), "status": stored.status, "outcome": stored.outcome}


class ReplayMany(BaseModel):
    """Replay every stored request with an outcome, such as all that failed during an outage."""

    status: Literal["failed", "ignored", "accepted"] = "failed"
    endpoint: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=1000, ge=1, le=10_000)


@router.post("/requests/replay", status_code=202)
async def replay_many(request: Request, command: ReplayMany, _user: StaffUser) -> dict[str, Any]:
    """Process stored requests with the given outcome again."""
    ids = await replay_requests(
        request.app.state.runtime.sessionmaker, status=command.status, endpoint=command.endpoint, limit=command.limit
    )
    request.app.state.processor_wakeup.set()
    return {"replayed": len(ids), "ids": [str(request_id) for request_id in ids]}


@router.get("/staff/forms")
async def list_forms(request: Request, _user: StaffUser) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        forms = (await session.scalars(select(FormRecord).order_by(FormRecord.key))).all()
    return {"items": [{"key": form.key, **form.config} for form in forms]}


@router.get("/staff/forms/{form_key}")
async def get_form(request: Request, form_key: Key, _user: StaffUser) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        form = await session.get(FormRecord, form_key)
    if form is None:
        raise NotFound(f"no form has the key {form_key!r}", key=form_key)
    return {"key": form.key, **FormConfig.model_validate(form.config).model_dump(mode="json")}


@router.put("/staff/forms/{form_key}")
async def put_form(request: Request, form_key: Key, config: FormConfig, _user: StaffUser) -> dict[str, Any]:
    """Create or replace a form's settings."""
    stored = config.model_dump(mode="json", exclude_defaults=False)
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        form = await session.get(FormRecord, form_key)
        if form is None:
            session.add(FormRecord(key=form_key, config=stored, round_robin={}))
        else:
            form.config = stored
            form.updated_at = utcnow()
    return {"key": form_key, **stored}


@router.delete("/staff/forms/{form_key}", status_code=204)
async def delete_form(request: Request, form_key: Key, _user: StaffUser) -> Response:
    """Delete a form; its stored requests stay, and new submissions answer 404."""
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        form = await session.get(FormRecord, form_key)
        if form is None:
            raise NotFound(f"no form has the key {form_key!r}", key=form_key)
        await session.delete(form)
    return Response(status_code=204)


class ChannelConfig(BaseModel):
    """A channel connection; secrets can be written but are never read back."""

    kind: str = Field(description="One of: " + ", ".join(CHANNEL_KINDS), examples=["telegram"])
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Signing secret (Typeform, WhatsApp app secret, Webflow), secret token (Telegram; the "
        "token= URL parameter of Tilda, Google Forms, Jotform and e-mail) or Bitrix24 application token. "
        "Left out on an update, the stored one stays.",
    )
    verify_token: str | None = Field(default=None, max_length=1000, description="WhatsApp's handshake token.")
    form_key: str | None = Field(default=None, max_length=100, description="Form whose mapping and routing apply.")
    department: str | None = Field(
        default=None,
        max_length=255,
        description="Department of the channel's deals. A matching routing rule's department wins over it, "
        "and it wins over the form's.",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="Kind-specific settings, such as maildir.")
    enabled: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in CHANNEL_KINDS:
            raise ValueError(f"unknown channel kind {kind!r}; choose one of: {', '.join(CHANNEL_KINDS)}")
        return kind


def _channel_view(channel: ChannelRecord) -> dict[str, Any]:
    return {
        "key": channel.key,
        "kind": channel.kind,
        "has_secret": bool(channel.secret),
        "has_verify_token": bool(channel.verify_token),
        "form_key": channel.form_key,
        "department": channel.department,
        "settings": channel.settings,
        "enabled": channel.enabled,
        "webhook_path": f"/intake/{channel.key}",
    }


@router.get("/staff/channels")
async def list_channels(request: Request, _user: StaffUser) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        channels = (await session.scalars(select(ChannelRecord).order_by(ChannelRecord.key))).all()
    return {"items": [_channel_view(channel) for channel in channels]}


@router.get("/staff/channels/{channel_key}")
async def get_channel(request: Request, channel_key: Key, _user: StaffUser) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        channel = await session.get(ChannelRecord, channel_key)
    if channel is None:
        raise NotFound(f"no channel has the key {channel_key!r}", key=channel_key)
    return _channel_view(channel)


@router.put("/staff/channels/{channel_key}")
async def put_channel(request: Request, channel_key: Key, config: ChannelConfig, _user: StaffUser) -> dict[str, Any]:
    """Create or replace a channel connection; a channel without a secret accepts nothing."""
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        channel = await session.get(ChannelRecord, channel_key)
        if channel is None:
            if config.secret is None:
                raise ValidationFailed("a new channel needs its secret", field="secret")
            channel = ChannelRecord(key=channel_key)
            session.add(channel)
        channel.kind = config.kind
        if config.secret is not None:
            channel.secret = config.secret
        if config.verify_token is not None:
            channel.verify_token = config.verify_token
        channel.form_key = config.form_key
        channel.department = config.department
        channel.settings = config.settings
        channel.enabled = config.enabled
        channel.updated_at = utcnow()
    return _channel_view(channel)


@router.delete("/staff/channels/{channel_key}", status_code=204)
async def delete_channel(request: Request, channel_key: Key, _user: StaffUser) -> Response:
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        channel = await session.get(ChannelRecord, channel_key)
        if channel is None:
            raise NotFound(f"no channel has the key {channel_key!r}", key=channel_key)
        await session.delete(channel)
    return Response(status_code=204)

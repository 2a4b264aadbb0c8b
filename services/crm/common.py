"""Helpers shared by the CRM use cases: the origin of a change, field errors and event recording."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorType, Event
from servicekit.auth import Principal
from servicekit.errors import Conflict, ServiceError, ValidationFailed
from servicekit.outbox import record_event
from servicekit.settings import ServiceSettings


class Deleted(ServiceError):
    """The record existed but was deleted."""

    status_code = 410
    code = "deleted"


#: Most rows a list route returns in one page.
MAX_PAGE = 200


def encode_cursor(created_at: datetime, record_id: uuid.UUID) -> str:
    """Return an opaque cursor for keyset paging after the row with this creation time and id."""
    raw = f"{created_at.isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Return the creation time and id in a cursor from ``encode_cursor``; 422 naming ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, record_id = raw.partition("|")
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("the cursor's time has no time zone")
        return parsed, uuid.UUID(record_id)
    except ValueError as exc:
        raise ValidationFailed(
            "cursor is not a next_cursor returned by this list; start again without it", field="cursor"
        ) from exc


class VersionMismatch(Conflict):
    """The request was made against an older version of the record (its If-Match)."""

    code = "version_mismatch"


def require_version(record_type: str, record: Any, if_match: str | None) -> None:
    """Reject the change unless ``if_match`` is absent or names the record's current version.

    The version is the one the record's ETag carries, for example ``"3"``; a weak tag ``W/"3"`` is accepted.
    """
    if if_match is None:
        return
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ValidationFailed(
            f'If-Match must be a {record_type} version such as "3", not {if_match[:40]!r}', field="If-Match"
        )
    if int(value) != record.version:
        raise VersionMismatch(
            f"{record_type} {record.id} changed after version {value}: it is now version {record.version}; "
            "reload it and apply your change again",
            current_version=record.version,
        )


@dataclass(frozen=True)
class Origin:
    """Origin of a change: the actor and ids for the event envelope, and the cause for the deal's timeline."""

    actor: Actor
    correlation_id: str
    causation_id: uuid.UUID | None = None
    #: Timeline cause: ``type`` (user, request, task, system), ``id`` and ``name``.
    cause: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def user(cls, user: Principal, correlation_id: str) -> Origin:
        return cls(
            actor=Actor(type=ActorType.USER, id=user.user_id, name=user.name or None),
            correlation_id=correlation_id,
            cause={"type": "user", "id": user.user_id, "name": user.name or None},
        )

    @property
    def by_person(self) -> bool:
        return self.actor.type == ActorType.USER


def invalid(*errors: tuple[str, str], message: str | None = None) -> ValidationFailed:
    """Build a 422 error that names each invalid field and the rule it breaks, each pair once."""
    unique = list(dict.fromkeys(errors))
    items = [{"field": name, "reason": reason} for name, reason in unique]
    summary = message or "; ".join(f"{name}: {reason}" for name, reason in unique)
    return ValidationFailed(f"invalid request: {summary}", errors=items)


def record(
    session: AsyncSession,
    settings: ServiceSettings,
    topic: str,
    event_class: type[Event[Any]],
    *,
    aggregate_id: uuid.UUID,
    version: int,
    origin: Origin,
    data: Any,
) -> None:
    """Record an event of an aggregate in the caller's transaction."""
    # Each concrete event class defaults its event_type and aggregate_type.
    event = event_class(  # type: ignore[call-arg]
        producer=settings.service_name,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        correlation_id=origin.correlation_id,
        causation_id=origin.causation_id,
        actor=origin.actor,
        data=data,
    )
    record_event(session, settings.topic(topic), event)

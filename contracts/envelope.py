"""The envelope that every event on every topic travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

DataT = TypeVar("DataT", bound=BaseModel)


class ActorType(StrEnum):
    """Kind of party that caused an event."""

    USER = "user"
    PORTAL_USER = "portal_user"
    CHANNEL = "channel"
    SYSTEM = "system"


class Actor(BaseModel):
    """Party that caused an event: a staff user, a portal user, an intake channel or the system."""

    model_config = ConfigDict(frozen=True)

    type: ActorType = Field(description="Kind of actor.", examples=["user"])
    id: str = Field(
        description="User id, portal user id, channel name or service name.",
        examples=["u-1"],
    )
    name: str | None = Field(default=None, description="Display name at the time of the event.")

    @classmethod
    def system(cls, service: str) -> Actor:
        return cls(type=ActorType.SYSTEM, id=service)


class Event(BaseModel, Generic[DataT]):
    """Envelope of one event; ``data`` is the aggregate's full state after the change."""

    model_config = ConfigDict(frozen=True)

    #: Current schema version of this event type; subclasses raise it on a breaking change.
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Unique id of this event.")
    event_type: str = Field(description="Dotted event name.", examples=["crm.deal.created"])
    schema_version: int = Field(default=1, ge=1, description="Version of the data schema of this event type.")
    occurred_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When the change happened, in UTC.",
    )
    producer: str = Field(description="Service that published the event.", examples=["crm"])
    aggregate_type: str = Field(description="Kind of aggregate that changed.", examples=["deal"])
    aggregate_id: uuid.UUID = Field(description="Id of the aggregate; also the Kafka message key.")
    aggregate_version: int = Field(
        ge=1,
        description="Version of the aggregate after this change; grows by one with every change.",
    )
    correlation_id: str = Field(description="Id shared by every message caused by one outside request.")
    causation_id: uuid.UUID | None = Field(
        default=None,
        description="Id of the event or request that directly caused this event.",
    )
    actor: Actor = Field(description="Who caused the change.")
    data: DataT = Field(description="Full state of the aggregate after the change, plus what changed.")

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def headers(self, traceparent: str | None = None) -> dict[str, str]:
        """Build the Kafka headers that accompany this event."""
        headers = {
            "event_type": self.event_type,
            "event_id": str(self.event_id),
            "correlation_id": self.correlation_id,
        }
        if traceparent:
            headers["traceparent"] = traceparent
        return headers

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

"""Events of the extranet service: invitations, portal users and what portal users accessed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event

InvitationStatus = Literal["pending", "accepted", "revoked"]
PortalUserStatus = Literal["active", "revoked"]
AccessAction = Literal["viewed", "downloaded"]
AccessObject = Literal["portal", "deal", "task", "document_version", "file"]


class InvitationState(BaseModel):
    """Full state of an invitation to the client portal; the token itself never leaves the extranet."""

    id: uuid.UUID
    company_id: uuid.UUID = Field(description="Client company the invited person will see.")
    contact_id: uuid.UUID | None = Field(default=None, description="CRM contact who was invited.")
    email: str = Field(description="Address the invitation was sent to.", examples=["anna@romashka.example"])
    status: InvitationStatus = "pending"
    expires_at: datetime
    invited_by: str = Field(description="Staff user id who sent the invitation.")
    portal_user_id: uuid.UUID | None = Field(default=None, description="Portal user created on acceptance.")


class InvitationCreated(Event[InvitationState]):
    """Staff invited a contact of a client to the portal."""

    event_type: Literal["extranet.invitation.created"] = "extranet.invitation.created"
    aggregate_type: Literal["invitation"] = "invitation"


class InvitationAccepted(Event[InvitationState]):
    """The invited person accepted and became a portal user."""

    event_type: Literal["extranet.invitation.accepted"] = "extranet.invitation.accepted"
    aggregate_type: Literal["invitation"] = "invitation"


class InvitationRevoked(Event[InvitationState]):
    """Staff revoked an invitation before it was accepted."""

    event_type: Literal["extranet.invitation.revoked"] = "extranet.invitation.revoked"
    aggregate_type: Literal["invitation"] = "invitation"


class PortalUserState(BaseModel):
    """Full state of a portal user: one of the client's own people."""

    id: uuid.UUID
    company_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    email: str
    status: PortalUserStatus = "active"


class PortalUserCreated(Event[PortalUserState]):
    """A portal user was created by accepting an invitation."""

    event_type: Literal["extranet.portal_user.created"] = "extranet.portal_user.created"
    aggregate_type: Literal["portal_user"] = "portal_user"


class PortalUserRevoked(Event[PortalUserState]):
    """Staff revoked a portal user's access; their sessions ended at once."""

    event_type: Literal["extranet.portal_user.revoked"] = "extranet.portal_user.revoked"
    aggregate_type: Literal["portal_user"] = "portal_user"


class AccessRecord(BaseModel):
    """One thing a portal user viewed or downloaded."""

    id: uuid.UUID
    portal_user_id: uuid.UUID
    company_id: uuid.UUID
    action: AccessAction
    object_type: AccessObject
    object_id: uuid.UUID | None = Field(default=None, description="Id of the record; None for the portal overview.")
    occurred_at: datetime


class AccessRecorded(Event[AccessRecord]):
    """A portal user viewed or downloaded something; the audit trail of the portal."""

    event_type: Literal["extranet.access.recorded"] = "extranet.access.recorded"
    aggregate_type: Literal["access"] = "access"


ExtranetAccessEvent = Annotated[
    InvitationCreated | InvitationAccepted | InvitationRevoked | PortalUserCreated | PortalUserRevoked | AccessRecorded,
    Field(discriminator="event_type"),
]

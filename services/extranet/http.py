"""Staff routes of the extranet: sharing policy, preview as client, invitations, portal users and audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorType
from contracts.extranet import InvitationState, PortalUserState
from servicekit.auth import CurrentUser, Principal
from servicekit.errors import NotFound, PermissionDenied
from servicekit.logs import correlation_id
from servicekit.service import ServiceRuntime
from services.extranet.access import (
    CreateInvitation,
    create_invitation,
    portal_user_state,
    revoke_invitation,
    revoke_portal_user,
)
from services.extranet.handlers import compute_view_rows, effective_policy, load_policy, materialize_company
from services.extranet.policy import SharingPolicy
from services.extranet.settings import ExtranetSettings
from services.extranet.tables import AccessLogEntry, Invitation, PortalUser, SharingPolicyRow, SourceCompany
from services.extranet.view import PortalView, ViewDiff, build_view, company_name, diff_views, read_view

router = APIRouter()

ShareKind = Literal["document_version", "file", "task"]


class PolicyOut(BaseModel):
    company_id: uuid.UUID
    policy: SharingPolicy
    updated_by: str | None = None
    updated_at: datetime | None = None


class InvitationOut(BaseModel):
    invitation: InvitationState
    token: str
    accept_url: str


class SharePreview(BaseModel):
    """Portal users who would see a record of one kind once it is shared, under the current policy."""

    kind: ShareKind
    exposed: bool = Field(description="True when the policy lets shared records of this kind into the view.")
    reason: str
    portal_users: list[str] = Field(
        default_factory=list, description="E-mails of active portal users who would see it."
    )


class AuditEntry(BaseModel):
    id: uuid.UUID
    portal_user_id: uuid.UUID
    action: str
    object_type: str
    object_id: uuid.UUID | None
    occurred_at: datetime


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _settings(request: Request) -> ExtranetSettings:
    settings = _runtime(request).settings
    assert isinstance(settings, ExtranetSettings)
    return settings


def _actor(user: Principal) -> Actor:
    return Actor(type=ActorType.USER, id=user.user_id, name=user.name)


def _correlation() -> str:
    return correlation_id() or str(uuid.uuid4())


async def _authorize(session: AsyncSession, user: Principal, company_id: uuid.UUID) -> None:
    """Let admins, the company's owner and its department manage the company's portal."""
    if user.is_admin:
        return
    company = await session.get(SourceCompany, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found", id=str(company_id), status="not_found")
    if company.owner_id == user.user_id or (company.department is not None and company.department == user.department):
        return
    raise PermissionDenied(
        f"company {company_id} is restricted; ask its owner for access",
        id=str(company_id),
        status="restricted",
        reason="the company belongs to another department",
        owner=company.owner_id,
    )


@router.get("/companies/{company_id}/policy")
async def get_policy(request: Request, company_id: uuid.UUID, user: CurrentUser) -> PolicyOut:
    """Return the company's sharing policy; a company without one shares nothing."""
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        row = await session.get(SharingPolicyRow, company_id)
    if row is None:
        return PolicyOut(company_id=company_id, policy=SharingPolicy())
    return PolicyOut(
        company_id=company_id,
        policy=SharingPolicy.model_validate(row.policy),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.put("/companies/{company_id}/policy")
async def put_policy(request: Request, company_id: uuid.UUID, body: SharingPolicy, user: CurrentUser) -> PolicyOut:
    """Set the company's sharing policy and rebuild its client view in the same transaction."""
    async with _runtime(request).sessionmaker() as session, session.begin():
        await _authorize(session, user, company_id)
        row = SharingPolicyRow(company_id=company_id, policy=body.model_dump(mode="json"), updated_by=user.user_id)
        row = await session.merge(row)
        await materialize_company(session, company_id, await effective_policy(session, company_id, body))
    return PolicyOut(company_id=company_id, policy=body, updated_by=row.updated_by, updated_at=row.updated_at)


@router.post("/companies/{company_id}/policy/preview")
async def preview_policy(request: Request, company_id: uuid.UUID, body: SharingPolicy, user: CurrentUser) -> ViewDiff:
    """Show what a proposed policy would newly expose and hide, without changing anything."""
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        current = await read_view(session, company_id)
        rows = await compute_view_rows(session, company_id, await effective_policy(session, company_id, body))
        proposed = build_view(company_id, await company_name(session, company_id), rows)
    return diff_views(current, proposed)


@router.get("/companies/{company_id}/share-preview")
async def preview_share(request: Request, company_id: uuid.UUID, kind: ShareKind, user: CurrentUser) -> SharePreview:
    """Tell staff, before they publish a version, share a file or flag a task, which portal users would see it."""
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        policy = await load_policy(session, company_id)
        exposed = {"document_version": policy.documents, "file": policy.files, "task": policy.tasks}[kind]
        users = await session.scalars(
            select(PortalUser.email).where(PortalUser.company_id == company_id, PortalUser.revoked_at.is_(None))
        )
        emails = sorted(users) if exposed else []
    reason = f"the company's policy {'shows' if exposed else 'does not show'} shared records of kind {kind}"
    return SharePreview(kind=kind, exposed=exposed, reason=reason, portal_users=emails)


@router.get("/companies/{company_id}/preview")
async def preview_as_client(request: Request, company_id: uuid.UUID, user: CurrentUser) -> PortalView:
    """Return exactly the view the company's portal users receive now."""
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        return await read_view(session, company_id)


@router.post("/companies/{company_id}/invitations", status_code=201)
async def post_invitation(
    request: Request, company_id: uuid.UUID, body: CreateInvitation, user: CurrentUser
) -> InvitationOut:
    """Invite a contact of the company; the token is shown once, here, for the e-mail to carry."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        await _authorize(session, user, company_id)
        issued = await create_invitation(
            session, _settings(request), company_id, body, actor=_actor(user), correlation_id=_correlation()
        )
    runtime.relay.notify()
    # NOTE: no mail is sent yet; the caller delivers accept_url to the invited person.
    accept_url = str(request.url_for("accept_page").include_query_params(token=issued.token))
    base_url = _settings(request).portal_base_url
    if base_url is not None:
        accept_url = base_url.rstrip("/") + "/portal/accept?" + urlencode({"token": issued.token})
    return InvitationOut(invitation=issued.invitation, token=issued.token, accept_url=accept_url)


@router.post("/invitations/{invitation_id}/revoke")
async def post_invitation_revoke(request: Request, invitation_id: uuid.UUID, user: CurrentUser) -> InvitationState:
    """Revoke a pending invitation."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        company_id = await session.scalar(select(Invitation.company_id).where(Invitation.id == invitation_id))
        if company_id is None:
            raise NotFound(f"invitation {invitation_id} not found", id=str(invitation_id), status="not_found")
        await _authorize(session, user, company_id)
        state = await revoke_invitation(
            session, _settings(request), invitation_id, actor=_actor(user), correlation_id=_correlation()
        )
    runtime.relay.notify()
    return state


@router.get("/companies/{company_id}/portal-users")
async def list_portal_users(request: Request, company_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """List the company's portal users."""
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        users = await session.scalars(
            select(PortalUser).where(PortalUser.company_id == company_id).order_by(PortalUser.created_at)
        )
        return {"items": [portal_user_state(portal_user) for portal_user in users]}


@router.post("/portal-users/{user_id}/revoke")
async def post_portal_user_revoke(request: Request, user_id: uuid.UUID, user: CurrentUser) -> PortalUserState:
    """Revoke a portal user; their next request is refused."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        company_id = await session.scalar(select(PortalUser.company_id).where(PortalUser.id == user_id))
        if company_id is None:
            raise NotFound(f"portal user {user_id} not found", id=str(user_id), status="not_found")
        await _authorize(session, user, company_id)
        state = await revoke_portal_user(
            session, _settings(request), user_id, actor=_actor(user), correlation_id=_correlation()
        )
    runtime.relay.notify()
    return state


@router.get("/companies/{company_id}/audit")
async def list_audit(
    request: Request,
    company_id: uuid.UUID,
    user: CurrentUser,
    portal_user_id: uuid.UUID | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, list[AuditEntry]]:
    """List what the company's portal users viewed and downloaded, newest first."""
    query = select(AccessLogEntry).where(AccessLogEntry.company_id == company_id)
    if portal_user_id is not None:
        query = query.where(AccessLogEntry.portal_user_id == portal_user_id)
    async with _runtime(request).sessionmaker() as session:
        await _authorize(session, user, company_id)
        entries = await session.scalars(query.order_by(AccessLogEntry.id.desc()).limit(limit))
        items = [
            AuditEntry(
                id=entry.record_id,
                portal_user_id=entry.portal_user_id,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                occurred_at=entry.occurred_at,
            )
            for entry in entries
        ]
    return {"items": items}

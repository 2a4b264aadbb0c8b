"""Use cases of access requests: a user asks a record's owner for read access, and the owner decides.

A granted request is itself the grant: ``Guard`` reads the granted, unexpired requests of its user and
lets them read those records. Each request, grant and decline is added to the timeline of the deal
named in the request (the restricted deal itself, or the deal whose card showed the restricted record).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import utcnow
from servicekit.errors import Conflict, NotFound, PermissionDenied
from services.crm.common import Deleted, Origin, invalid
from services.crm.guard import Guard
from services.crm.handlers import add_timeline
from services.crm.tables import AccessRequest, Company, Contact, Deal, DealContact, LegalEntity, Project

RecordType = Literal["company", "contact", "legal_entity", "project", "deal"]
RequestStatus = Literal["pending", "granted", "declined", "expired"]
Box = Literal["incoming", "outgoing"]

#: Maximum read access of one grant, in days.
MAX_GRANT_DAYS = 90
LIST_LIMIT = 200

TABLES: dict[str, Any] = {
    "company": Company,
    "contact": Contact,
    "legal_entity": LegalEntity,
    "project": Project,
    "deal": Deal,
}

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class RequestAccess(BaseModel):
    """Ask the owner of a restricted record for read access."""

    record_type: RecordType
    record_id: uuid.UUID
    reason: Reason = Field(description="Why the requester needs the record; shown to its owner.")
    deal_id: uuid.UUID | None = Field(
        default=None,
        description="Deal whose card shows the record, so its timeline records the request; a deal record by default.",
    )


class GrantAccess(BaseModel):
    """Let the requester read the record for a number of days."""

    days: int = Field(ge=1, le=MAX_GRANT_DAYS, description=f"Days of read access, 1 to {MAX_GRANT_DAYS}.")


class DeclineAccess(BaseModel):
    """Decline an access request, optionally with the reason."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


async def request_access(
    session: AsyncSession, guard: Guard, command: RequestAccess, origin: Origin
) -> tuple[AccessRequest, bool]:
    """Record a pending request and return it with whether it is new; a repeat returns the pending one."""
    record = await _load_record(session, command.record_type, command.record_id)
    if (await guard.decide(session, command.record_type, "read", record)).allowed:
        raise Conflict(
            f"you can already read {command.record_type} {command.record_id}; no access request is needed",
            status="readable",
            id=str(command.record_id),
        )
    deal_id = await _timeline_deal(session, guard, command)
    existing = await _pending(session, guard.user.user_id, command.record_type, command.record_id)
    if existing is not None:
        return existing, False

    owner = await guard.owner_of(session, command.record_type, record)
    row = AccessRequest(
        id=uuid.uuid4(),
        record_type=command.record_type,
        record_id=command.record_id,
        deal_id=deal_id,
        requester_id=guard.user.user_id,
        requester_name=guard.user.name or None,
        requester_department=guard.user.department,
        owner_id=owner["id"],
        owner_department=owner["department"],
        reason=command.reason,
        status="pending",
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another request of the same user for the same record committed a moment ago.
        existing = await _pending(session, guard.user.user_id, command.record_type, command.record_id)
        if existing is None:
            raise
        return existing, False
    _add_entry(session, row, "access_requested", origin, {"reason": row.reason})
    return row, True


async def grant_access(
    session: AsyncSession, guard: Guard, request_id: uuid.UUID, command: GrantAccess, origin: Origin
) -> AccessRequest:
    """Grant a pending request for ``command.days`` days; only the record's owner or an admin may."""
    row = await _pending_decision(session, guard, request_id)
    now = utcnow()
    _decide(row, guard, "granted", now)
    row.days = command.days
    row.expires_at = now + timedelta(days=command.days)
    _add_entry(session, row, "access_granted", origin, {"days": row.days, "expires_at": row.expires_at.isoformat()})
    return row


async def decline_access(
    session: AsyncSession, guard: Guard, request_id: uuid.UUID, command: DeclineAccess, origin: Origin
) -> AccessRequest:
    """Decline a pending request; only the record's owner or an admin may."""
    row = await _pending_decision(session, guard, request_id)
    _decide(row, guard, "declined", utcnow())
    row.decision_reason = command.reason or None
    _add_entry(session, row, "access_declined", origin, {"reason": row.decision_reason})
    return row


async def list_requests(
    session: AsyncSession, guard: Guard, box: Box, status: RequestStatus | None
) -> list[dict[str, Any]]:
    """Return the user's outgoing requests, or the incoming ones they may decide, newest first."""
    query = select(AccessRequest).order_by(AccessRequest.created_at.desc()).limit(LIST_LIMIT)
    if box == "outgoing":
        query = query.where(AccessRequest.requester_id == guard.user.user_id)
    elif not guard.user.is_admin:
        # NOTE: incoming requests are matched by the owner at request time. After the record changes
        # owner, the new owner may still decide a request by its id but does not see it listed.
        query = query.where(AccessRequest.owner_id == guard.user.user_id)
    query = _with_status(query, status)
    return [await request_view(session, guard, row) for row in await session.scalars(query)]


async def load_request(session: AsyncSession, guard: Guard, request_id: uuid.UUID) -> AccessRequest:
    """Return a request that the user made, was asked, or may decide as an admin; raise 404 or 403."""
    row = await session.get(AccessRequest, request_id)
    if row is None:
        raise NotFound(f"access request {request_id} not found", id=str(request_id), status="not_found")
    if guard.user.user_id in (row.requester_id, row.owner_id) or guard.user.is_admin:
        return row
    if await _may_decide(session, guard, row):
        return row
    raise PermissionDenied(
        f"you may not read access request {request_id}: only its requester, the record's owner and admins may",
        id=str(request_id),
        status="restricted",
    )


async def request_view(session: AsyncSession, guard: Guard, row: AccessRequest) -> dict[str, Any]:
    """Return a request as the API shows it; the record's name only when the user may read the record."""
    return {
        "id": str(row.id),
        "record": await _record_reference(session, guard, row.record_type, row.record_id),
        "deal_id": str(row.deal_id) if row.deal_id else None,
        "requester": {"id": row.requester_id, "name": row.requester_name, "department": row.requester_department},
        "owner": {"id": row.owner_id, "department": row.owner_department},
        "reason": row.reason,
        "status": effective_status(row, utcnow()),
        "created_at": row.created_at.isoformat(),
        "decided_by": {"id": row.decided_by_id, "name": row.decided_by_name} if row.decided_by_id else None,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decision_reason": row.decision_reason,
        "days": row.days,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def effective_status(row: AccessRequest, now: datetime) -> RequestStatus:
    """Return the stored status, or ``expired`` for a grant whose time has passed."""
    if row.status == "granted" and row.expires_at is not None and row.expires_at <= now:
        return "expired"
    status: RequestStatus = row.status  # type: ignore[assignment]
    return status


def _with_status(query: Select[AccessRequest], status: RequestStatus | None) -> Select[AccessRequest]:
    now = utcnow()
    if status is None:
        return query
    if status == "granted":
        return query.where(AccessRequest.status == "granted", AccessRequest.expires_at > now)
    if status == "expired":
        return query.where(AccessRequest.status == "granted", AccessRequest.expires_at <= now)
    return query.where(AccessRequest.status == status)


async def _load_record(session: AsyncSession, record_type: str, record_id: uuid.UUID) -> Any:
    row = await session.get(TABLES[record_type], record_id)
    if row is None:
        raise NotFound(f"{record_type} {record_id} not found", id=str(record_id), status="not_found")
    if row.deleted:
        raise Deleted(f"{record_type} {record_id} was deleted", id=str(record_id), status="deleted")
    return row


async def _timeline_deal(session: AsyncSession, guard: Guard, command: RequestAccess) -> uuid.UUID | None:
    """Check the deal named for the timeline: the record itself, or a readable deal that links the record."""
    if command.record_type == "deal":
        if command.deal_id not in (None, command.record_id):
            raise invalid(("deal_id", "must be empty or equal record_id when the record is a deal"))
        return command.record_id
    if command.deal_id is None:
        return None
    deal = await session.get(Deal, command.deal_id)
    if deal is None or deal.deleted:
        raise invalid(("deal_id", f"deal {command.deal_id} does not exist"))
    await guard.require(session, "deal", "read", deal)
    if (command.record_type, command.record_id) not in await _deal_links(session, deal):
        raise invalid(("deal_id", f"deal {deal.id} does not link {command.record_type} {command.record_id}"))
    return deal.id


async def _deal_links(session: AsyncSession, deal: Deal) -> set[tuple[str, uuid.UUID | None]]:
    contact_ids = await session.scalars(select(DealContact.contact_id).where(DealContact.deal_id == deal.id))
    return {
        ("company", deal.company_id),
        ("contact", deal.primary_contact_id),
        ("legal_entity", deal.client_legal_entity_id),
        ("legal_entity", deal.our_legal_entity_id),
        ("project", deal.project_id),
        *(("contact", contact_id) for contact_id in contact_ids),
    }


async def _pending(session: AsyncSession, user_id: str, record_type: str, record_id: uuid.UUID) -> AccessRequest | None:
    query = select(AccessRequest).where(
        AccessRequest.requester_id == user_id,
        AccessRequest.record_type == record_type,
        AccessRequest.record_id == record_id,
        AccessRequest.status == "pending",
    )
    return await session.scalar(query)


async def _pending_decision(session: AsyncSession, guard: Guard, request_id: uuid.UUID) -> AccessRequest:
    """Load a request for a decision: 404 if unknown, 403 unless the user may decide, 409 if decided."""
    row = await session.scalar(select(AccessRequest).where(AccessRequest.id == request_id).with_for_update())
    if row is None:
        raise NotFound(f"access request {request_id} not found", id=str(request_id), status="not_found")
    if not await _may_decide(session, guard, row):
        owner = await _current_owner(session, guard, row)
        deciders = f"the owner of {row.record_type} {row.record_id} (user {owner['id']}) or an admin"
        if owner["id"] is None:
            deciders = f"an admin, because {row.record_type} {row.record_id} has no owner,"
        raise PermissionDenied(
            f"only {deciders} may decide this request",
            id=str(request_id),
            status="restricted",
            reason="you are not the owner of the record",
            owner=owner,
        )
    if row.status != "pending":
        decided = row.decided_at.isoformat() if row.decided_at else "earlier"
        raise Conflict(
            f"access request {request_id} was already {row.status} ({decided}); a decided request cannot be "
            "decided again",
            id=str(request_id),
            status=row.status,
        )
    return row


async def _may_decide(session: AsyncSession, guard: Guard, row: AccessRequest) -> bool:
    if guard.user.is_admin:
        return True
    return bool((await _current_owner(session, guard, row))["id"] == guard.user.user_id)


async def _current_owner(session: AsyncSession, guard: Guard, row: AccessRequest) -> dict[str, Any]:
    """Return the record's owner now, or the owner asked when the record no longer exists."""
    record = await session.get(TABLES[row.record_type], row.record_id)
    if record is None:
        return {"id": row.owner_id, "department": row.owner_department}
    return await guard.owner_of(session, row.record_type, record)


def _decide(row: AccessRequest, guard: Guard, status: str, now: datetime) -> None:
    row.status = status
    row.decided_by_id = guard.user.user_id
    row.decided_by_name = guard.user.name or None
    row.decided_at = now


def _add_entry(session: AsyncSession, row: AccessRequest, kind: str, origin: Origin, data: dict[str, Any]) -> None:
    """Add an entry about ``row`` to the timeline of its deal, when it names one."""
    if row.deal_id is None:
        return
    base = {
        "request_id": str(row.id),
        "record_type": row.record_type,
        "record_id": str(row.record_id),
        "requester": {"id": row.requester_id, "name": row.requester_name},
    }
    add_timeline(session, row.deal_id, kind, origin, {**base, **data})


async def _record_reference(
    session: AsyncSession, guard: Guard, record_type: str, record_id: uuid.UUID
) -> dict[str, Any]:
    record = await session.get(TABLES[record_type], record_id)
    reference: dict[str, Any] = {"type": record_type, "id": str(record_id)}
    if record is None:
        return {**reference, "status": "not_found"}
    if record.deleted:
        return {**reference, "status": "deleted"}
    if not (await guard.decide(session, record_type, "read", record)).allowed:
        return {**reference, "status": "restricted"}
    return {**reference, "status": "ok", "name": _record_name(record)}


def _record_name(record: Any) -> str:
    if isinstance(record, Deal):
        return record.title
    if isinstance(record, LegalEntity):
        return record.legal_name
    name: str = record.name
    return name

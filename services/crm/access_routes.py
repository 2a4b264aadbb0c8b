"""HTTP routes of access requests: ask a record's owner for read access, and grant or decline it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from servicekit.auth import CurrentUser
from services.crm.access_requests import (
    Box,
    DeclineAccess,
    GrantAccess,
    RequestAccess,
    RequestStatus,
    decline_access,
    grant_access,
    list_requests,
    load_request,
    request_access,
    request_view,
)
from services.crm.http import _origin, _session

router = APIRouter(tags=["access requests"])


@router.post("/access-requests", status_code=201)
async def post_access_request(
    request: Request, response: Response, body: RequestAccess, user: CurrentUser
) -> dict[str, Any]:
    """Ask the record's owner for read access; a repeat of a pending request returns it with 200."""
    async with _session(request, user, write=True) as (session, guard):
        row, created = await request_access(session, guard, body, _origin(user))
        if not created:
            response.status_code = 200
        return await request_view(session, guard, row)


@router.get("/access-requests")
async def get_access_requests(
    request: Request, user: CurrentUser, box: Box = "outgoing", status: RequestStatus | None = None
) -> dict[str, Any]:
    """List the user's own requests (``outgoing``) or the requests they may decide (``incoming``)."""
    async with _session(request, user, write=False) as (session, guard):
        return {"items": await list_requests(session, guard, box, status)}


@router.get("/access-requests/{request_id}")
async def get_access_request(request: Request, request_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return one request to its requester, the owner asked, or an admin."""
    async with _session(request, user, write=False) as (session, guard):
        return await request_view(session, guard, await load_request(session, guard, request_id))


@router.post("/access-requests/{request_id}/grant")
async def post_grant(request: Request, request_id: uuid.UUID, body: GrantAccess, user: CurrentUser) -> dict[str, Any]:
    """Let the requester read the record for ``days`` days; only its owner or an admin may."""
    async with _session(request, user, write=True) as (session, guard):
        row = await grant_access(session, guard, request_id, body, _origin(user))
        return await request_view(session, guard, row)


@router.post("/access-requests/{request_id}/decline")
async def post_decline(
    request: Request, request_id: uuid.UUID, user: CurrentUser, body: DeclineAccess | None = None
) -> dict[str, Any]:
    """Decline the request, optionally with the reason; only the record's owner or an admin may."""
    async with _session(request, user, write=True) as (session, guard):
        row = await decline_access(session, guard, request_id, body or DeclineAccess(), _origin(user))
        return await request_view(session, guard, row)

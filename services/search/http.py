"""Search's HTTP routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from servicekit.auth import CurrentUser

router = APIRouter()


@router.get("/search")
async def search(
    request: Request,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Text to find.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Search the records the user may read."""
    result: dict[str, Any] = await request.app.state.deal_index.search(user, q, limit)
    return result

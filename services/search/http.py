"""Search's HTTP routes: ``/search`` and ``/suggest``, each limited to what the user may read."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from servicekit.auth import CurrentUser
from servicekit.errors import ValidationFailed
from services.search.documents import Domain
from services.search.index import SearchIndex
from services.search.query import decode_cursor

router = APIRouter()

TYPE_VALUES = [domain.value for domain in Domain]
TYPE_NAMES = ", ".join(TYPE_VALUES)

Text = Annotated[
    str, Query(min_length=1, max_length=500, description="Words, a name prefix, a phone, e-mail or tax id.")
]
Types = Annotated[
    str | None,
    Query(max_length=200, description=f"Comma-separated record types to search; all when unset. Types: {TYPE_NAMES}."),
]


def invalid(field: str, reason: str) -> RequestValidationError:
    """Build the same 422 error that FastAPI's own parameter checks produce."""
    return RequestValidationError([{"loc": ("query", field), "msg": reason, "type": "value_error"}])


def parse_text(q: str) -> str:
    text = q.strip()
    if not text:
        raise invalid("q", "must contain a character other than white space")
    return text


def parse_types(types: str | None) -> list[Domain]:
    if types is None:
        return list(Domain)
    names = [name.strip() for name in types.split(",") if name.strip()]
    if not names:
        raise invalid("types", f"must name at least one type of: {TYPE_NAMES}")
    unknown = [name for name in names if name not in TYPE_VALUES]
    if unknown:
        raise invalid("types", f"unknown type {', '.join(map(repr, unknown))}; choose from: {TYPE_NAMES}")
    return list(dict.fromkeys(Domain(name) for name in names))


def parse_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        values = decode_cursor(cursor)
    except ValidationFailed as exc:
        raise invalid("cursor", "is invalid: pass the next_cursor of a previous page unchanged") from exc
    try:
        score = float(values[0])
    except OverflowError:
        score = math.inf
    if not math.isfinite(score):
        raise invalid("cursor", "is invalid: pass the next_cursor of a previous page unchanged")
    return values


@router.get("/search")
async def search(
    request: Request,
    *,
    user: CurrentUser,
    q: Text,
    types: Types = None,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Hits per page.")] = 20,
) -> dict[str, Any]:
    """Search the records the user may read, with highlights, links, counts per type and a cursor."""
    index: SearchIndex = request.app.state.search_index
    return await index.search(user, parse_text(q), parse_types(types), limit, parse_cursor(cursor))


@router.get("/suggest")
async def suggest(
    request: Request,
    *,
    user: CurrentUser,
    q: Text,
    types: Types = None,
    limit: Annotated[int, Query(ge=1, le=20, description="Suggestions to return.")] = 8,
) -> dict[str, Any]:
    """Suggest titles of readable records whose titles or names start with the typed words."""
    index: SearchIndex = request.app.state.search_index
    return {"items": await index.suggest(user, parse_text(q), parse_types(types), limit)}

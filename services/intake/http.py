"""Intake's HTTP routes: the public form endpoint and the staff view of a request."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse

from servicekit.auth import CurrentUser
from servicekit.errors import NotFound, ServiceError
from servicekit.logs import correlation_id
from services.intake.handlers import store_request
from services.intake.tables import RawRequest

router = APIRouter()

FormKey = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]

# Headers that carry credentials are not stored with the request.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class PayloadTooLarge(ServiceError):
    """The request body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


@router.post("/forms/{form_key}", status_code=202)
async def submit_form(
    request: Request,
    form_key: FormKey,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Store a form submission as received and answer before processing it."""
    runtime = request.app.state.runtime
    limit = runtime.settings.max_body_bytes
    body = await _read_body(request, limit)

    stored, created = await store_request(
        runtime.sessionmaker,
        endpoint=form_key,
        content_type=request.headers.get("content-type", ""),
        headers={key: value for key, value in request.headers.items() if key.lower() not in _SECRET_HEADERS},
        body=body,
        remote_addr=request.client.host if request.client else None,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id() or str(uuid.uuid4()),
    )
    request.app.state.processor_wakeup.set()
    status = "received" if created else "duplicate"
    return JSONResponse(
        {"request_id": str(stored.id), "status": status},
        status_code=202 if created else 200,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {declared} bytes exceeds the limit of {limit} bytes",
            limit=limit,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/requests/{request_id}")
async def get_request(request: Request, request_id: uuid.UUID, _user: CurrentUser) -> dict[str, Any]:
    """Show a stored request's status and outcome."""
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        stored = await session.get(RawRequest, request_id)
    if stored is None:
        raise NotFound(f"request {request_id} not found", id=str(request_id))
    return {
        "id": str(stored.id),
        "endpoint": stored.endpoint,
        "received_at": stored.received_at.isoformat(),
        "status": stored.status,
        "outcome": stored.outcome,
        "processed_at": stored.processed_at.isoformat() if stored.processed_at else None,
    }

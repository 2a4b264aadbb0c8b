"""Request body size limit of every service, and the markers of routes that read their body themselves.

The limit is an ASGI middleware, so it counts the bytes of a streamed (chunked) body as they arrive and
stops reading at the limit, before any dependency or route has the whole body in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_OWN_BODY_LIMIT = "__servicekit_own_body_limit__"
_ACCEPTS_NUL = "__servicekit_accepts_nul__"


def own_body_limit(endpoint: Endpoint) -> Endpoint:
    """Mark a route that streams its request body and enforces its own size limit.

    The shared limit does not count the body of such a route, and the shared NUL check does not read it.
    Apply it below the router decorator, so the router registers the marked function.
    """
    setattr(endpoint, _OWN_BODY_LIMIT, True)
    return endpoint


def accepts_nul_characters(endpoint: Endpoint) -> Endpoint:
    """Mark a route that stores requests as received, so NUL characters in its query, path and body pass."""
    setattr(endpoint, _ACCEPTS_NUL, True)
    return endpoint


def has_own_body_limit(endpoint: object) -> bool:
    return bool(getattr(endpoint, _OWN_BODY_LIMIT, False))


def accepts_nul(endpoint: object) -> bool:
    return bool(getattr(endpoint, _ACCEPTS_NUL, False))


class RequestTooLarge(StarletteHTTPException):
    """The request body is larger than the service's limit.

    It is an HTTPException because FastAPI turns any other error raised while it reads a body into a 400.
    """

    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"request body of {declared} bytes" if declared is not None else "request body"
        super().__init__(413, f"{size} exceeds the limit of {limit} bytes; send a smaller body")
        self.limit = limit

    def to_dict(self) -> dict[str, Any]:
        return {"code": "payload_too_large", "message": self.detail, "max_bytes": self.limit}


class BodySizeLimit:
    """ASGI middleware that rejects a request with 413 once its body exceeds ``max_bytes``.

    The check runs when the app first receives the body, because only then has the router put the
    matched endpoint into the scope. A declared ``Content-Length`` over the limit is rejected at that
    first receive, before any byte is read. Otherwise the bytes are counted as they arrive, and the
    receive that crosses the limit raises :class:`RequestTooLarge`, which the app's exception handler
    turns into the 413 response. Routes marked with :func:`own_body_limit` are not counted.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = _declared_length(scope)
        received = 0
        checked = False
        counted = True

        async def receive_within_limit() -> Message:
            nonlocal received, checked, counted
            if not checked:
                checked = True
                counted = not has_own_body_limit(scope.get("endpoint"))
                if counted and declared is not None and declared > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes, declared)
            message = await receive()
            if counted and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None

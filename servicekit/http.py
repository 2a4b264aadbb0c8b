"""HTTP conventions of every service: correlation ids, error bodies, health, readiness and metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.errors import ServiceError, ValidationFailed
from servicekit.logs import log_context, new_traceparent
from servicekit.request_limits import (
    DEFAULT_MAX_REQUEST_BYTES,
    BodySizeLimit,
    RequestTooLarge,
    accepts_nul,
    has_own_body_limit,
)
from servicekit.transient import is_transient

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]

CORRELATION_HEADER = "X-Correlation-ID"


def install_conventions(app: FastAPI, service: str, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
    """Add the body size limit, the correlation middleware and the error handlers to ``app``."""

    # Added first, so it runs inside the correlation middleware and its 413 is logged and correlated.
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)

    @app.middleware("http")
    async def correlate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        traceparent = new_traceparent(request.headers.get("traceparent"))
        started = time.perf_counter()
        with log_context(correlation_id=correlation_id[:128], traceparent=traceparent):
            try:
                response = await call_next(request)
            except Exception as exc:  # the one place where an unexpected error becomes a JSON 503 or 500
                response = _error_response(exc, correlation_id[:128])
            if request.url.path not in ("/health", "/ready", "/metrics"):
                logger.info(
                    "%s %s -> %s in %.1f ms",
                    request.method,
                    request.url.path,
                    response.status_code,
                    (time.perf_counter() - started) * 1000,
                )
        response.headers[CORRELATION_HEADER] = correlation_id[:128]
        return response

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestTooLarge)
    async def request_too_large(_request: Request, exc: RequestTooLarge) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=413)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"code": code, "message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"]),
                "reason": error["msg"],
            }
            for error in exc.errors()
        ]
        summary = "; ".join(f"{error['field']}: {error['reason']}" for error in errors)
        return JSONResponse(
            {
                "code": "invalid_request",
                "message": f"invalid request: {summary}",
                "errors": errors,
            },
            status_code=422,
        )


async def reject_nul_characters(request: Request) -> None:
    """Reject a NUL character in a path or query parameter or a JSON string, because PostgreSQL cannot store it.

    Only JSON bodies are read here, and never past the body size limit. Routes marked with
    ``own_body_limit`` (streamed uploads) keep their own body checks, and routes marked with
    ``accepts_nul_characters`` (intake's raw requests) are not checked at all.
    """
    endpoint = request.scope.get("endpoint")
    if accepts_nul(endpoint):
        return
    _reject_nul_in_parameters(request)
    if has_own_body_limit(endpoint):
        return
    if not request.headers.get("content-type", "").startswith("application/json"):
        return
    body = await request.body()
    if b"\\u0000" not in body:
        return
    try:
        document = json.loads(body)
    except ValueError:
        return  # the route's own parsing reports the malformed body
    path = _nul_path(document, ["body"])
    if path is not None:
        raise _nul_error(path)


def _reject_nul_in_parameters(request: Request) -> None:
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise _nul_error(f"path.{name}")
    for name, value in request.query_params.multi_items():
        if "\x00" in name:
            raise _nul_error(f"query.{name.replace(chr(0), '')}", reason=f"the parameter name {_NUL_REASON}")
        if "\x00" in value:
            raise _nul_error(f"query.{name}")


_NUL_REASON = "contains a NUL character, which cannot be stored"


def _nul_error(field: str, reason: str = _NUL_REASON) -> ValidationFailed:
    return ValidationFailed(
        f"invalid request: {field}: {reason}; remove it",
        errors=[{"field": field, "reason": reason}],
    )


def _nul_path(value: Any, path: list[str]) -> str | None:
    if isinstance(value, str):
        return ".".join(path) if "\x00" in value else None
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _nul_path(child, [*path, str(key)])
        if found is not None:
            return found
    return None


def install_probes(
    app: FastAPI,
    service: str,
    checks: dict[str, ReadyCheck],
    refresh_metrics: Callable[[], Awaitable[None]],
) -> None:
    """Add ``/health`` (the process runs), ``/ready`` (its dependencies respond) and ``/metrics``."""

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        results: dict[str, Any] = {}
        ok = True
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # a readiness probe reports every failure instead of raising
                ok = False
                results[name] = f"failed: {type(exc).__name__}: {exc}"
        body = {
            "status": "ready" if ok else "not_ready",
            "service": service,
            "checks": results,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        try:
            await refresh_metrics()
        except Exception:
            logger.warning("metrics refresh failed; serving the last values", exc_info=True)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _error_response(exc: Exception, correlation_id: str) -> JSONResponse:
    """Log an error that no handler caught and turn it into a 503 for an outage or a 500 otherwise."""
    if is_transient(exc):
        logger.warning("request failed because a server is unreachable: %s: %s", type(exc).__name__, exc)
        return JSONResponse(
            {
                "code": "unavailable",
                "message": "a server this service depends on is unreachable; retry the request later",
                "correlation_id": correlation_id,
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )
    logger.error("unhandled error: %s: %s", type(exc).__name__, exc, exc_info=exc)
    return JSONResponse(
        {
            "code": "internal_error",
            "message": "the request failed on the server; report the correlation id to the operators",
            "correlation_id": correlation_id,
        },
        status_code=500,
    )

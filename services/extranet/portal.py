"""Portal routes for the client's people: accept an invitation, sign in, see the view, download.

Sessions live in an HttpOnly, SameSite=Lax cookie (Secure unless configured otherwise) that contains a
random token; the database stores only its hash. State-changing form posts carry a CSRF token: before
sign-in a double-submit cookie, after it the session's own token. JSON requests must be sent as
``application/json`` (or carry ``X-CSRF-Token``), which a cross-site form cannot do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from servicekit.errors import AuthenticationError, NotFound, ServiceError
from servicekit.logs import correlation_id
from servicekit.service import ServiceRuntime
from services.extranet import pages
from services.extranet.access import (
    AcceptInvitation,
    SignedIn,
    accept_invitation,
    check_password,
    csrf_matches,
    find_session,
    record_access,
    start_session,
)
from services.extranet.errors import CsrfRejected, SignInLocked
from services.extranet.ratelimit import SlidingWindowLimiter
from services.extranet.settings import ExtranetSettings
from services.extranet.storage import ContentReader
from services.extranet.tables import PortalSession, PortalUser, ViewFile, ViewVersion
from services.extranet.view import PortalView, read_view

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/portal")

SESSION_COOKIE = "portal_session"
FORM_CSRF_COOKIE = "portal_csrf"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class PortalContext:
    user: PortalUser
    session: PortalSession


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    portal_user_id: uuid.UUID
    company_id: uuid.UUID
    email: str
    csrf_token: str


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _settings(request: Request) -> ExtranetSettings:
    settings = _runtime(request).settings
    assert isinstance(settings, ExtranetSettings)
    return settings


def _correlation() -> str:
    return correlation_id() or str(uuid.uuid4())


async def _portal_context(request: Request) -> PortalContext | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with _runtime(request).sessionmaker() as session:
        found = await find_session(session, token)
    return PortalContext(user=found[1], session=found[0]) if found else None


async def require_portal_user(request: Request) -> PortalContext:
    """FastAPI dependency: the signed-in portal user; a revoked user or ended session gets 401."""
    context = await _portal_context(request)
    if context is None:
        raise AuthenticationError("not signed in to the portal, or the session has ended; sign in again")
    return context


PortalUserDep = Annotated[PortalContext, Depends(require_portal_user)]


def _require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise CsrfRejected("send this request as application/json")


def _set_session_cookie(response: Response, settings: ExtranetSettings, signed_in: SignedIn) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.session_token,
        max_age=int(settings.session_ttl_hours * 3600),
        path="/portal",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def _form_page(request: Request, render: Callable[[str], str]) -> HTMLResponse:
    """Render a pre-sign-in form with its double-submit CSRF token, also set as a cookie."""
    token = request.cookies.get(FORM_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = HTMLResponse(render(token))
    response.set_cookie(
        FORM_CSRF_COOKIE,
        token,
        path="/portal",
        secure=_settings(request).cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


def _check_form_csrf(request: Request, given: str) -> None:
    expected = request.cookies.get(FORM_CSRF_COOKIE)
    if expected is None or not csrf_matches(expected, given):
        raise CsrfRejected("the form's CSRF token is missing or wrong; reload the page and submit again")


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit_attempts(request: Request) -> None:
    limiter: SlidingWindowLimiter = _runtime(request).extras["sign_in_limiter"]
    address = _client_address(request)
    retry_after = limiter.hit(address)
    if retry_after is not None:
        seconds = int(retry_after) + 1
        logger.warning("sign-in attempts from %s over the limit; rejected for %s s", address, seconds)
        raise SignInLocked(
            f"too many sign-in attempts from this address; try again in {seconds} s", retry_after_seconds=seconds
        )


async def _accept(request: Request, command: AcceptInvitation) -> SignedIn:
    _limit_attempts(request)
    runtime = _runtime(request)
    settings = _settings(request)
    async with runtime.sessionmaker() as session, session.begin():
        user = await accept_invitation(session, settings, command, correlation_id=_correlation())
        signed_in = await start_session(session, settings, user)
    runtime.relay.notify()
    return signed_in


async def _sign_in(request: Request, email: str, password: str) -> SignedIn:
    _limit_attempts(request)
    settings = _settings(request)
    async with _runtime(request).sessionmaker() as session, session.begin():
        result = await check_password(session, settings, email, password, _client_address(request))
        signed_in = await start_session(session, settings, result.user) if result.user is not None else None
    if signed_in is None:
        # The failure count is committed first, so the delay holds no lock and no connection.
        await asyncio.sleep(result.delay_seconds)
        assert result.error is not None
        raise result.error
    return signed_in


@router.get("/static/portal.css", include_in_schema=False)
async def stylesheet() -> FileResponse:
    return FileResponse(STATIC_DIR / "portal.css", media_type="text/css")


@router.get("/accept", name="accept_page", response_class=HTMLResponse)
async def accept_form(request: Request, token: str = "") -> HTMLResponse:
    """Show the form that accepts an invitation with a new password."""
    return _form_page(request, lambda csrf_token: pages.accept_page(token, csrf_token))


@router.post("/accept", response_class=HTMLResponse)
async def accept_submit(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Accept an invitation from the form, sign in, and go to the portal; an empty password means a one-time link."""
    _check_form_csrf(request, csrf_token)
    try:
        signed_in = await _accept(request, AcceptInvitation(token=token, password=password or None))
    except ServiceError as exc:
        logger.info("invitation acceptance from the form failed: %s", exc.code)
        html = pages.accept_page(token, csrf_token, error=exc.message)
        return HTMLResponse(html, status_code=exc.status_code)
    response = RedirectResponse("/portal", status_code=303)
    _set_session_cookie(response, _settings(request), signed_in)
    return response


@router.post("/api/accept", status_code=201)
async def accept_json(request: Request, body: AcceptInvitation, response: Response) -> SessionOut:
    """Accept an invitation with a password and start a session."""
    _require_json(request)
    signed_in = await _accept(request, body)
    _set_session_cookie(response, _settings(request), signed_in)
    return _session_out(signed_in.user, signed_in.csrf_token)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> HTMLResponse:
    """Show the sign-in form."""
    return _form_page(request, pages.sign_in_page)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Sign in from the form and go to the portal."""
    _check_form_csrf(request, csrf_token)
    try:
        signed_in = await _sign_in(request, email, password)
    except ServiceError as exc:
        logger.info("sign-in from the form failed: %s", exc.code)
        return HTMLResponse(pages.sign_in_page(csrf_token, error=exc.message, email=email), status_code=exc.status_code)
    response = RedirectResponse("/portal", status_code=303)
    _set_session_cookie(response, _settings(request), signed_in)
    return response


@router.post("/api/sign-in")
async def sign_in_json(request: Request, body: SignIn, response: Response) -> SessionOut:
    """Sign in with e-mail and password; wrong passwords are delayed and lock the account after a few."""
    _require_json(request)
    signed_in = await _sign_in(request, body.email, body.password)
    _set_session_cookie(response, _settings(request), signed_in)
    return _session_out(signed_in.user, signed_in.csrf_token)


@router.post("/sign-out")
async def sign_out(
    request: Request, context: PortalUserDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """End the session; the form sends the session's CSRF token, the JSON API the X-CSRF-Token header."""
    given = request.headers.get("x-csrf-token") or csrf_token
    if not csrf_matches(context.session.csrf_token, given):
        raise CsrfRejected("the CSRF token of the session is missing or wrong")
    async with _runtime(request).sessionmaker() as session, session.begin():
        row = await session.get(PortalSession, context.session.token_hash)
        if row is not None:
            await session.delete(row)
    response = RedirectResponse("/portal/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


@router.get("/api/session")
async def get_session(context: PortalUserDep) -> SessionOut:
    """Return the signed-in portal user and the CSRF token for state-changing requests."""
    return _session_out(context.user, context.session.csrf_token)


@router.get("/api/view")
async def get_view(request: Request, context: PortalUserDep) -> PortalView:
    """Return everything shared with the user's company, as materialized under its policy."""
    return await _view_and_audit(request, context)


@router.get("", response_class=HTMLResponse, response_model=None)
async def overview(request: Request) -> Response:
    """Show the portal overview, or send the browser to the sign-in page."""
    context = await _portal_context(request)
    if context is None:
        return RedirectResponse("/portal/sign-in", status_code=303)
    view = await _view_and_audit(request, context)
    return HTMLResponse(pages.overview_page(view, context.user.email, context.session.csrf_token))


@router.get("/versions/{version_id}/download")
async def download_version(request: Request, version_id: uuid.UUID, context: PortalUserDep) -> StreamingResponse:
    """Download a published document version shared with the user's company."""
    return await _download(request, context, "versions", version_id)


@router.get("/files/{file_id}/download")
async def download_file(request: Request, file_id: uuid.UUID, context: PortalUserDep) -> StreamingResponse:
    """Download a file shared with the user's company."""
    return await _download(request, context, "files", file_id)


async def _view_and_audit(request: Request, context: PortalContext) -> PortalView:
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        view = await read_view(session, context.user.company_id)
        record_access(
            session,
            _settings(request),
            context.user,
            action="viewed",
            object_type="portal",
            object_id=None,
            correlation_id=_correlation(),
        )
    runtime.relay.notify()
    return view


async def _download(
    request: Request, context: PortalContext, kind: Literal["versions", "files"], object_id: uuid.UUID
) -> StreamingResponse:
    runtime = _runtime(request)
    company_id = context.user.company_id
    # The view decides on every request, so an unshared version or file is refused at once.
    async with runtime.sessionmaker() as session, session.begin():
        if kind == "versions":
            shared: Any = await session.scalar(
                select(ViewVersion).where(ViewVersion.version_id == object_id, ViewVersion.company_id == company_id)
            )
        else:
            shared = await session.scalar(
                select(ViewFile).where(ViewFile.file_id == object_id, ViewFile.company_id == company_id)
            )
        if shared is None:
            raise NotFound(f"{kind[:-1]} {object_id} is not shared with you", id=str(object_id), status="not_found")

    reader: ContentReader = runtime.extras["content_reader"]
    chunks = reader.open(kind, object_id)
    # Read the first chunk before the response starts, so a failed fetch becomes a 502 and not a cut-off body,
    # and only a download whose content arrived is audited.
    first = await anext(chunks, b"")
    # NOTE: a download cut off later, after the first chunk, is still audited as downloaded.
    try:
        async with runtime.sessionmaker() as session, session.begin():
            record_access(
                session,
                _settings(request),
                context.user,
                action="downloaded",
                object_type="document_version" if kind == "versions" else "file",
                object_id=object_id,
                correlation_id=_correlation(),
            )
    except BaseException:
        # Without a response the stream is never read to its end, so release the upstream connection here.
        await chunks.aclose()
        raise
    runtime.relay.notify()
    return StreamingResponse(
        _prepend(first, chunks),
        media_type=shared.media_type,
        headers={"Content-Disposition": _attachment(shared.file_name), "Cache-Control": "no-store"},
    )


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


def _attachment(file_name: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(file_name)}"


def _session_out(user: PortalUser, csrf_token: str) -> SessionOut:
    return SessionOut(portal_user_id=user.id, company_id=user.company_id, email=user.email, csrf_token=csrf_token)

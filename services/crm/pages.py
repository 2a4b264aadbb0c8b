"""Staff pages served by CRM.

Each page is a static HTML shell. Its script reads the user's bearer token from the browser's session
storage and calls CRM's JSON API with it, so the pages need no cookies and no CSRF tokens, and every
access check is the API's own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from servicekit.errors import NotFound
from services.crm.settings import CrmSettings

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

# Scripts and styles come only from this service. Inline scripts are not allowed, so text from
# records, inserted with textContent, can never run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


def page(name: str) -> FileResponse:
    """Return the HTML shell ``name`` from the static folder with the pages' security headers."""
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=SECURITY_HEADERS)


def staff_page(request: Request, name: str) -> FileResponse:
    """Return a page that may also call the tasks service, whose origin its CSP ``connect-src`` allows."""
    settings: CrmSettings = request.app.state.runtime.settings
    parts = urlsplit(settings.tasks_public_url)
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self'", f"connect-src 'self' {parts.scheme}://{parts.netloc}"
    )
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=headers)


@router.get("/config.json")
async def page_config(request: Request) -> JSONResponse:
    """Return what the pages' scripts need besides CRM's API: the tasks service's address."""
    settings: CrmSettings = request.app.state.runtime.settings
    return JSONResponse({"tasks_url": settings.tasks_public_url}, headers={"Cache-Control": "no-cache"})


@router.get("/deals/{deal_id}")
async def deal_page(request: Request, deal_id: uuid.UUID) -> FileResponse:
    return staff_page(request, "deal.html")


@router.get("/companies/{company_id}")
async def workspace_page(request: Request, company_id: uuid.UUID) -> FileResponse:
    return staff_page(request, "workspace.html")


@router.get("/access-requests")
async def access_requests_page() -> FileResponse:
    return page("access-requests.html")


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=303)


@router.get("/login")
async def login_page() -> FileResponse:
    return page("login.html")


@router.get("/board")
async def board_page() -> FileResponse:
    """Serve the live board; its script opens the first pipeline that ``GET /pipelines`` lists."""
    return page("board.html")


@router.get("/board/{pipeline_id}")
async def pipeline_board_page(pipeline_id: uuid.UUID) -> FileResponse:
    """Serve the live board of one pipeline; the stream returns 404 for a pipeline that does not exist."""
    return page("board.html")


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    media_type = STATIC_TYPES.get(Path(name).suffix)
    path = STATIC_DIR / name
    # Only plain file names in the folder itself: no separators, no dot files.
    if media_type is None or "/" in name or name.startswith(".") or not path.is_file():
        raise NotFound(f"no static file named {name!r}")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})

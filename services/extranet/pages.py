"""Server-rendered portal pages: plain HTML with every value escaped, and one small stylesheet."""

from __future__ import annotations

from html import escape

from services.extranet.view import PortalView


def page(title: str, body: str, *, header: str = "") -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><link rel='stylesheet' href='/portal/static/portal.css'></head>"
        f"<body><header><h1>{escape(title)}</h1>{header}</header><main>{body}</main></body></html>\n"
    )


def _error(message: str | None) -> str:
    return f"<p class='error' role='alert'>{escape(message)}</p>" if message else ""


def accept_page(token: str, csrf_token: str, error: str | None = None) -> str:
    body = (
        "<section><h2>Accept your invitation</h2>"
        f"{_error(error)}"
        "<form method='post' action='/portal/accept'>"
        f"<input type='hidden' name='token' value='{escape(token)}'>"
        f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
        "<label for='password'>Choose a password</label>"
        "<input id='password' type='password' name='password' autocomplete='new-password'>"
        "<p class='empty'>Leave it empty to sign in once with this link; you will need a new invitation next time.</p>"
        "<button type='submit'>Accept and sign in</button></form></section>"
    )
    return page("Client portal", body)


def sign_in_page(csrf_token: str, error: str | None = None, email: str = "") -> str:
    body = (
        "<section><h2>Sign in</h2>"
        f"{_error(error)}"
        "<form method='post' action='/portal/sign-in'>"
        f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
        "<label for='email'>E-mail</label>"
        f"<input id='email' type='email' name='email' value='{escape(email)}' autocomplete='username' required>"
        "<label for='password'>Password</label>"
        "<input id='password' type='password' name='password' autocomplete='current-password' required>"
        "<button type='submit'>Sign in</button></form></section>"
    )
    return page("Client portal", body)


def overview_page(view: PortalView, email: str, csrf_token: str) -> str:
    header = (
        f"<span>{escape(email)}</span>"
        "<form method='post' action='/portal/sign-out'>"
        f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
        "<button type='submit'>Sign out</button></form>"
    )
    body = _deals(view) + _tasks(view) + _documents(view) + _files(view)
    return page(view.company_name or "Client portal", body, header=header)


def _table(title: str, section_id: str, headings: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f"<section id='{section_id}'><h2>{escape(title)}</h2><p class='empty'>Nothing shared yet.</p></section>"
    head = "".join(f"<th>{escape(heading)}</th>" for heading in headings)
    lines = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<section id='{section_id}'><h2>{escape(title)}</h2><table><tr>{head}</tr>{lines}</table></section>"


def _deals(view: PortalView) -> str:
    rows = [
        [
            escape(deal.title),
            f"<span class='stage'>{escape(deal.stage_name)}</span>" if deal.stage_name else "",
            escape(deal.next_step or ""),
            escape(f"{deal.amount} {deal.currency or ''}".strip()) if deal.amount is not None else "",
        ]
        for deal in view.deals
    ]
    return _table("Deals", "deals", ["Deal", "Stage", "Next step", "Amount"], rows)


def _tasks(view: PortalView) -> str:
    rows = [
        [
            escape(task.title),
            escape(task.status),
            escape(task.due_at.date().isoformat()) if task.due_at else "",
            escape(task.public_result or ""),
        ]
        for task in view.tasks
    ]
    return _table("Tasks", "tasks", ["Task", "Status", "Due", "Result"], rows)


def _documents(view: PortalView) -> str:
    rows = [
        [
            escape(version.document_title),
            str(version.number),
            f"<a href='/portal/versions/{version.id}/download'>{escape(version.file_name)}</a>",
        ]
        for version in view.documents
    ]
    return _table("Documents", "documents", ["Document", "Version", "File"], rows)


def _files(view: PortalView) -> str:
    rows = [
        [f"<a href='/portal/files/{file.id}/download'>{escape(file.file_name)}</a>", f"{file.size} bytes"]
        for file in view.files
    ]
    return _table("Files", "files", ["File", "Size"], rows)

"""Demo step: a final contract version passes the check, is published, and a portal user sees it."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfWriter

from servicekit.demo.api import Api, DemoError, find_by, poll, service_url
from servicekit.demo.client import Client

DOCUMENT_TITLE = "Service contract (demo)"
PORTAL_EMAIL = "anna@demo-client.example"
# A demo credential for a local portal on loopback, printed by the demo on purpose.
PORTAL_PASSWORD = "demo-portal-password-1"  # noqa: S105
POLICY: dict[str, Any] = {"deals": "all", "deal_fields": {"stage": True}, "tasks": True, "documents": True}


def publish_to_portal(api: Api, client: Client) -> list[str]:
    """Publish the contract's final version to the client's portal and sign a portal user in to see it."""
    steps: list[str] = []
    document, version_id = _final_document(api, client, steps)
    _check_and_publish(api, client, document, version_id, steps)
    company_id = client.company["id"]
    api.put("extranet", f"/companies/{company_id}/policy", POLICY)
    steps.append("sharing policy set: deals with their stage, tasks flagged for the client, published documents")
    _ensure_portal_user(api, company_id, steps)
    session = _sign_in(api)
    view = poll(lambda: _portal_view_with(api, session, version_id), seconds=60)
    if view is None:
        raise DemoError(
            f"timed out after 60 s: the portal view does not list version {version_id}; check extranet's log"
        )
    titles = ", ".join(f"{item['document_title']} v{item['number']}" for item in view["documents"])
    steps.append(f"the portal user signed in and sees: {titles}")
    return steps


def _final_document(api: Api, client: Client, steps: list[str]) -> tuple[dict[str, Any], str]:
    """Find or create the contract with a final PDF version; return it and the final version's id."""
    listed = api.get("documents", "/documents", params={"company_id": client.company["id"]})["items"]
    document = find_by(listed, title=DOCUMENT_TITLE)
    if document is None:
        document = poll(lambda: _create_document(api, client), seconds=60)
        if document is None:
            raise DemoError(
                "timed out after 60 s: documents still rejects the demo company; check that it consumes crm.companies"
            )
        steps.append(f"document {document['id']} created for the company, both legal entities and the deal")
    else:
        steps.append(f"document {document['id']} already existed")
    if document.get("final_version_id"):
        return document, str(document["final_version_id"])

    version = api.post(
        "documents",
        f"/documents/{document['id']}/versions",
        params={"file_name": "service-contract.pdf"},
        content=_contract_pdf(),
        headers={"Content-Type": "application/pdf"},
    )
    api.put("documents", f"/documents/{document['id']}/final", {"version_id": version["id"]})
    steps.append(f"version {version['id']} uploaded as a PDF and marked final")
    return document, str(version["id"])


def _create_document(api: Api, client: Client) -> dict[str, Any] | None:
    body = {
        "kind": "contract",
        "title": DOCUMENT_TITLE,
        "company_id": client.company["id"],
        "client_legal_entity_id": client.client_entity["id"],
        "our_legal_entity_id": client.our_entity["id"],
        "deal_id": client.deal["id"],
    }
    response = api.call("POST", "documents", "/documents", json=body, expect=(201, 403, 404, 422))
    document: dict[str, Any] = response.json()
    return document if response.status_code == 201 else None


def _check_and_publish(api: Api, client: Client, document: dict[str, Any], version_id: str, steps: list[str]) -> None:
    base = f"/documents/{document['id']}/versions/{version_id}"
    recipient = {"recipient_company_id": client.company["id"]}
    check = poll(lambda: _passed_check(api, base, recipient), seconds=60)
    if check is None:
        problems = api.post("documents", f"{base}/check", recipient)["problems"]
        raise DemoError(f"the check before sending still fails: {problems}")
    steps.append("the check before sending passed: final version, right company and legal entities, no comments")
    current = api.get("documents", f"/documents/{document['id']}")
    if version_id in [str(item) for item in current.get("published_version_ids", [])]:
        steps.append("the final version was already published to the portal")
        return
    api.post("documents", f"{base}/publish", recipient)
    steps.append("the final version was published to the client's portal")


def _passed_check(api: Api, base: str, recipient: dict[str, Any]) -> dict[str, Any] | None:
    result: dict[str, Any] = api.post("documents", f"{base}/check", recipient)
    return result if result["passed"] else None


def _ensure_portal_user(api: Api, company_id: str, steps: list[str]) -> None:
    users = api.get("extranet", f"/companies/{company_id}/portal-users")["items"]
    if find_by(users, email=PORTAL_EMAIL, status="active") is not None:
        steps.append(f"portal user {PORTAL_EMAIL} already existed")
        return
    invitation = api.post("extranet", f"/companies/{company_id}/invitations", {"email": PORTAL_EMAIL})
    api.post("extranet", "/portal/api/accept", {"token": invitation["token"], "password": PORTAL_PASSWORD})
    steps.append(f"invitation to {PORTAL_EMAIL} accepted with a password")


def _sign_in(api: Api) -> dict[str, str]:
    """Sign in as the portal user; return the Cookie header of the session."""
    signed_in = api.client.post(
        service_url("extranet") + "/portal/api/sign-in", json={"email": PORTAL_EMAIL, "password": PORTAL_PASSWORD}
    )
    if signed_in.status_code != 200:
        raise DemoError(f"portal sign-in returned HTTP {signed_in.status_code}: {signed_in.text[:300]}")
    token = signed_in.cookies["portal_session"]
    api.client.cookies.clear()
    # The session cookie is marked Secure, so it is passed by hand to the plain-HTTP loopback address.
    return {"Cookie": f"portal_session={token}"}


def _portal_view_with(api: Api, session: dict[str, str], version_id: str) -> dict[str, Any] | None:
    """Return the portal user's view once it lists ``version_id``."""
    view: dict[str, Any] = api.client.get(service_url("extranet") + "/portal/api/view", headers=session).json()
    return view if version_id in {str(item["id"]) for item in view["documents"]} else None


def _contract_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()

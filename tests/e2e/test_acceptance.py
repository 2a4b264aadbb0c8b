"""Acceptance: all six services as processes on real Kafka, PostgreSQL and OpenSearch, one test per promise.

1. A client's tasks and documents show in the client's workspace and are linked to the client.
2. A task created from a client's or a deal's context is tied to that client or deal.
3. A document reaches the client only as the final version, for the right company and legal entity,
   and without internal comments.
4. The portal shows a client only what was shared with that client.
5. A linked record hidden by permissions reads as a restriction that names the owner to ask.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Servers, database_factory, topic_space
from tests.documents_samples import docx, pdf
from tests.e2e.system import bearer, running_system
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.e2e

ADMIN = bearer("u-admin", roles=["admin"], name="Olga Admin")
SALES = bearer("u-sales", department="sales", name="Sam Sales")
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PORTAL_PASSWORD = "correct horse battery staple"


@dataclass
class System:
    """The running services and one HTTP client for the tests of this module."""

    processes: dict[str, ServiceProcess]
    client: httpx.AsyncClient

    def url(self, service: str, path: str) -> str:
        return self.processes[service].url + path

    async def get(self, service: str, path: str, headers: dict[str, str] = ADMIN, **params: Any) -> Any:
        response = await self.client.get(self.url(service, path), params=params, headers=headers)
        assert response.status_code == 200, f"GET {service}{path}: {response.status_code} {response.text}"
        return response.json()

    async def create(self, service: str, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> Any:
        """POST until the service returns 201, because a record made in CRM reaches other services a moment later."""

        async def attempt() -> dict[str, Any] | None:
            response = await self.client.post(self.url(service, path), json=body, headers=headers)
            assert response.status_code in (201, 403, 404, 422), f"POST {service}{path}: {response.text}"
            return response.json() if response.status_code == 201 else None

        return await eventually(attempt, timeout=60, interval=0.5)

    async def upload(self, path: str, content: bytes, media_type: str, **params: str) -> dict[str, Any]:
        response = await self.client.post(
            self.url("documents", path), params=params, content=content, headers={**ADMIN, "Content-Type": media_type}
        )
        assert response.status_code == 201, response.text
        uploaded: dict[str, Any] = response.json()
        return uploaded


@pytest.fixture(scope="module")
async def system(servers: Servers) -> AsyncIterator[System]:
    async with (
        database_factory(servers) as make_database,
        topic_space(servers) as prefix,
        running_system(servers, make_database, prefix) as processes,
        httpx.AsyncClient(timeout=30) as client,
    ):
        yield System(processes, client)


async def company_with_entity(system: System, name: str, **owner: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a company and its legal entity in CRM."""
    company = await system.create("crm", "/companies", {"name": name, **owner})
    entity = await system.create("crm", "/legal-entities", {"legal_name": name, "company_id": company["id"]})
    return company, entity


async def our_entity(system: System) -> dict[str, Any]:
    entity: dict[str, Any] = await system.create(
        "crm", "/legal-entities", {"legal_name": f"Our Agency {uuid.uuid4().hex[:6]}", "is_own": True}
    )
    return entity


async def workspace_with(system: System, company_id: str, tasks: int, documents: int) -> dict[str, Any]:
    """Wait until CRM's workspace of the company counts ``tasks`` and ``documents``."""

    async def counted() -> dict[str, Any] | None:
        workspace: dict[str, Any] = await system.get("crm", f"/companies/{company_id}/workspace")
        counts = (workspace["tasks"]["count"], workspace["documents"]["count"])
        return workspace if counts == (tasks, documents) else None

    result: dict[str, Any] = await eventually(counted, timeout=60)
    return result


def owner_id(reference: dict[str, Any]) -> str | None:
    """Return the owner to ask from a restricted reference: CRM names the owner with a department, others by id."""
    owner = reference.get("owner")
    return owner.get("id") if isinstance(owner, dict) else owner


async def test_workspace_lists_client_tasks_documents(system: System) -> None:
    company, _entity = await company_with_entity(system, "ООО «Ромашка» 🌼")
    other, _ = await company_with_entity(system, "Vasilek GmbH")
    task = await system.create("tasks", "/tasks", {"title": "Call the CFO", "client": {"company_id": company["id"]}})
    document = await system.create(
        "documents", "/documents", {"kind": "invoice", "title": "Invoice 7", "company_id": company["id"]}
    )
    await system.create("tasks", "/tasks", {"title": "Someone else's", "client": {"company_id": other["id"]}})

    workspace = await workspace_with(system, company["id"], tasks=1, documents=1)
    assert [item["id"] for item in workspace["tasks"]["items"]] == [task["id"]]
    assert [item["id"] for item in workspace["documents"]["items"]] == [document["id"]]

    stored_task = await system.get("tasks", f"/tasks/{task['id']}")
    assert stored_task["client"]["company"]["id"] == company["id"]
    assert stored_task["client"]["company"]["status"] == "available"
    stored_document = await system.get("documents", f"/documents/{document['id']}")
    assert stored_document["company_id"] == company["id"]
    assert stored_document["links"]["company"]["status"] == "ok"


async def test_tasks_from_context_are_tied_to_it(system: System) -> None:
    company, _entity = await company_with_entity(system, "Acme Ltd")
    deal = await system.create("crm", "/deals", {"title": "Annual support", "company_id": company["id"]})
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    from_client = await system.create(
        "tasks", "/tasks", {"title": "Send the brochure", "due_at": due, "client": {"company_id": company["id"]}}
    )
    from_deal = await system.create(
        "tasks",
        "/tasks",
        {
            "title": "Prepare the quote",
            "due_at": due,
            "expected_result": "A signed quote",
            "client": {"deal_id": deal["id"]},
        },
    )

    assert from_client["client"]["company"]["id"] == company["id"]
    assert from_client["client"].get("deal") is None
    assert from_deal["client"]["deal"]["id"] == deal["id"]
    assert from_deal["client"]["deal"]["status"] == "available"
    assert from_deal["client"]["company"]["id"] == company["id"], "a deal's task takes the deal's company"

    by_company = await system.get("tasks", "/tasks", company_id=company["id"])
    assert {item["id"] for item in by_company["items"]} == {from_client["id"], from_deal["id"]}
    by_deal = await system.get("tasks", "/tasks", deal_id=deal["id"])
    assert [item["id"] for item in by_deal["items"]] == [from_deal["id"]]
    counters = await system.get("tasks", "/tasks/counters", company_id=company["id"])
    assert counters["open"] == 2

    workspace = await workspace_with(system, company["id"], tasks=2, documents=0)
    assert {item["id"] for item in workspace["tasks"]["items"]} == {from_client["id"], from_deal["id"]}

    async def card_counts_task() -> dict[str, Any] | None:
        card: dict[str, Any] = await system.get("crm", f"/deals/{deal['id']}/card")
        return card if card["counts"]["tasks"] == 1 else None

    card = await eventually(card_counts_task, timeout=60)
    assert card["counts"]["open_tasks"] == 1


async def test_only_final_clean_version_reaches_client(system: System) -> None:
    company, entity = await company_with_entity(system, "Romashka LLC")
    stranger, stranger_entity = await company_with_entity(system, "Stranger AG")
    ours = await our_entity(system)
    links = {"company_id": company["id"], "client_legal_entity_id": entity["id"], "our_legal_entity_id": ours["id"]}
    document = await system.create("documents", "/documents", {"kind": "contract", "title": "Master contract", **links})
    base = f"/documents/{document['id']}"

    draft = await system.upload(f"{base}/versions", pdf(1), PDF, file_name="draft.pdf")
    commented = await system.upload(f"{base}/versions", docx(comment_on=2), DOCX, file_name="reviewed.docx")
    final = await system.upload(f"{base}/versions", pdf(1), PDF, file_name="contract.pdf")

    async def problems(version_id: str, recipient: str, document_id: str = document["id"]) -> set[str]:
        response = await system.client.post(
            system.url("documents", f"/documents/{document_id}/versions/{version_id}/check"),
            json={"recipient_company_id": recipient},
            headers=ADMIN,
        )
        assert response.status_code == 200, response.text
        return {problem["code"] for problem in response.json()["problems"]}

    assert "version_not_final" in await problems(draft["id"], company["id"])

    await _mark_final(system, base, commented["id"])
    assert "internal_marks_inside" in await problems(commented["id"], company["id"])

    await _mark_final(system, base, final["id"])
    assert "recipient_company_mismatch" in await problems(final["id"], stranger["id"])
    wrong_entity = await system.create(
        "documents",
        "/documents",
        {"kind": "contract", "title": "Mixed up", **links, "client_legal_entity_id": stranger_entity["id"]},
    )
    wrong_version = await system.upload(f"/documents/{wrong_entity['id']}/versions", pdf(1), PDF, file_name="mixed.pdf")
    await _mark_final(system, f"/documents/{wrong_entity['id']}", wrong_version["id"])
    assert "client_legal_entity_not_company" in await problems(wrong_version["id"], company["id"], wrong_entity["id"])

    async def clean() -> bool:
        return await problems(final["id"], company["id"]) == set()

    await eventually(clean, timeout=60)

    refused = await system.client.post(
        system.url("documents", f"{base}/versions/{draft['id']}/publish"),
        json={"recipient_company_id": company["id"]},
        headers=ADMIN,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "check_failed"
    published = await system.client.post(
        system.url("documents", f"{base}/versions/{final['id']}/publish"),
        json={"recipient_company_id": company["id"]},
        headers=ADMIN,
    )
    assert published.status_code == 201, published.text

    view = await _portal_view(system, company["id"], {"documents": True}, expect_documents=1)
    assert [item["id"] for item in view["documents"]] == [final["id"]]
    assert view["documents"][0]["file_name"] == "contract.pdf"


async def test_portal_shows_only_shared_items(system: System) -> None:
    client_a, _ = await company_with_entity(system, "Client A")
    client_b, _ = await company_with_entity(system, "Client B")
    shared_task = await system.create(
        "tasks",
        "/tasks",
        {"title": "Kick-off call", "visible_to_client": True, "client": {"company_id": client_a["id"]}},
    )
    await system.create(
        "tasks", "/tasks", {"title": "Internal margin review", "client": {"company_id": client_a["id"]}}
    )
    await system.create(
        "tasks",
        "/tasks",
        {"title": "B's kick-off", "visible_to_client": True, "client": {"company_id": client_b["id"]}},
    )
    shared_file = await system.upload(
        "/files", b"%PDF-1.4\n%%EOF\n", PDF, file_name="brief-a.pdf", company_id=client_a["id"]
    )
    await system.client.patch(
        system.url("documents", f"/files/{shared_file['id']}"), json={"shared_with_client": True}, headers=ADMIN
    )
    await system.upload("/files", b"%PDF-1.4\n%%EOF\n", PDF, file_name="internal-a.pdf", company_id=client_a["id"])
    file_b = await system.upload(
        "/files", b"%PDF-1.4\n%%EOF\n", PDF, file_name="brief-b.pdf", company_id=client_b["id"]
    )
    await system.client.patch(
        system.url("documents", f"/files/{file_b['id']}"), json={"shared_with_client": True}, headers=ADMIN
    )

    policy = {"tasks": True, "files": True, "documents": True}
    await _portal_view(system, client_b["id"], policy, expect_documents=0, expect_files=1, expect_tasks=1)
    staff_view = await _portal_view(system, client_a["id"], policy, expect_documents=0, expect_files=1, expect_tasks=1)
    assert staff_view["company_id"] == client_a["id"]

    session = await _portal_session(system, client_a["id"], "anna@client-a.example")
    view = (await system.client.get(system.url("extranet", "/portal/api/view"), headers=session)).json()
    assert view["company_id"] == client_a["id"]
    assert [item["id"] for item in view["tasks"]] == [shared_task["id"]]
    assert [item["id"] for item in view["files"]] == [shared_file["id"]]
    assert view["documents"] == []

    page = await system.client.get(system.url("extranet", "/portal"), headers=session)
    assert page.status_code == 200
    assert "Kick-off call" in page.text
    assert "brief-a.pdf" in page.text
    for hidden in ("Internal margin review", "internal-a.pdf", "B's kick-off", "brief-b.pdf", "Client B"):
        assert hidden not in page.text, f"the portal page of client A shows {hidden!r}"

    foreign = await system.client.get(system.url("extranet", f"/portal/files/{file_b['id']}/download"), headers=session)
    assert foreign.status_code in (403, 404), foreign.text
    own = await system.client.get(
        system.url("extranet", f"/portal/files/{shared_file['id']}/download"), headers=session
    )
    assert own.status_code == 200, own.text
    assert own.content == b"%PDF-1.4\n%%EOF\n"


async def test_hidden_links_read_as_restricted(system: System) -> None:
    marker = uuid.uuid4().hex[:8]
    secret = await system.create(
        "crm", "/companies", {"name": f"Secret Holdings {marker}", "owner_id": "u-boss", "department": "management"}
    )
    deal = await system.create(
        "crm",
        "/deals",
        {"title": f"Visible deal {marker}", "company_id": secret["id"], "owner_id": "u-sales", "department": "sales"},
    )
    task = await system.create(
        "tasks", "/tasks", {"title": "Follow up", "owner_id": "u-sales", "client": {"deal_id": deal["id"]}}
    )
    document = await system.create(
        "documents",
        "/documents",
        {
            "kind": "proposal",
            "title": "Proposal",
            "deal_id": deal["id"],
            "company_id": secret["id"],
            "department": "sales",
        },
    )

    card = await system.get("crm", f"/deals/{deal['id']}/card", headers=SALES)
    assert card["deal"]["id"] == deal["id"]
    _assert_restricted(card["company"], secret["id"], "CRM card")
    assert card["company"]["owner"] == {"id": "u-boss", "department": "management"}

    async def task_restricted() -> dict[str, Any] | None:
        view: dict[str, Any] = await system.get("tasks", f"/tasks/{task['id']}", headers=SALES)
        return view if view["client"]["company"]["status"] == "restricted" else None

    task_view = await eventually(task_restricted, timeout=30)
    assert task_view["client"]["deal"]["status"] == "available"
    _assert_restricted(task_view["client"]["company"], secret["id"], "task")

    document_view = await system.get("documents", f"/documents/{document['id']}", headers=SALES)
    assert document_view["links"]["deal"]["status"] == "ok"
    _assert_restricted(document_view["links"]["company"], secret["id"], "document")

    direct = await system.client.get(system.url("crm", f"/companies/{secret['id']}"), headers=SALES)
    assert direct.status_code == 403
    assert direct.json()["status"] == "restricted"
    assert direct.json()["owner"] == {"id": "u-boss", "department": "management"}
    assert direct.json()["reason"]
    assert "Secret Holdings" not in direct.text

    async def indexed() -> bool:
        found = await system.get("search", "/search", q=marker)
        return bool(found["total"] >= 2)

    await eventually(indexed, timeout=60)
    found = await system.get("search", "/search", headers=SALES, q=f"Secret Holdings {marker}")
    ids = {item["id"] for item in found["items"]}
    assert secret["id"] not in ids
    assert "Secret Holdings" not in str(found["items"])


def _assert_restricted(reference: dict[str, Any], record_id: str, where: str) -> None:
    assert reference["id"] == record_id, where
    assert reference["status"] == "restricted", f"{where}: {reference}"
    assert reference["reason"], f"{where} names no reason"
    assert owner_id(reference) == "u-boss", f"{where}: {reference}"
    assert reference.get("record") is None, f"{where} reveals the record"
    assert reference.get("name") is None, f"{where} reveals the name"


async def _mark_final(system: System, base: str, version_id: str) -> None:
    response = await system.client.put(
        system.url("documents", f"{base}/final"), json={"version_id": version_id}, headers=ADMIN
    )
    assert response.status_code == 200, response.text


async def _portal_view(
    system: System,
    company_id: str,
    policy: dict[str, Any],
    *,
    expect_documents: int,
    expect_files: int = 0,
    expect_tasks: int = 0,
) -> dict[str, Any]:
    """Set the company's policy and wait until the staff preview of its portal has the expected items."""

    async def ready() -> dict[str, Any] | None:
        response = await system.client.put(
            system.url("extranet", f"/companies/{company_id}/policy"), json=policy, headers=ADMIN
        )
        if response.status_code != 200:
            return None
        view: dict[str, Any] = await system.get("extranet", f"/companies/{company_id}/preview")
        counts = (len(view["documents"]), len(view["files"]), len(view["tasks"]))
        return view if counts == (expect_documents, expect_files, expect_tasks) else None

    result: dict[str, Any] = await eventually(ready, timeout=60, interval=0.5)
    return result


async def _portal_session(system: System, company_id: str, email: str) -> dict[str, str]:
    """Invite ``email`` to the company's portal, accept with a password, and return the session's Cookie header."""
    invitation = await system.create("extranet", f"/companies/{company_id}/invitations", {"email": email})
    accepted = await system.client.post(
        system.url("extranet", "/portal/api/accept"), json={"token": invitation["token"], "password": PORTAL_PASSWORD}
    )
    assert accepted.status_code == 201, accepted.text
    # The session cookie is marked Secure, so httpx keeps it from plain HTTP; the test passes it by hand.
    token = accepted.cookies["portal_session"]
    system.client.cookies.clear()
    return {"Cookie": f"portal_session={token}"}

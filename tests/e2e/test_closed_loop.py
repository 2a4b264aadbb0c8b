"""CRM, tasks and documents as processes on real servers: the client's workspace and the closed loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from servicekit.auth import issue_token
from tests.conftest import Servers
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.e2e

JWT_KEY = "e2e-loop-signing-key-of-32-bytes-or-more"
ADMIN = {"Authorization": "Bearer " + issue_token(JWT_KEY, "u-lead", name="Lead", roles=["admin"])}


@pytest.fixture
async def services(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    processes: dict[str, ServiceProcess] = {}
    for name in ("crm", "tasks", "documents"):
        env = {
            "DATABASE_URL": await make_database(),
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "JWT_SECRET_KEY": JWT_KEY,
            "ENVIRONMENT": "test",
        }
        processes[name] = ServiceProcess(name, env).start()
    try:
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def created(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def test_task_from_deal_closes_the_loop(services: dict[str, ServiceProcess]) -> None:
    crm, tasks = services["crm"].url, services["tasks"].url
    async with httpx.AsyncClient(timeout=15) as client:
        company = await created(client, f"{crm}/companies", {"name": "ООО Ромашка"})
        contact = await created(client, f"{crm}/contacts", {"name": "Анна Смирнова", "company_id": company["id"]})
        project = await created(client, f"{crm}/projects", {"name": "Relaunch", "company_id": company["id"]})
        deal = await created(
            client,
            f"{crm}/deals",
            {
                "title": "Website relaunch",
                "company_id": company["id"],
                "contact_ids": [contact["id"]],
                "primary_contact_id": contact["id"],
                "project_id": project["id"],
            },
        )

        # The tasks service learns the deal from crm.deals; until then it returns 422 unknown_deal.
        async def create_task() -> dict[str, Any] | None:
            response = await client.post(
                f"{tasks}/tasks",
                json={"title": "Send the signed contract", "client": {"deal_id": deal["id"]}},
                headers=ADMIN,
            )
            return response.json() if response.status_code == 201 else None

        task = await eventually(create_task, timeout=60)
        assert task["client"]["company"]["id"] == company["id"]
        assert task["client"]["contact"]["id"] == contact["id"]
        assert task["client"]["project"]["id"] == project["id"]
        assert task["client"]["deal"]["status"] == "available"

        async def workspace_counts_task() -> bool:
            workspace = (await client.get(f"{crm}/companies/{company['id']}/workspace", headers=ADMIN)).json()
            return bool(workspace["tasks"]["count"] == 1)

        await eventually(workspace_counts_task, timeout=60)

        done = await client.post(
            f"{tasks}/tasks/{task['id']}/complete", json={"result": {"text": "Contract signed"}}, headers=ADMIN
        )
        assert done.status_code == 200, done.text
        accepted = await client.post(f"{tasks}/tasks/{task['id']}/accept", headers=ADMIN)
        assert accepted.status_code == 200, accepted.text

        async def marked() -> dict[str, Any] | None:
            current: dict[str, Any] = (await client.get(f"{crm}/deals/{deal['id']}", headers=ADMIN)).json()
            return current if any(m["kind"] == "task_result" for m in current["markers"]) else None

        await eventually(marked, timeout=60)
        timeline = (await client.get(f"{crm}/deals/{deal['id']}/timeline", headers=ADMIN)).json()
        links = [entry.get("link") for entry in timeline["items"]]
        assert {"service": "tasks", "path": f"/tasks/{task['id']}"} in links
        assert any("Contract signed" in str(entry) for entry in timeline["items"])

        pipeline = (await client.get(f"{crm}/pipelines/{deal['pipeline_id']}", headers=ADMIN)).json()
        next_stage = pipeline["stages"][1]["id"]
        moved = await client.patch(f"{crm}/deals/{deal['id']}", json={"stage_id": next_stage}, headers=ADMIN)
        assert moved.status_code == 200, moved.text
        after = (await client.get(f"{crm}/deals/{deal['id']}", headers=ADMIN)).json()
        assert not any(m["kind"] == "task_result" for m in after["markers"])


async def test_workspace_counts_documents_and_files(services: dict[str, ServiceProcess]) -> None:
    crm, documents = services["crm"].url, services["documents"].url
    async with httpx.AsyncClient(timeout=15) as client:
        company = await created(client, f"{crm}/companies", {"name": "Vasilek GmbH"})

        async def document_created() -> dict[str, Any] | None:
            response = await client.post(
                f"{documents}/documents",
                json={"kind": "contract", "title": "Master agreement", "company_id": company["id"]},
                headers=ADMIN,
            )
            return response.json() if response.status_code == 201 else None

        document = await eventually(document_created, timeout=60)
        uploaded = await client.post(
            f"{documents}/files",
            params={"file_name": "brief.pdf", "company_id": company["id"]},
            content=b"%PDF-1.4\n%%EOF\n",
            headers={**ADMIN, "Content-Type": "application/pdf"},
        )
        assert uploaded.status_code == 201, uploaded.text

        async def counted() -> dict[str, Any] | None:
            workspace: dict[str, Any] = (
                await client.get(f"{crm}/companies/{company['id']}/workspace", headers=ADMIN)
            ).json()
            counts = (workspace["documents"]["count"], workspace["files"]["count"])
            return workspace if counts == (1, 1) else None

        workspace = await eventually(counted, timeout=60)
        assert workspace["documents"]["items"][0]["id"] == document["id"]
        assert workspace["files"]["items"][0]["id"] == uploaded.json()["id"]

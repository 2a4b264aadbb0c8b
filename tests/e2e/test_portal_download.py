"""A version published through the real documents service downloads from the portal, byte for byte."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser
from pypdf import PdfWriter

from servicekit.auth import issue_token
from tests.conftest import Servers
from tests.e2e.test_extranet_browser import PASSWORD
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.e2e

JWT_KEY = "e2e-portal-signing-key-of-32-bytes-or-more"
ADMIN = {"Authorization": "Bearer " + issue_token(JWT_KEY, "u-lead", name="Lead", roles=["admin"])}


def contract_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture
async def services(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }
    processes: dict[str, ServiceProcess] = {}
    for name in ("crm", "documents"):
        processes[name] = ServiceProcess(name, {**common, "DATABASE_URL": await make_database()}).start()
    for process in processes.values():
        await process.wait_ready()
    extranet_env = {**common, "DATABASE_URL": await make_database(), "DOCUMENTS_URL": processes["documents"].url}
    processes["extranet"] = ServiceProcess("extranet", extranet_env).start()
    try:
        await processes["extranet"].wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def created(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_published_version_downloads_from_portal(
    services: dict[str, ServiceProcess], browser: Browser, tmp_path: Path
) -> None:
    crm, documents, extranet = (services[name].url for name in ("crm", "documents", "extranet"))
    content = contract_pdf()
    async with httpx.AsyncClient(timeout=20) as client:
        company = await created(client, f"{crm}/companies", {"name": "Romashka LLC"})
        ours = await created(client, f"{crm}/legal-entities", {"legal_name": "Our Agency GmbH", "is_own": True})
        theirs = await created(
            client, f"{crm}/legal-entities", {"legal_name": "Romashka LLC", "company_id": company["id"]}
        )
        deal = await created(
            client,
            f"{crm}/deals",
            {
                "title": "Website redesign",
                "company_id": company["id"],
                "client_legal_entity_id": theirs["id"],
                "our_legal_entity_id": ours["id"],
            },
        )
        fields = {
            "kind": "contract",
            "title": "Service contract",
            "company_id": company["id"],
            "client_legal_entity_id": theirs["id"],
            "our_legal_entity_id": ours["id"],
            "deal_id": deal["id"],
        }

        async def document_created() -> dict[str, Any] | None:
            response = await client.post(f"{documents}/documents", json=fields, headers=ADMIN)
            return response.json() if response.status_code == 201 else None

        document = await eventually(document_created, timeout=60)
        version = (
            await client.post(
                f"{documents}/documents/{document['id']}/versions",
                params={"file_name": "contract.pdf"},
                content=content,
                headers={**ADMIN, "Content-Type": "application/pdf"},
            )
        ).json()
        final = await client.put(
            f"{documents}/documents/{document['id']}/final", json={"version_id": version["id"]}, headers=ADMIN
        )
        assert final.status_code == 200, final.text

        async def published() -> bool:
            response = await client.post(
                f"{documents}/documents/{document['id']}/versions/{version['id']}/publish",
                json={"recipient_company_id": company["id"]},
                headers=ADMIN,
            )
            return response.status_code == 201

        await eventually(published, timeout=60)

        policy = {"deals": "all", "deal_fields": {"stage": True}, "documents": True}

        async def shared() -> bool:
            await client.put(f"{extranet}/companies/{company['id']}/policy", json=policy, headers=ADMIN)
            view = (await client.get(f"{extranet}/companies/{company['id']}/preview", headers=ADMIN)).json()
            return bool(view["documents"])

        await eventually(shared, timeout=60)
        invitation = await client.post(
            f"{extranet}/companies/{company['id']}/invitations", json={"email": "anna@romashka.example"}, headers=ADMIN
        )
        assert invitation.status_code == 201, invitation.text

    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    await page.goto(invitation.json()["accept_url"])
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{extranet}/portal")

    async with page.expect_download() as download_info:
        await page.click("text=contract.pdf")
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_bytes() == content
    await context.close()

"""The client portal in a real headless Chromium: accept, sign in, see the stage, download, lose access.

Drives Debian's chromium (installed by ``scripts/install-browser``) with Playwright; Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from contracts.topics import Topic
from servicekit.auth import issue_token
from servicekit.settings import DEVELOPMENT_JWT_KEY
from tests.conftest import Servers
from tests.extranet_events import (
    FakeDocuments,
    company_event,
    deal_event,
    document_event,
    publish,
    version_state,
)
from tests.support import ROOT, ServiceProcess, eventually

pytestmark = pytest.mark.e2e

SCREENSHOT = ROOT / "docs" / "screenshots" / "extranet-portal.png"
STAFF = {"Authorization": "Bearer " + issue_token(DEVELOPMENT_JWT_KEY, "u-admin", name="Olga", roles=["admin"])}
PASSWORD = "correct horse battery"


async def test_portal_in_chromium(
    servers: Servers, database_url: str, topic_prefix: str, browser: Browser, tmp_path: Path
) -> None:
    company_id, deal_id, document_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    draft_id, published_id = uuid.uuid4(), uuid.uuid4()
    versions = [version_state(draft_id, 1, "contract-v1.pdf"), version_state(published_id, 2, "contract-v2.pdf")]
    fake = FakeDocuments()
    fake.add("versions", published_id, b"%PDF-1.7 signed contract")

    with fake.serve() as documents_url:
        extranet = ServiceProcess(
            "extranet",
            {
                "DATABASE_URL": database_url,
                "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
                "KAFKA_TOPIC_PREFIX": topic_prefix,
                "DOCUMENTS_URL": documents_url,
                "ENVIRONMENT": "test",
            },
        ).start()
        try:
            await extranet.wait_ready()
            await publish(
                servers.kafka, topic_prefix + Topic.CRM_COMPANIES, [company_event(company_id, "Romashka LLC")]
            )
            await publish(
                servers.kafka,
                topic_prefix + Topic.CRM_DEALS,
                [deal_event(deal_id, company_id, title="Website redesign", stage_name="Design approval")],
            )
            await publish(
                servers.kafka,
                topic_prefix + Topic.DOCUMENTS_DOCUMENTS,
                [document_event(document_id, company_id, versions, [published_id], title="Service contract")],
            )

            async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as staff:
                policy = {"deals": "all", "deal_fields": {"stage": True}, "documents": True}

                async def shared() -> bool:
                    await staff.put(f"/companies/{company_id}/policy", json=policy, headers=STAFF)
                    view = (await staff.get(f"/companies/{company_id}/preview", headers=STAFF)).json()
                    return bool(view["deals"] and view["documents"])

                await eventually(shared)
                response = await staff.post(
                    f"/companies/{company_id}/invitations", json={"email": "anna@romashka.example"}, headers=STAFF
                )
                accept_url = response.json()["accept_url"]

            context = await browser.new_context(accept_downloads=True)
            page = await context.new_page()

            await page.goto(accept_url)
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{extranet.url}/portal")

            # Sign out and in again, so the sign-in form is exercised as well as the invitation.
            await page.click("header button[type=submit]")
            await page.wait_for_url(f"{extranet.url}/portal/sign-in")
            await page.fill("#email", "anna@romashka.example")
            await page.fill("#password", PASSWORD)
            await page.click("main button[type=submit]")
            await page.wait_for_url(f"{extranet.url}/portal")

            assert await page.inner_text("#deals .stage") == "Design approval"
            assert "contract-v1.pdf" not in await page.content()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)

            async with page.expect_download() as download_info:
                await page.click("text=contract-v2.pdf")
            download = await download_info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert saved.read_bytes() == b"%PDF-1.7 signed contract"

            # The documents service withdraws the publication; the same link is refused on the next request.
            download_url = f"{extranet.url}/portal/versions/{published_id}/download"
            withdrawn = document_event(document_id, company_id, versions, [], version=2, title="Service contract")
            await publish(servers.kafka, topic_prefix + Topic.DOCUMENTS_DOCUMENTS, [withdrawn])

            async def refused() -> bool:
                response = await page.request.get(download_url)
                return response.status == 404

            await eventually(refused)
            await page.reload()
            assert "contract-v2.pdf" not in await page.content()
            await context.close()
        finally:
            extranet.stop()

"""The live deal board in a real headless Chromium, with CRM running as a process on real servers.

Two sales users watch the same board while one drags a deal; a support user watches too and must
never get that deal. Drives Debian's chromium with Playwright, as the portal test does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from servicekit.auth import issue_token
from services.crm.tables import SALES_PIPELINE_ID
from tests.board_support import SseReader, open_stream
from tests.conftest import Servers
from tests.support import ROOT, ServiceProcess, eventually

pytestmark = pytest.mark.e2e

JWT_KEY = "e2e-board-signing-key-of-32-bytes-or-more"
SCREENSHOT = ROOT / "docs" / "screenshots" / "board.png"
PIPELINE = str(SALES_PIPELINE_ID)
HIDDEN_AMOUNT = "123456.78"
# The largest amount with 14 integer digits. Converted to a JavaScript number, it shows as ...999.98.
HUGE_AMOUNT = "99999999999999.99"
# A web form may send a contact name of any length, and the card must not widen its column for it.
LONG_CLIENT_NAME = ("Константинопольская-Сидоренко Анастасия Вячеславовна " * 8)[:400]
LIVE_TIMEOUT_MS = 2000
# The width of a board column: 17.5rem in board.css at the default 16 px font size.
COLUMN_WIDTH_PX = 280


def token(user: str, name: str, department: str, roles: list[str] | None = None) -> str:
    return issue_token(JWT_KEY, user, name=name, department=department, roles=roles or [])


ADMIN = {"Authorization": "Bearer " + token("u-admin", "Olga", "sales", ["admin"])}
ANNA = token("u-anna", "Анна Смирнова", "sales")
BORIS = token("u-boris", "Борис Петров", "sales")
VIKTOR = token("u-viktor", "Viktor Lang", "support")


def crm_env(servers: Servers, database_url: str, topic_prefix: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def seed(client: httpx.AsyncClient) -> dict[str, Any]:
    """Create the board: sales deals with markers and clients, one restricted client, one support deal."""
    stages = (await client.get(f"/pipelines/{PIPELINE}", headers=ADMIN)).json()["stages"]
    proposal = stages[2]
    rules = {"required_fields": ["next_step"]}
    response = await client.put(f"/pipelines/{PIPELINE}/stages/{proposal['id']}/rules", json=rules, headers=ADMIN)
    assert response.status_code == 200, response.text

    ours = await post(client, "/companies", {"name": "ООО «Ромашка»", "owner_id": "u-anna", "department": "sales"})
    theirs = await post(
        client, "/companies", {"name": "Support-only client", "owner_id": "u-viktor", "department": "support"}
    )
    sales = {"owner_id": "u-anna", "department": "sales", "currency": "RUB"}
    overdue = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    deals = {
        "dragged": await post(
            client,
            "/deals",
            {**sales, "title": "Поставка серверов для дата-центра", "amount": HIDDEN_AMOUNT, "company_id": ours["id"]},
        ),
        "rejected": await post(client, "/deals", {**sales, "title": "Без следующего шага", "amount": "5000.00"}),
        "restricted": await post(
            client,
            "/deals",
            {
                **sales,
                "title": "Сопровождение внедрения CRM с очень длинным названием, которое не помещается в одну строку",
                "amount": "250000.00",
                "company_id": theirs["id"],
                "next_step": "Call the client's CTO",
                "next_step_due_at": overdue,
                "stage_id": stages[1]["id"],
            },
        ),
        "proposal": await post(
            client,
            "/deals",
            {
                **sales,
                "title": "Годовая лицензия 🚀",
                "amount": "90000.00",
                "next_step": "Send the offer",
                "stage_id": proposal["id"],
            },
        ),
        "calm": await post(
            client,
            "/deals",
            {**sales, "title": "Pilot for Nordwind GmbH", "amount": "12000.00", "next_step": "Demo on Friday"},
        ),
        "long_client": await post(
            client,
            "/deals",
            {
                **sales,
                "title": "Заявка с сайта",
                "amount": "10.00",
                "contact_name": LONG_CLIENT_NAME,
                "next_step": "Call back",
            },
        ),
        "lost": await post(
            client,
            "/deals",
            {**sales, "title": "Тендер на поддержку", "amount": "40000.00", "stage_id": stages[4]["id"]},
        ),
        "huge": await post(
            client,
            "/deals",
            {**sales, "title": "Крупный контракт", "amount": HUGE_AMOUNT, "stage_id": stages[4]["id"]},
        ),
        "support": await post(
            client,
            "/deals",
            {
                "title": "Support renewal",
                "amount": "700.00",
                "currency": "RUB",
                "owner_id": "u-viktor",
                "department": "support",
            },
        ),
    }
    return {"stages": stages, "deals": deals}


async def open_board(
    browser: Browser, base_url: str, bearer_token: str, path: str = f"/ui/board/{PIPELINE}"
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1500, "height": 900}, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{base_url}{path}#token={bearer_token}")
    await page.wait_for_selector('#stream-state[data-state="open"]')
    await page.wait_for_selector(".card")
    return context, page


def card_in(stage_id: str, deal_id: str) -> str:
    return f'.column[data-stage-id="{stage_id}"] .card[data-deal-id="{deal_id}"]'


async def column_text(page: Page, stage_id: str, part: str) -> str:
    return await page.inner_text(f'.column[data-stage-id="{stage_id}"] .column-{part}')


async def test_live_board_in_chromium(servers: Servers, database_url: str, topic_prefix: str, browser: Browser) -> None:
    crm = ServiceProcess("crm", crm_env(servers, database_url, topic_prefix)).start()
    standby: ServiceProcess | None = None
    readers: list[SseReader] = []
    try:
        await crm.wait_ready()
        async with httpx.AsyncClient(base_url=crm.url, timeout=30) as client:
            board = await seed(client)
        stages = [stage["id"] for stage in board["stages"]]
        deals = {name: deal["id"] for name, deal in board["deals"].items()}
        viktor_bearer = {"Authorization": "Bearer " + VIKTOR}
        readers.append(await open_stream(crm.url, PIPELINE, viktor_bearer))

        anna_context, anna = await open_board(browser, crm.url, ANNA)
        boris_context, boris = await open_board(browser, crm.url, BORIS)
        # Without a pipeline id the page opens the first pipeline, here the only one.
        viktor_context, viktor = await open_board(browser, crm.url, VIKTOR, "/ui/board")
        assert await viktor.locator(".card").count() == 1
        assert await boris.locator(f'.card[data-deal-id="{deals["support"]}"]').count() == 0
        restricted = anna.locator(f'.card[data-deal-id="{deals["restricted"]}"] .restricted')
        assert "Access restricted" in await restricted.inner_text()
        assert "Support-only client" not in await anna.content()
        assert await anna.locator('.card .marker[data-marker="next_step_overdue"]').count() == 1

        # A 400-character client name is cut on its card, with the full name in the tooltip. Its column
        # keeps the width of the others.
        long_client = anna.locator(f'.card[data-deal-id="{deals["long_client"]}"] .client-name')
        assert await long_client.get_attribute("title") == LONG_CLIENT_NAME
        widths = await anna.eval_on_selector_all(".column", "columns => columns.map((c) => c.offsetWidth)")
        assert len(widths) == len(stages)
        assert max(widths) == min(widths), widths
        assert widths[0] <= COLUMN_WIDTH_PX, widths
        card_width = await anna.eval_on_selector(card_in(stages[0], deals["long_client"]), "card => card.scrollWidth")
        assert card_width < widths[0]

        # Amounts and sums are decimal strings, shown to the last cent however large they are.
        huge_amount = await anna.inner_text(f'.card[data-deal-id="{deals["huge"]}"] .card-amount')
        assert "99,999,999,999,999.99" in huge_amount
        assert "100,000,000,039,999.99" in await column_text(anna, stages[4], "sum")
        card_page = await anna_context.new_page()
        await card_page.goto(f"{crm.url}/ui/deals/{deals['huge']}#token={ANNA}")
        await card_page.wait_for_selector(".card-header .amount")
        assert "99,999,999,999,999.99" in await card_page.inner_text(".card-header .amount")
        await card_page.close()

        # A mouse drag on Anna's board moves the card on Boris's board, with the sums, within two seconds.
        assert await column_text(boris, stages[1], "count") == "1"
        await anna.locator(card_in(stages[0], deals["dragged"])).drag_to(
            anna.locator(f'.column[data-stage-id="{stages[1]}"]')
        )
        await boris.wait_for_selector(card_in(stages[1], deals["dragged"]), timeout=LIVE_TIMEOUT_MS)
        await boris.wait_for_function(
            """([stage]) => {
              const column = document.querySelector(`.column[data-stage-id="${stage}"]`);
              return column.querySelector(".column-count").textContent === "2"
                && column.querySelector(".column-sum").textContent.includes("373,456.78");
            }""",
            arg=[stages[1]],
            timeout=LIVE_TIMEOUT_MS,
        )
        assert await boris.locator(card_in(stages[0], deals["dragged"])).count() == 0
        assert "123,456.78" not in await column_text(boris, stages[0], "sum")

        # A move that a stage rule rejects puts the card back and shows why on the card.
        await anna.locator(card_in(stages[0], deals["rejected"])).drag_to(
            anna.locator(f'.column[data-stage-id="{stages[2]}"]')
        )
        error = anna.locator(f'.card[data-deal-id="{deals["rejected"]}"] .card-error')
        await error.wait_for(state="visible", timeout=LIVE_TIMEOUT_MS)
        error_text = await error.inner_text()
        assert "next_step" in error_text
        assert error_text.count("required to enter stage") == 1, error_text
        assert await anna.locator(card_in(stages[0], deals["rejected"])).count() == 1

        # The stream drops (CRM is killed); a second CRM process takes changes while the board is offline.
        crm.kill()
        await anna.wait_for_selector('#stream-state:not([data-state="open"])', timeout=5000)
        standby = ServiceProcess("crm", crm_env(servers, database_url, topic_prefix)).start()
        await standby.wait_ready()
        async with httpx.AsyncClient(base_url=standby.url, timeout=30) as client:
            created = await post(
                client,
                "/deals",
                {
                    "title": "Создана во время обрыва",
                    "amount": "1000.00",
                    "currency": "RUB",
                    "owner_id": "u-boris",
                    "department": "sales",
                },
            )
            response = await client.patch(f"/deals/{deals['dragged']}", json={"stage_id": stages[3]}, headers=ADMIN)
            assert response.status_code == 200, response.text
            response = await client.delete(f"/deals/{deals['rejected']}", headers=ADMIN)
            assert response.status_code == 204, response.text
        last_id = readers[0].last_id
        crm.start()
        await crm.wait_ready()
        readers.append(await open_stream(crm.url, PIPELINE, viktor_bearer, last_id))

        for page in (anna, boris):
            await page.wait_for_selector(card_in(stages[3], deals["dragged"]), timeout=20_000)
            await page.wait_for_selector(card_in(stages[0], created["id"]), timeout=LIVE_TIMEOUT_MS)
            await page.wait_for_selector(f'.card[data-deal-id="{deals["rejected"]}"]', state="detached")
            assert await page.get_attribute("#stream-state", "data-state") == "open"
        assert await column_text(boris, stages[0], "count") == "3"
        assert await column_text(boris, stages[3], "count") == "1"

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await anna.screenshot(path=str(SCREENSHOT), full_page=True)

        # The support user never got the sales deal: neither on the page nor in the raw stream.
        await eventually(lambda: _settled(readers[-1]), timeout=5)
        viktor_html = await viktor.content()
        for secret in (deals["dragged"], "Поставка серверов", "123,456.78", "Создана во время обрыва"):
            assert secret not in viktor_html
        assert await viktor.locator(".card").count() == 1
        raw = "\n".join(reader.text() for reader in readers)
        for secret in (deals["dragged"], "Поставка серверов", HIDDEN_AMOUNT, created["id"], deals["rejected"]):
            assert secret not in raw
        assert "Support renewal" in raw
        for context in (anna_context, boris_context, viktor_context):
            await context.close()
    finally:
        for reader in readers:
            await reader.close()
        crm.stop()
        if standby is not None:
            standby.stop()


async def _settled(reader: SseReader) -> bool:
    return reader.status == 200

"""Staff pages in a real headless Chromium: the deal card, the client workspace and access requests.

CRM and tasks run as processes on real servers. The pages create tasks in the tasks service from the
browser, so tasks accepts CORS requests from CRM's origin and CRM's CSP allows the tasks origin.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from servicekit.auth import issue_token
from tests.conftest import Servers
from tests.support import ROOT, ServiceProcess, eventually

pytestmark = pytest.mark.e2e

JWT_KEY = "e2e-staff-pages-key-of-32-bytes-or-more"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def token(user: str, name: str, department: str | None, roles: list[str] | None = None) -> str:
    return issue_token(JWT_KEY, user, name=name, department=department, roles=roles or [])


ADMIN = token("u-lead", "Lead", None, ["admin"])
ANNA = token("u-anna", "Анна Ковалёва", "enterprise")
BORIS = token("u-boris", "Борис Орлов", "sales")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@dataclass
class Staff:
    crm: str
    tasks: str
    http: httpx.AsyncClient

    async def post(self, url: str, body: dict[str, Any], user: str = ADMIN) -> dict[str, Any]:
        response = await self.http.post(url, json=body, headers=bearer(user))
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, url: str, user: str = ADMIN) -> dict[str, Any]:
        response = await self.http.get(url, headers=bearer(user))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@dataclass
class Seed:
    company: dict[str, Any]
    contact: dict[str, Any]
    boris_deal: dict[str, Any]
    anna_deals: list[dict[str, Any]]


@pytest.fixture
async def staff(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[Staff]:
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }
    crm = ServiceProcess("crm", {**common, "DATABASE_URL": await make_database()})
    tasks = ServiceProcess("tasks", {**common, "DATABASE_URL": await make_database()})
    crm.env["TASKS_PUBLIC_URL"] = tasks.url
    tasks.env["STAFF_PAGE_ORIGINS"] = json.dumps([crm.url])
    processes = [crm.start(), tasks.start()]
    try:
        for process in processes:
            await process.wait_ready()
        async with httpx.AsyncClient(timeout=15) as http:
            yield Staff(crm.url, tasks.url, http)
    finally:
        for process in processes:
            process.stop()


async def seed(staff: Staff) -> Seed:
    """Anna's client with her contact and deals, and Boris's deal under it that Boris may not fully see."""
    crm = staff.crm
    owned_by_anna = {"owner_id": "u-anna", "department": "enterprise"}
    company = await staff.post(
        f"{crm}/companies",
        {"name": "ООО «Ромашка»", "tax_id": "7701234567", "phones": ["+7 495 123-45-67"], **owned_by_anna},
    )
    contact = await staff.post(
        f"{crm}/contacts",
        {"name": "Ирина Смирнова", "company_id": company["id"], "emails": ["irina@romashka.example"], **owned_by_anna},
    )
    boris_deal = await staff.post(
        f"{crm}/deals",
        {
            "title": "Поставка серверов",
            "company_id": company["id"],
            "contact_ids": [contact["id"]],
            "amount": "1250000.00",
            "currency": "RUB",
            "owner_id": "u-boris",
            "department": "sales",
            "next_step": "Созвониться с Ириной о сроках",
            "next_step_due_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
        },
    )
    anna_deals = [
        await staff.post(
            f"{crm}/deals",
            {"title": title, "company_id": company["id"], "amount": amount, "currency": "RUB", **owned_by_anna},
        )
        for title, amount in (("Годовая поддержка", "480000.00"), ("Обучение персонала", "96000.00"))
    ]
    return Seed(company, contact, boris_deal, anna_deals)


async def task_for(staff: Staff, client: dict[str, str], title: str, user: str) -> dict[str, Any]:
    """Create a task through the API, waiting until the tasks service has the client from CRM's events."""

    async def created() -> dict[str, Any] | None:
        response = await staff.http.post(
            f"{staff.tasks}/tasks", json={"title": title, "client": client}, headers=bearer(user)
        )
        return response.json() if response.status_code == 201 else None

    result: dict[str, Any] = await eventually(created, timeout=60)
    return result


async def open_page(browser: Browser, url: str, user: str) -> tuple[BrowserContext, Page]:
    """Open ``url`` signed in as ``user``: the token in the fragment signs the tab in."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    await page.goto(f"{url}#token={user}")
    return context, page


async def test_access_grant_round_trip(staff: Staff, browser: Browser) -> None:
    data = await seed(staff)
    deal_url = f"{staff.crm}/ui/deals/{data.boris_deal['id']}"
    boris, boris_page = await open_page(browser, deal_url, BORIS)

    company_slot = boris_page.locator(".restricted-item", has=boris_page.locator("[data-record-type=company]"))
    await company_slot.wait_for()
    assert "u-anna" in await company_slot.inner_text()
    assert "Ромашка" not in await boris_page.locator("#relations").inner_text()
    await company_slot.get_by_role("button", name="Request access").click()
    await company_slot.locator("textarea").fill("Нужны реквизиты для счёта")
    await company_slot.get_by_role("button", name="Send request").click()
    await company_slot.locator(".request-status").wait_for()
    assert "waiting for a decision" in await company_slot.locator(".request-status").inner_text()

    anna, anna_page = await open_page(browser, f"{staff.crm}/ui/access-requests", ANNA)
    pending = anna_page.locator("#incoming .request[data-status=pending]")
    await pending.wait_for()
    assert "Нужны реквизиты для счёта" in await pending.inner_text()
    assert "Борис Орлов" in await pending.inner_text()
    await pending.locator("input[name=days]").fill("7")
    await pending.get_by_role("button", name="Grant").click()
    granted = anna_page.locator("#incoming .request[data-status=granted]")
    await granted.wait_for()
    assert "Granted" in await granted.inner_text()

    await boris_page.reload()
    company = boris_page.locator("#relations .reference[data-record-type=company]")
    await company.wait_for()
    assert "ООО «Ромашка»" in await company.inner_text()
    await boris_page.locator("#timeline li[data-kind=access_granted]").wait_for()
    requested = await boris_page.locator("#timeline li[data-kind=access_requested]").inner_text()
    assert "Нужны реквизиты для счёта" in requested
    assert "7 days" in await boris_page.locator("#timeline li[data-kind=access_granted]").inner_text()

    outgoing = await staff.get(f"{staff.crm}/access-requests?box=outgoing", BORIS)
    assert outgoing["items"][0]["status"] == "granted"
    assert outgoing["items"][0]["days"] == 7
    await boris.close()
    await anna.close()


async def test_access_decline_round_trip(staff: Staff, browser: Browser) -> None:
    data = await seed(staff)
    hidden_deal = data.anna_deals[0]
    boris, boris_page = await open_page(browser, f"{staff.crm}/ui/deals/{hidden_deal['id']}", BORIS)
    restricted = boris_page.locator("#deal-restricted")
    await restricted.wait_for()
    assert "Годовая поддержка" not in await boris_page.content()
    await restricted.get_by_role("button", name="Request access").click()
    await restricted.locator("textarea").fill("Хочу посмотреть условия")
    await restricted.get_by_role("button", name="Send request").click()
    await restricted.locator(".request-status").wait_for()

    anna, anna_page = await open_page(browser, f"{staff.crm}/ui/access-requests", ANNA)
    pending = anna_page.locator("#incoming .request[data-status=pending]")
    await pending.wait_for()
    await pending.locator("input[name=reason]").fill("Условия конфиденциальны")
    await pending.get_by_role("button", name="Decline").click()
    await anna_page.locator("#incoming .request[data-status=declined]").wait_for()

    await boris_page.reload()
    await boris_page.locator("#deal-restricted").wait_for()
    # With the request declined, Boris may ask again.
    assert await boris_page.get_by_role("button", name="Request access").count() == 1
    await boris_page.goto(f"{staff.crm}/ui/access-requests")
    declined = boris_page.locator("#outgoing .request[data-status=declined]")
    await declined.wait_for()
    assert "Условия конфиденциальны" in await declined.inner_text()
    timeline = await staff.get(f"{staff.crm}/deals/{hidden_deal['id']}/timeline")
    kinds = [entry["kind"] for entry in timeline["items"]]
    assert kinds[-2:] == ["access_requested", "access_declined"]
    await boris.close()
    await anna.close()


async def test_tasks_from_card_and_workspace(staff: Staff, browser: Browser) -> None:
    data = await seed(staff)
    deal_id, company_id = data.boris_deal["id"], data.company["id"]
    # Existing work, so the pages show realistic lists; this also waits until tasks has the deals.
    specification = await task_for(staff, {"deal_id": deal_id}, "Согласовать спецификацию", BORIS)
    await task_for(staff, {"deal_id": data.anna_deals[0]["id"]}, "Продлить договор поддержки", ANNA)

    boris, page = await open_page(browser, f"{staff.crm}/ui/deals/{deal_id}", BORIS)
    await page.locator("#deal-tasks li[data-task-id]").first.wait_for()
    assert await page.locator("#markers .marker[data-marker=next_step_overdue]").count() == 1

    # A 422 from the deal API shows next to the field it names.
    await page.fill("#edit-form [data-field=amount] input", "много")
    await page.click("#edit-form button[type=submit]")
    amount_error = page.locator("#edit-form [data-field=amount] .field-error")
    await amount_error.wait_for()
    assert await amount_error.inner_text() != ""
    await page.reload()
    await page.locator("#deal-tasks li[data-task-id]").first.wait_for()

    task_form = page.locator("#task-panel form")
    await task_form.locator("[data-field=title] input").fill("Отправить коммерческое предложение")
    await task_form.locator("[data-field=owner_id] input").fill("u-boris")
    await task_form.locator("[data-field=due_at] input").fill("2030-03-01T12:00")
    await task_form.locator("[data-field=expected_result] textarea").fill("КП отправлено, клиент подтвердил")
    await task_form.get_by_role("button", name="Create task").click()
    await task_form.locator(".notice").filter(has_text="created").wait_for()
    await page.locator("#deal-tasks li", has_text="Отправить коммерческое предложение").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "deal-card.png"), full_page=True)

    listed = await staff.get(f"{staff.tasks}/tasks?deal_id={deal_id}")
    [from_card] = [task for task in listed["items"] if task["title"] == "Отправить коммерческое предложение"]
    assert from_card["client"]["deal"]["id"] == deal_id
    assert from_card["client"]["company"]["id"] == company_id
    assert from_card["expected_result"] == "КП отправлено, клиент подтвердил"

    marker = page.locator("#markers .marker[data-marker=next_step_overdue]")
    await marker.get_by_role("button", name="Snooze").click()
    await marker.locator("textarea").fill("Клиент в отпуске до понедельника")
    await marker.locator("form button[type=submit]").click()
    await page.locator("#timeline li[data-kind=marker_snoozed]").wait_for()
    assert await page.locator("#markers .marker").count() == 0

    await page.fill("#edit-form [data-field=next_step] input", "Отправить договор на подпись")
    await page.fill("#edit-form [data-field=text] textarea", "Клиент согласен с ценой")
    await page.click("#edit-form button[type=submit]")
    await page.locator("#timeline li[data-kind=comment]", has_text="Клиент согласен с ценой").wait_for()
    deal = await staff.get(f"{staff.crm}/deals/{deal_id}", BORIS)
    assert deal["next_step"] == "Отправить договор на подпись"

    # A task that is done and then accepted leaves two timeline entries that name their status.
    task_url = f"{staff.tasks}/tasks/{specification['id']}"
    await staff.post(f"{task_url}/complete", {"result": {"text": "Спецификация согласована"}}, BORIS)
    await staff.post(f"{task_url}/accept", {}, BORIS)

    async def task_results() -> bool:
        timeline = await staff.get(f"{staff.crm}/deals/{deal_id}/timeline", BORIS)
        return len([entry for entry in timeline["items"] if entry["kind"] == "task_result"]) == 2

    await eventually(task_results, timeout=60, interval=1)
    await page.reload()
    results = page.locator("#timeline li[data-kind=task_result]")
    await results.first.wait_for()
    texts = await results.all_inner_texts()
    assert len(texts) == 2
    for status in ("done", "accepted"):
        expected = f"Task {status}: Согласовать спецификацию · result: Спецификация согласована"
        assert len([text for text in texts if expected in text]) == 1, texts
    await boris.close()

    anna, page = await open_page(browser, f"{staff.crm}/ui/companies/{company_id}", ANNA)
    counter = page.locator("[data-counter=tasks]")
    await counter.wait_for()

    async def counted(expected: str) -> bool:
        if await counter.inner_text() == expected:
            return True
        await page.reload()
        await counter.wait_for()
        return False

    await eventually(lambda: counted("3"), timeout=60, interval=1)
    await page.locator("#task-panel [data-field=title] input").fill("Позвонить Ирине о продлении")
    await page.locator("#task-panel button[type=submit]").click()
    await page.locator("[data-counter=tasks]", has_text="4").wait_for(timeout=60_000)
    # Boris's deal is in Anna's client list, but it belongs to sales, so Anna gets the owner to ask.
    assert await page.locator("#tab-items .restricted").count() == 1
    await page.screenshot(path=str(SCREENSHOTS / "workspace.png"), full_page=True)

    company_tasks = await staff.get(f"{staff.tasks}/tasks?company_id={company_id}")
    [from_workspace] = [task for task in company_tasks["items"] if task["title"] == "Позвонить Ирине о продлении"]
    assert from_workspace["client"]["company"]["id"] == company_id
    assert from_workspace["client"]["deal"] is None
    await anna.close()

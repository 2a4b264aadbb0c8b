"""CRM and intake as processes on real Kafka and PostgreSQL: each sample inquiry becomes exactly one deal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Servers
from tests.intake_support import CHANNELS, JWT_KEY, bearer, samples
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def services(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }
    processes = {
        "crm": ServiceProcess("crm", {**base, "DATABASE_URL": await make_database()}),
        # Intake's own relay stays off at first, as if Kafka were gone: it stores and processes, nothing leaves.
        "intake": ServiceProcess(
            "intake", {**base, "DATABASE_URL": await make_database(), "RUN_OUTBOX_RELAY": "false"}
        ),
    }
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def test_each_sample_becomes_one_deal_however_often_it_is_sent(services: dict[str, ServiceProcess]) -> None:
    intake, crm = services["intake"], services["crm"]
    admin = bearer()
    all_samples = samples()
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        for key, channel in CHANNELS.items():
            # Routed to CRM's default pipeline here: CRM has no "b2b" pipeline to receive the demo form's rule.
            answer = await client.put(f"/staff/channels/{key}", json={**channel, "form_key": None}, headers=admin)
            assert answer.status_code == 200, answer.text

        async def post(name: str) -> str:
            sample = all_samples[name]
            answer = await client.post(
                sample.path, content=sample.body, headers={**sample.headers, "Content-Type": sample.content_type}
            )
            assert answer.status_code in (200, 202), f"{name}: {answer.text}"
            request_id: str = answer.json()["request_id"]
            return request_id

        # Once, then twice more at the same moment, as senders retry.
        first = {name: await post(name) for name in all_samples}
        await asyncio.gather(*(post(name) for name in all_samples for _ in range(2)))

        async def outcomes() -> dict[str, dict[str, Any]] | None:
            views = {name: (await client.get(f"/requests/{rid}", headers=admin)).json() for name, rid in first.items()}
            return views if all(view["status"] != "received" for view in views.values()) else None

        views = await eventually(outcomes, timeout=60)
        accepted = {name: first[name] for name, view in views.items() if view["status"] == "accepted"}
        assert set(accepted) == set(all_samples) - {"RI-02-ping"}
        assert views["RI-02-ping"]["reason"] == "ping"

        async def deals() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=crm.url, timeout=10) as crm_client:
                items: list[dict[str, Any]] = (await crm_client.get("/deals", headers=admin)).json()["items"]
            return items

        assert await deals() == [], "nothing reaches CRM while intake cannot publish"

        # Publishing comes back: a relay drains what intake accepted meanwhile.
        relay = ServiceProcess("intake", intake.env, command="relay").start()
        try:
            made = await eventually(lambda: _at_least(deals, len(accepted)), timeout=90)
            await asyncio.sleep(2)  # let any duplicate that would arrive late arrive
            made = await deals()
        finally:
            relay.stop()
        assert len(made) == len(accepted)
        assert {deal["source"]["request_id"] for deal in made} == set(accepted.values())
        html_deal = next(deal for deal in made if deal["source"]["request_id"] == accepted["RI-08"])
        assert html_deal["contact_phone"] == "+79990000009"
        assert html_deal["source"]["utm"]["utm_source"] == "yandex"

        # Intake learns from crm.deals which deal each request became.
        async def linked() -> dict[str, Any] | None:
            view: dict[str, Any] = (await client.get(f"/requests/{accepted['RI-08']}", headers=admin)).json()
            return view if view["deal_id"] else None

        view = await eventually(linked, timeout=30)
        assert view["deal_id"] == html_deal["id"]
        assert view["deal"]["title"] == html_deal["title"]


async def _at_least(fetch: Callable[[], Awaitable[list[dict[str, Any]]]], count: int) -> list[dict[str, Any]] | None:
    items = await fetch()
    return items if len(items) >= count else None

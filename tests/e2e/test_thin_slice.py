"""All six services as processes on real Kafka, PostgreSQL and OpenSearch: a form becomes a searchable deal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from servicekit.db import create_engine, create_sessionmaker
from services.tasks.tables import DealReference
from tests.conftest import Servers
from tests.e2e.system import bearer, running_system
from tests.support import ServiceProcess, eventually, read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with running_system(servers, make_database, topic_prefix) as processes:
        yield processes


async def test_form_submission_becomes_searchable_deal(system: dict[str, ServiceProcess]) -> None:
    marker = uuid.uuid4().hex[:8]
    form = urlencode(
        {
            "name": f"Анна Смирнова {marker}",
            "phone": "8 (999) 000-00-01",
            "email": "Anna@Example.com",
            "message": "Нужен договор 😊",
            "utm_source": "newsletter",
        }
    ).encode("utf-8")
    admin = bearer("u-admin", roles=["admin"])

    async with httpx.AsyncClient(timeout=10) as client:
        for name, process in system.items():
            health = await client.get(process.url + "/health")
            assert health.json() == {"status": "ok", "service": name}
            metrics = await client.get(process.url + "/metrics")
            assert "outbox_backlog" in metrics.text

        accepted = await client.post(
            system["intake"].url + "/forms/website-contact",
            content=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Idempotency-Key": marker,
                "X-Correlation-ID": f"corr-{marker}",
            },
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["X-Correlation-ID"] == f"corr-{marker}"
        request_id = accepted.json()["request_id"]

        repeated = await client.post(
            system["intake"].url + "/forms/website-contact",
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": marker},
        )
        assert repeated.status_code == 200
        assert repeated.json() == {"request_id": request_id, "status": "duplicate"}

        async def deal_made() -> list[dict[str, object]]:
            found = await client.get(system["crm"].url + "/deals", params={"request_id": request_id}, headers=admin)
            items: list[dict[str, object]] = found.json()["items"]
            return items

        [deal] = await eventually(deal_made, timeout=60)
        assert deal["contact_phone"] == "+79990000001"
        assert deal["contact_email"] == "anna@example.com"
        assert marker in str(deal["title"])

        async def found_in_search() -> list[dict[str, object]]:
            result = await client.get(system["search"].url + "/search", params={"q": marker}, headers=admin)
            items: list[dict[str, object]] = result.json()["items"]
            return items

        [hit] = await eventually(found_in_search, timeout=60)
        assert hit["id"] == deal["id"]
        assert hit["link"] == {"service": "crm", "path": f"/deals/{deal['id']}"}

        outsider = await client.get(
            system["search"].url + "/search", params={"q": marker}, headers=bearer("u-2", department="other")
        )
        assert outsider.json() == {"total": 0, "items": []}

        status = await client.get(system["intake"].url + f"/requests/{request_id}", headers=admin)
        assert status.json()["status"] == "accepted"

    # The correlation id of the form post travels through intake's event into CRM's deal event.
    deal_topic = system["crm"].env["KAFKA_TOPIC_PREFIX"] + "crm.deals"
    [record] = await read_topic(system["crm"].env["KAFKA_BOOTSTRAP_SERVERS"], deal_topic, expected=1)
    headers = {name: value.decode() for name, value in record.headers}
    assert record.key == str(deal["id"]).encode()
    assert headers["correlation_id"] == f"corr-{marker}"
    assert headers["event_type"] == "crm.deal.created"
    assert headers["traceparent"].startswith("00-")

    tasks_engine = create_engine(system["tasks"].env["DATABASE_URL"])
    sessions = create_sessionmaker(tasks_engine)

    async def projected() -> bool:
        async with sessions() as session:
            return (
                await session.scalar(select(DealReference).where(DealReference.deal_id == uuid.UUID(str(deal["id"]))))
                is not None
            )

    await eventually(projected, timeout=30)
    await tasks_engine.dispose()


async def test_bad_input_gets_clear_errors(system: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        unauthenticated = await client.get(system["crm"].url + "/deals")
        assert unauthenticated.status_code == 401
        assert "bearer token" in unauthenticated.json()["message"]

        invalid = await client.post(
            system["crm"].url + "/deals", json={"title": "", "currency": "euro"}, headers=bearer("u-1", roles=["admin"])
        )
        assert invalid.status_code == 422
        fields = {error["field"] for error in invalid.json()["errors"]}
        assert fields == {"body.title", "body.currency"}

        too_large = await client.post(
            system["intake"].url + "/forms/big",
            content=b"x" * 2_000_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert too_large.status_code == 413
        assert too_large.json()["code"] == "payload_too_large"

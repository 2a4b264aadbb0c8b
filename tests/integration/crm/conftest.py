"""The CRM service in-process on real PostgreSQL and Kafka, with its lifespan running."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from servicekit.auth import issue_token
from servicekit.service import ServiceRuntime
from services.crm.bootstrap import create_app
from services.crm.settings import CrmSettings
from tests.conftest import Servers
from tests.support import eventually, read_topic

JWT_KEY = "crm-integration-test-key-of-32-bytes-or-more"


def bearer(
    user: str, *, department: str | None = "sales", roles: list[str] | None = None, workgroups: list[str] | None = None
) -> dict[str, str]:
    token = issue_token(JWT_KEY, user, name=user, department=department, roles=roles or [], workgroups=workgroups)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("u-admin", roles=["admin"])
SALES = bearer("u-sales", department="sales")
OTHER = bearer("u-other", department="support")


@dataclass
class Crm:
    app: FastAPI
    client: httpx.AsyncClient
    servers: Servers

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    def topic(self, name: str) -> str:
        return self.runtime.topic(name)

    async def events(self, topic: str, aggregate_id: str, expected: int) -> list[dict[str, Any]]:
        """Wait until ``expected`` events of one aggregate are on ``topic`` and return them in order."""

        async def found() -> list[dict[str, Any]]:
            records = await read_topic(self.servers.kafka, self.topic(topic), expected=10_000, timeout=1.5)
            bodies = [json.loads(r.value) for r in records if r.key == aggregate_id.encode()]
            return bodies if len(bodies) >= expected else []

        result: list[dict[str, Any]] = await eventually(found, timeout=30)
        return result

    async def publish(self, topic: str, events: list[Any]) -> None:
        """Publish contract events as another service's outbox relay would: keyed by aggregate id."""
        producer = AIOKafkaProducer(bootstrap_servers=self.servers.kafka, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    self.topic(topic),
                    event.model_dump_json().encode(),
                    key=str(event.aggregate_id).encode(),
                    headers=[(k, v.encode()) for k, v in event.headers().items()],
                )
        finally:
            await producer.stop()


@pytest.fixture
def crm_overrides() -> dict[str, Any]:
    """Settings of the CRM under test besides the servers; a test module may override this fixture."""
    return {}


@pytest.fixture
async def crm(
    servers: Servers, database_url: str, topic_prefix: str, crm_overrides: dict[str, Any]
) -> AsyncIterator[Crm]:
    settings = CrmSettings(
        database_url=database_url,
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=topic_prefix,
        jwt_secret_key=JWT_KEY,
        environment="test",
        marker_refresh_seconds=3600,
        **crm_overrides,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm", timeout=30) as client:
            yield Crm(app, client, servers)


async def create(crm: Crm, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = await crm.client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def new_id() -> str:
    return str(uuid.uuid4())

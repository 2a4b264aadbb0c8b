"""Search test helpers: the service on real servers in this process, and contract events to publish."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from opensearchpy import AsyncOpenSearch

from contracts.crm import (
    CompanyCreated,
    CompanyState,
    ContactCreated,
    ContactState,
    DealChange,
    DealCreated,
    DealSource,
    DealState,
    DealUpdated,
    LegalEntityCreated,
    LegalEntityState,
)
from contracts.documents import DocumentChange, DocumentCreated, DocumentState
from contracts.envelope import Actor, ActorType, Event
from contracts.intake import InquiryContact, IntakeRequest, RequestAccepted
from contracts.tasks import ClientReference, TaskChange, TaskCreated, TaskState
from servicekit.auth import Principal, issue_token
from servicekit.migrations import migrate
from servicekit.service import ServiceRuntime, create_http_app, wait_for_kafka
from services.search.bootstrap import create_runtime
from services.search.http import router
from services.search.index import SearchIndex
from services.search.settings import SearchSettings
from tests.conftest import Servers
from tests.factories import PIPELINE_ID, STAGE_ID

JWT_KEY = "search-test-signing-key-of-32-bytes-or-more"
ACTOR = Actor(type=ActorType.USER, id="u-test")


@dataclass
class SearchService:
    """The search service's consumers and HTTP API, running in the test's event loop."""

    runtime: ServiceRuntime
    settings: SearchSettings
    index: SearchIndex
    http: httpx.AsyncClient

    def topic(self, name: str) -> str:
        return self.runtime.topic(name)

    async def get(self, path: str, user: Principal, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=bearer(user))


def bearer(user: Principal) -> dict[str, str]:
    token = issue_token(JWT_KEY, user.user_id, department=user.department, workgroups=user.workgroups, roles=user.roles)
    return {"Authorization": f"Bearer {token}"}


def search_settings(servers: Servers, database_url: str, topic_prefix: str) -> SearchSettings:
    return SearchSettings(
        database_url=database_url,
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=topic_prefix,
        opensearch_url=servers.opensearch,
        index_prefix=topic_prefix,
        refresh_on_write=True,
        jwt_secret_key=JWT_KEY,
        environment="test",
    )


@pytest.fixture
async def search_service(servers: Servers, database_url: str, topic_prefix: str) -> AsyncIterator[SearchService]:
    settings = search_settings(servers, database_url, topic_prefix)
    runtime = create_runtime(settings)
    await migrate(runtime.engine, runtime.migrations)
    await wait_for_kafka(runtime)
    index: SearchIndex = runtime.extras["search_index"]
    await index.ensure()
    await runtime.broker.start()
    app = create_http_app(runtime, title="search", routers=[router])
    app.state.search_index = index
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://search") as http:
        yield SearchService(runtime, settings, index, http)
    await runtime.broker.stop()
    await drop_indices(index.client, topic_prefix)
    await index.client.close()
    await runtime.engine.dispose()


async def drop_indices(client: AsyncOpenSearch, prefix: str) -> None:
    """Delete every index whose name starts with this test's prefix, and nothing else."""
    names = [name for name in await client.indices.get(index=f"{prefix}*") if name.startswith(prefix)]
    if names:
        await client.indices.delete(index=",".join(names))


async def publish(bootstrap: str, topic: str, events: Sequence[Event[Any]]) -> None:
    """Publish ``events`` keyed by aggregate id, all to partition 0, so the test controls their order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic,
                event.model_dump_json().encode(),
                key=str(event.aggregate_id).encode(),
                headers=[(name, value.encode()) for name, value in event.headers().items()],
                partition=0,
            )
    finally:
        await producer.stop()


def envelope(aggregate_id: uuid.UUID, version: int, producer: str) -> dict[str, Any]:
    return {
        "producer": producer,
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "correlation_id": str(uuid.uuid4()),
        "actor": ACTOR,
    }


def deal(
    title: str,
    *,
    deal_id: uuid.UUID | None = None,
    version: int = 1,
    department: str | None = "sales",
    owner_id: str | None = "u-owner",
    workgroup: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    contact_email: str | None = None,
    deleted: bool = False,
    request_id: uuid.UUID | None = None,
) -> DealCreated | DealUpdated:
    deal_id = deal_id or uuid.uuid4()
    state = DealState(
        id=deal_id,
        title=title,
        pipeline_id=PIPELINE_ID,
        stage_id=STAGE_ID,
        stage_name="New",
        owner_id=owner_id,
        department=department,
        workgroup=workgroup,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        source=DealSource(kind="channel", request_id=request_id) if request_id else DealSource(kind="manual"),
        deleted=deleted,
    )
    event_class = DealCreated if version == 1 else DealUpdated
    return event_class(data=DealChange(deal=state), **envelope(deal_id, version, "crm"))


def contact(name: str, *, phones: list[str], emails: list[str], department: str = "sales") -> ContactCreated:
    contact_id = uuid.uuid4()
    state = ContactState(id=contact_id, name=name, phones=phones, emails=emails, department=department)
    return ContactCreated(data=state, **envelope(contact_id, 1, "crm"))


def company(name: str, *, department: str = "sales", workgroup: str | None = None) -> CompanyCreated:
    company_id = uuid.uuid4()
    state = CompanyState(id=company_id, name=name, department=department, workgroup=workgroup)
    return CompanyCreated(data=state, **envelope(company_id, 1, "crm"))


def legal_entity(
    legal_name: str, tax_id: str, *, is_own: bool = False, company_id: uuid.UUID | None = None
) -> LegalEntityCreated:
    entity_id = uuid.uuid4()
    state = LegalEntityState(id=entity_id, legal_name=legal_name, tax_id=tax_id, is_own=is_own, company_id=company_id)
    return LegalEntityCreated(data=state, **envelope(entity_id, 1, "crm"))


def task(
    title: str,
    *,
    owner_id: str,
    creator_id: str = "u-creator",
    observers: list[str] | None = None,
    deal_id: uuid.UUID | None = None,
    department: str | None = None,
    workgroup: str | None = None,
) -> TaskCreated:
    task_id = uuid.uuid4()
    state = TaskState(
        id=task_id,
        title=title,
        creator_id=creator_id,
        owner_id=owner_id,
        observer_ids=observers or [],
        department=department,
        workgroup=workgroup,
        client=ClientReference(deal_id=deal_id),
    )
    return TaskCreated(data=TaskChange(task=state), **envelope(task_id, 1, "tasks"))


def document(title: str, *, department: str = "sales") -> DocumentCreated:
    document_id = uuid.uuid4()
    state = DocumentState(id=document_id, kind="contract", title=title, department=department)
    return DocumentCreated(data=DocumentChange(document=state), **envelope(document_id, 1, "documents"))


def channel_message(
    title: str, message: str, *, owner_id: str, source: Literal["channel", "email", "form"] = "channel"
) -> RequestAccepted:
    request_id = uuid.uuid4()
    request = IntakeRequest(
        id=request_id,
        received_at=datetime.now(UTC),
        source=source,
        channel="telegram" if source == "channel" else None,
        title=title,
        message=message,
        contact=InquiryContact(name="Пётр Иванов"),
        owner_id=owner_id,
    )
    return RequestAccepted(data=request, **envelope(request_id, 1, "intake"))

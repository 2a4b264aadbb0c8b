"""Builders of the CRM, tasks and documents events that the extranet consumes, and a fake file server."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiokafka import AIOKafkaProducer

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
)
from contracts.documents import (
    DocumentChange,
    DocumentCreated,
    DocumentState,
    DocumentUpdated,
    FileCreated,
    FileState,
    FileUpdated,
    VersionState,
)
from contracts.envelope import Actor, ActorType, Event
from contracts.tasks import ClientReference, TaskChange, TaskCreated, TaskResult, TaskState, TaskStatus, TaskUpdated

PIPELINE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f0001")
STAGE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1001")
ACTOR = Actor(type=ActorType.USER, id="u-test")


def _envelope(producer: str, aggregate_id: uuid.UUID, version: int) -> dict[str, Any]:
    return {
        "producer": producer,
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "correlation_id": str(uuid.uuid4()),
        "actor": ACTOR,
    }


def company_event(company_id: uuid.UUID, name: str, department: str | None = "sales") -> CompanyCreated:
    state = CompanyState(id=company_id, name=name, department=department)
    return CompanyCreated(**_envelope("crm", company_id, 1), data=state)


def contact_event(contact_id: uuid.UUID, company_id: uuid.UUID, name: str = "Anna") -> ContactCreated:
    state = ContactState(id=contact_id, company_id=company_id, name=name, emails=["anna@client.example"])
    return ContactCreated(**_envelope("crm", contact_id, 1), data=state)


def deal_event(
    deal_id: uuid.UUID,
    company_id: uuid.UUID | None,
    *,
    version: int = 1,
    title: str = "Website redesign",
    stage_name: str = "Proposal",
    amount: Decimal | None = Decimal("1200.00"),
    pipeline_id: uuid.UUID = PIPELINE_ID,
    contact_name: str | None = "Internal contact name",
) -> DealCreated | DealUpdated:
    state = DealState(
        id=deal_id,
        title=title,
        pipeline_id=pipeline_id,
        stage_id=STAGE_ID,
        stage_name=stage_name,
        amount=amount,
        currency="EUR" if amount is not None else None,
        owner_id="u-owner",
        department="sales",
        company_id=company_id,
        contact_name=contact_name,
        source=DealSource(kind="manual"),
    )
    event_class = DealCreated if version == 1 else DealUpdated
    return event_class(**_envelope("crm", deal_id, version), data=DealChange(deal=state, changed=["stage_name"]))


def task_event(
    task_id: uuid.UUID,
    company_id: uuid.UUID | None,
    *,
    version: int = 1,
    visible_to_client: bool = True,
    title: str = "Prepare the mock-ups",
    status: TaskStatus = "in_progress",
    public_text: str | None = None,
    internal_text: str = "INTERNAL result note",
    description: str = "INTERNAL task description",
) -> TaskCreated | TaskUpdated:
    state = TaskState(
        id=task_id,
        title=title,
        description=description,
        creator_id="u-1",
        owner_id="u-1",
        due_at=datetime(2027, 1, 15, 12, 0, tzinfo=UTC),
        expected_result="INTERNAL expected result",
        status=status,
        result=TaskResult(text=internal_text, public_text=public_text),
        client=ClientReference(company_id=company_id),
        visible_to_client=visible_to_client,
    )
    event_class = TaskCreated if version == 1 else TaskUpdated
    return event_class(**_envelope("tasks", task_id, version), data=TaskChange(task=state, changed=["status"]))


def version_state(version_id: uuid.UUID, number: int, file_name: str) -> VersionState:
    return VersionState(
        id=version_id,
        number=number,
        author_id="u-1",
        uploaded_at=datetime(2026, 12, 1, tzinfo=UTC),
        size=100 + number,
        media_type="application/pdf",
        sha256=hashlib.sha256(file_name.encode()).hexdigest(),
        file_name=file_name,
        internal_findings=["INTERNAL comment on page 2"],
    )


def document_event(
    document_id: uuid.UUID,
    company_id: uuid.UUID | None,
    versions: list[VersionState],
    published: list[uuid.UUID],
    *,
    version: int = 1,
    title: str = "Contract",
) -> DocumentCreated | DocumentUpdated:
    state = DocumentState(
        id=document_id,
        kind="contract",
        title=title,
        company_id=company_id,
        versions=versions,
        published_version_ids=published,
    )
    event_class = DocumentCreated if version == 1 else DocumentUpdated
    change = DocumentChange(document=state, changed=["published_version_ids"])
    return event_class(**_envelope("documents", document_id, version), data=change)


def file_event(
    file_id: uuid.UUID,
    company_id: uuid.UUID | None,
    *,
    version: int = 1,
    shared: bool = True,
    file_name: str = "brief.pdf",
) -> FileCreated | FileUpdated:
    state = FileState(
        id=file_id,
        file_name=file_name,
        size=42,
        media_type="application/pdf",
        sha256=hashlib.sha256(file_name.encode()).hexdigest(),
        company_id=company_id,
        shared_with_client=shared,
    )
    event_class = FileCreated if version == 1 else FileUpdated
    return event_class(**_envelope("documents", file_id, version), data=state)


async def publish(bootstrap_servers: str, topic: str, events: list[Event[Any]]) -> None:
    """Publish events as their producing service does: JSON body, aggregate id as key, contract headers."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            headers = [(name, value.encode()) for name, value in event.headers().items()]
            await producer.send_and_wait(
                topic, event.model_dump_json().encode(), key=str(event.aggregate_id).encode(), headers=headers
            )
    finally:
        await producer.stop()


class FakeDocuments:
    """Serves ``GET /versions/{id}/content`` and ``GET /files/{id}/content`` on 127.0.0.1, as documents will."""

    def __init__(self) -> None:
        self.contents: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []

    def add(self, kind: str, object_id: uuid.UUID, content: bytes) -> None:
        self.contents[f"/{kind}/{object_id}/content"] = content

    @contextmanager
    def serve(self) -> Iterator[str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                fake.requests.append((self.path, authorization))
                content = fake.contents.get(self.path)
                if authorization is None or not authorization.startswith("Bearer "):
                    self.send_response(401)
                    content = b""
                elif content is None:
                    self.send_response(404)
                    content = b""
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()

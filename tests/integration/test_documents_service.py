"""The documents service on real PostgreSQL and Kafka: CRM facts arrive as events, documents go out as events.

The HTTP app runs in process with its whole lifespan (migrations, consumers, outbox relay); CRM's events
are published to the crm topics with aiokafka, as CRM would.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.crm import (
    CompanyCreated,
    CompanyState,
    DealChange,
    DealCreated,
    DealSource,
    DealState,
    LegalEntityCreated,
    LegalEntityState,
)
from contracts.envelope import Actor, ActorType, Event
from contracts.topics import Topic
from servicekit.auth import issue_token
from servicekit.db import OutboxMessage
from servicekit.service import ServiceRuntime
from servicekit.settings import DEVELOPMENT_JWT_KEY
from services.documents.bootstrap import create_app
from services.documents.settings import DocumentsSettings
from services.documents.tables import CompanyReference, DealReference, DocumentVersion, LegalEntityReference
from tests.conftest import Servers
from tests.documents_samples import DOCX_TYPE, PDF_TYPE, XLSX_TYPE, docx, pdf, xlsx
from tests.support import eventually, read_topic, topic_message_count

pytestmark = pytest.mark.integration

MAX_UPLOAD = 4 * 1024 * 1024
PIPELINE = uuid.uuid4()
STAGE = uuid.uuid4()


@dataclass
class Harness:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    files_dir: Path
    kafka: str

    def topic(self, name: str) -> str:
        return self.runtime.topic(name)


@dataclass(frozen=True)
class Client:
    """CRM facts of one client: company, its legal entity, our legal entity and the deal."""

    company_id: uuid.UUID
    client_entity_id: uuid.UUID
    our_entity_id: uuid.UUID
    deal_id: uuid.UUID


def bearer(user: str = "u-sales", department: str | None = "sales", *roles: str) -> dict[str, str]:
    token = issue_token(DEVELOPMENT_JWT_KEY, user, name=user, department=department, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


SALES = bearer()
LAWYER = bearer("u-lawyer", "legal", "lawyer")
OUTSIDER = bearer("u-support", "support")


@pytest.fixture
async def service(servers: Servers, database_url: str, topic_prefix: str, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = DocumentsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=topic_prefix,
        data_dir=tmp_path,
        max_upload_bytes=MAX_UPLOAD,
        max_unpacked_bytes=1024 * 1024,
        environment="test",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://documents", timeout=30) as client:
            yield Harness(client, app.state.runtime, settings.file_store_dir, servers.kafka)


async def publish(harness: Harness, topic: str, events: list[Event[Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=harness.kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                harness.topic(topic), event.model_dump_json().encode(), key=str(event.aggregate_id).encode()
            )
    finally:
        await producer.stop()


def _envelope(event_class: Any, aggregate_id: uuid.UUID, data: Any) -> Event[Any]:
    event: Event[Any] = event_class(
        producer="crm",
        aggregate_id=aggregate_id,
        aggregate_version=1,
        correlation_id=str(uuid.uuid4()),
        actor=Actor(type=ActorType.USER, id="u-crm"),
        data=data,
    )
    return event


async def crm_client(
    harness: Harness,
    *,
    deal_department: str = "sales",
    deal_client_entity: uuid.UUID | None = None,
    deal_our_entity: uuid.UUID | None = None,
) -> Client:
    """Publish a company, its legal entity, our legal entity and a deal, and wait until all are projected."""
    facts = Client(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    company = CompanyState(
        id=facts.company_id, name="Romashka", owner_id="u-sales", department="sales", email_domains=["romashka.example"]
    )
    client_entity = LegalEntityState(id=facts.client_entity_id, company_id=facts.company_id, legal_name="OOO Romashka")
    our_entity = LegalEntityState(id=facts.our_entity_id, is_own=True, legal_name="Our GmbH")
    deal = DealState(
        id=facts.deal_id,
        title="Supply 2027",
        pipeline_id=PIPELINE,
        stage_id=STAGE,
        stage_name="New",
        owner_id="u-boss" if deal_department != "sales" else "u-sales",
        department=deal_department,
        company_id=facts.company_id,
        source=DealSource(kind="manual"),
        client_legal_entity_id=deal_client_entity or facts.client_entity_id,
        our_legal_entity_id=deal_our_entity or facts.our_entity_id,
    )
    await publish(harness, Topic.CRM_COMPANIES, [_envelope(CompanyCreated, company.id, company)])
    await publish(
        harness,
        Topic.CRM_LEGAL_ENTITIES,
        [
            _envelope(LegalEntityCreated, client_entity.id, client_entity),
            _envelope(LegalEntityCreated, our_entity.id, our_entity),
        ],
    )
    await publish(harness, Topic.CRM_DEALS, [_envelope(DealCreated, deal.id, DealChange(deal=deal))])

    async def projected() -> bool:
        async with harness.runtime.sessionmaker() as session:
            return all(
                [
                    await session.get(CompanyReference, facts.company_id),
                    await session.get(LegalEntityReference, facts.client_entity_id),
                    await session.get(LegalEntityReference, facts.our_entity_id),
                    await session.get(DealReference, facts.deal_id),
                ]
            )

    await eventually(projected, timeout=60)
    return facts


async def create_document(harness: Harness, facts: Client, headers: dict[str, str] = SALES) -> dict[str, Any]:
    response = await harness.client.post(
        "/documents",
        json={
            "kind": "contract",
            "title": "Supply contract",
            "number": "D-12",
            "company_id": str(facts.company_id),
            "client_legal_entity_id": str(facts.client_entity_id),
            "our_legal_entity_id": str(facts.our_entity_id),
            "deal_id": str(facts.deal_id),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def upload(
    harness: Harness, document_id: str, content: bytes, media_type: str, name: str = "contract.docx"
) -> httpx.Response:
    return await harness.client.post(
        f"/documents/{document_id}/versions",
        params={"file_name": name},
        content=content,
        headers={**SALES, "Content-Type": media_type},
    )


async def mark_final(harness: Harness, document_id: str, version_id: str) -> None:
    response = await harness.client.put(
        f"/documents/{document_id}/final", json={"version_id": version_id}, headers=SALES
    )
    assert response.status_code == 200, response.text


async def outbox_rows(harness: Harness) -> int:
    async with harness.runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def relay_drained(harness: Harness) -> bool:
    async with harness.runtime.sessionmaker() as session:
        pending = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
    return pending == 0


def stored_blobs(harness: Harness) -> list[Path]:
    return [path for path in harness.files_dir.rglob("*") if path.is_file() and path.parent.name != "tmp"]


def staging_files(harness: Harness) -> list[Path]:
    staging = harness.files_dir / "tmp"
    return list(staging.iterdir()) if staging.exists() else []


async def test_passing_send_is_recorded_and_published(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)
    assert document["links"]["deal"] == {
        "id": str(facts.deal_id),
        "status": "ok",
        "name": "Supply 2027",
        "reason": None,
        "owner": None,
    }

    uploaded = await upload(service, document["id"], docx(), DOCX_TYPE)
    assert uploaded.status_code == 201, uploaded.text
    version = uploaded.json()
    assert version["findings"] == []
    await mark_final(service, document["id"], version["id"])

    recipient = {"recipient_company_id": str(facts.company_id), "recipient_email": "anna@romashka.example"}
    check = await service.client.post(
        f"/documents/{document['id']}/versions/{version['id']}/check", json=recipient, headers=SALES
    )
    assert check.json() == {"passed": True, "problems": []}

    sent = await service.client.post(
        f"/documents/{document['id']}/versions/{version['id']}/send", json=recipient, headers=SALES
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["channel"] == "email"
    published = await service.client.post(
        f"/documents/{document['id']}/versions/{version['id']}/publish",
        json={"recipient_company_id": str(facts.company_id)},
        headers=SALES,
    )
    assert published.status_code == 201, published.text

    # created, version uploaded, marked final, sent, published: five events with the full state.
    records = await read_topic(service.kafka, service.topic(Topic.DOCUMENTS_DOCUMENTS), expected=5, timeout=60)
    events = [json.loads(record.value) for record in records]
    assert [event["aggregate_version"] for event in events] == [1, 2, 3, 4, 5]
    assert [event["event_type"] for event in events] == ["documents.document.created"] + [
        "documents.document.updated"
    ] * 4
    assert {record.key for record in records} == {document["id"].encode()}
    last = events[-1]["data"]["document"]
    assert last["company_id"] == str(facts.company_id)
    assert last["deal_id"] == str(facts.deal_id)
    assert last["final_version_id"] == version["id"]
    assert last["published_version_ids"] == [version["id"]]
    assert [send["channel"] for send in last["sends"]] == ["email", "portal"]
    assert last["versions"][0]["sha256"] == hashlib.sha256(docx()).hexdigest()
    assert events[-1]["data"]["changed"] == ["sends", "published_version_ids"]
    assert all(len(record.value) < 20_000 for record in records)


async def test_failed_send_publishes_nothing(service: Harness) -> None:
    facts = await crm_client(service, deal_client_entity=uuid.uuid4(), deal_our_entity=uuid.uuid4())
    document = await create_document(service, facts)
    first = (await upload(service, document["id"], docx(), DOCX_TYPE)).json()
    await mark_final(service, document["id"], first["id"])
    draft = (await upload(service, document["id"], docx(comment_on=2, insertion_in=1), DOCX_TYPE)).json()
    assert [finding["location"] for finding in draft["findings"]] == ["paragraph 1", "paragraph 2"]

    await eventually(lambda: relay_drained(service))
    rows_before = await outbox_rows(service)
    messages_before = await topic_message_count(service.kafka, service.topic(Topic.DOCUMENTS_DOCUMENTS))
    assert messages_before == 4

    recipient = {"recipient_company_id": str(uuid.uuid4()), "recipient_email": "anna@gmail.example"}
    url = f"/documents/{document['id']}/versions/{draft['id']}"
    refused = await service.client.post(f"{url}/send", json=recipient, headers=SALES)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "check_failed"
    assert sorted(problem["code"] for problem in body["problems"]) == [
        "client_legal_entity_not_deal",
        "email_domain_unknown",
        "internal_marks_inside",
        "our_legal_entity_not_deal",
        "recipient_company_mismatch",
        "version_not_final",
    ]

    portal = await service.client.post(
        f"{url}/publish", json={"recipient_company_id": recipient["recipient_company_id"]}, headers=SALES
    )
    assert portal.status_code == 409
    not_allowed = await service.client.post(
        f"{url}/send", json={**recipient, "override_reason": "client asked for the draft"}, headers=SALES
    )
    assert not_allowed.status_code == 409
    assert not_allowed.json()["reason"] == "overriding a failed check needs the override_check right"

    assert await outbox_rows(service) == rows_before
    assert await topic_message_count(service.kafka, service.topic(Topic.DOCUMENTS_DOCUMENTS)) == messages_before
    shown = (await service.client.get(f"/documents/{document['id']}", headers=SALES)).json()
    assert shown["sends"] == []
    assert shown["published_version_ids"] == []


async def test_override_is_recorded(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)
    draft = (await upload(service, document["id"], pdf(annotations={2: ["Text"]}), PDF_TYPE, "offer.pdf")).json()
    assert draft["internal_findings"] == ["Text annotation on page 2 by Olga"]

    url = f"/documents/{document['id']}/versions/{draft['id']}/publish"
    request = {"recipient_company_id": str(facts.company_id), "override_reason": "client asked to see the notes"}
    published = await service.client.post(url, json=request, headers=LAWYER)

    assert published.status_code == 201, published.text
    send = published.json()
    assert send["override_reason"] == "client asked to see the notes"
    assert sorted(problem["code"] for problem in send["problems"]) == ["internal_marks_inside", "version_not_final"]
    assert send["sent_by"] == "u-lawyer"


async def test_upload_limits_leave_nothing(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)
    rows_after_create = await outbox_rows(service)
    url = f"/documents/{document['id']}/versions"

    too_large = await service.client.post(
        url,
        params={"file_name": "big.png"},
        content=b"x" * (MAX_UPLOAD + 1),
        headers={**SALES, "Content-Type": "image/png"},
    )
    assert too_large.status_code == 413
    assert too_large.json()["max_bytes"] == MAX_UPLOAD
    assert f"upload limit of {MAX_UPLOAD} bytes (4.0 MiB)" in too_large.json()["message"]

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield b"y" * 65536

    streamed = await service.client.post(
        url, params={"file_name": "big.png"}, content=endless(), headers={**SALES, "Content-Type": "image/png"}
    )
    assert streamed.status_code == 413

    wrong_type = await service.client.post(
        url,
        params={"file_name": "run.exe"},
        content=b"MZ",
        headers={**SALES, "Content-Type": "application/x-msdownload"},
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["media_type"] == "application/x-msdownload"
    assert "application/pdf" in wrong_type.json()["allowed"]
    assert "media type application/x-msdownload is not allowed" in wrong_type.json()["message"]

    fake_docx = await upload(service, document["id"], b"not a zip", DOCX_TYPE)
    assert fake_docx.status_code == 415
    assert "not a ZIP archive" in fake_docx.json()["message"]

    bomb = await upload(
        service, document["id"], docx(extra_parts={"word/pad.bin": b"\0" * (2 * 1024 * 1024)}), DOCX_TYPE
    )
    assert bomb.status_code == 422
    assert bomb.json()["code"] == "file_not_inspectable"

    empty = await upload(service, document["id"], b"", DOCX_TYPE)
    assert empty.status_code == 422
    bad_name = await upload(service, document["id"], docx(), DOCX_TYPE, name="../../etc/passwd")
    assert bad_name.status_code == 422
    assert bad_name.json()["field"] == "file_name"

    assert stored_blobs(service) == []
    assert staging_files(service) == []
    assert await outbox_rows(service) == rows_after_create
    async with service.runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(DocumentVersion)) == 0


async def test_download_returns_exact_bytes_once_stored(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)
    content = os.urandom(3 * 1024 * 1024 + 17)

    version = (await upload(service, document["id"], content, "image/png", "scan.png")).json()
    again = (await upload(service, document["id"], content, "image/png", "scan-copy.png")).json()
    file = await service.client.post(
        "/files",
        params={"file_name": "scan.png", "company_id": str(facts.company_id)},
        content=content,
        headers={**SALES, "Content-Type": "image/png"},
    )
    assert file.status_code == 201, file.text

    downloaded = await service.client.get(
        f"/documents/{document['id']}/versions/{version['id']}/content", headers=SALES
    )
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(content).hexdigest()
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.headers["etag"] == f'"{version["sha256"]}"'
    assert "filename*=UTF-8''scan.png" in downloaded.headers["content-disposition"]
    file_download = await service.client.get(f"/files/{file.json()['id']}/content", headers=SALES)
    assert file_download.content == content

    # The extranet requests by version id alone, with a service token of another department.
    portal_service = bearer("service:extranet", None, "service")
    by_id = await service.client.get(f"/versions/{version['id']}/content", headers=portal_service)
    assert by_id.status_code == 200
    assert by_id.content == content
    outsider = await service.client.get(f"/versions/{version['id']}/content", headers=bearer("u-x", "support"))
    assert outsider.status_code == 403
    missing = await service.client.get(f"/versions/{uuid.uuid4()}/content", headers=portal_service)
    assert missing.status_code == 404

    assert version["sha256"] == again["sha256"] == file.json()["sha256"]
    assert [path.name for path in stored_blobs(service)] == [version["sha256"]]


async def test_inspection_through_upload(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)

    sheet = (await upload(service, document["id"], xlsx(comment_cell="B1"), XLSX_TYPE, "prices.xlsx")).json()
    clean = (await upload(service, document["id"], xlsx(), XLSX_TYPE, "prices.xlsx")).json()
    marked = (await upload(service, document["id"], docx(deletion_in=2), DOCX_TYPE)).json()

    assert sheet["internal_findings"] == ["comment in xl/comments1.xml, sheet 'Prices' cell B1 by Ivan"]
    assert clean["internal_findings"] == []
    assert marked["internal_findings"] == ["tracked deletion in word/document.xml, paragraph 2 by Ivan"]
    assert [sheet["number"], clean["number"], marked["number"]] == [1, 2, 3]


async def test_access_restricted_with_owner(service: Harness) -> None:
    facts = await crm_client(service, deal_department="board")
    admin = bearer("u-admin", "sales", "admin")

    refused = await service.client.post(
        "/documents", json={"kind": "act", "title": "Act", "deal_id": str(facts.deal_id)}, headers=SALES
    )
    assert refused.status_code == 403
    assert refused.json()["owner"] == "u-boss"

    document = await create_document(service, facts, headers=admin)
    seen_by_sales = (await service.client.get(f"/documents/{document['id']}", headers=SALES)).json()
    assert seen_by_sales["links"]["deal"]["status"] == "restricted"
    assert seen_by_sales["links"]["deal"]["name"] is None
    assert seen_by_sales["links"]["deal"]["owner"] == "u-boss"
    assert seen_by_sales["links"]["company"]["status"] == "ok"

    outsider = await service.client.get(f"/documents/{document['id']}", headers=OUTSIDER)
    assert outsider.status_code == 403
    assert outsider.json()["status"] == "restricted"
    assert outsider.json()["owner"] == "u-admin"
    listed = await service.client.get("/documents", params={"company_id": str(facts.company_id)}, headers=OUTSIDER)
    assert listed.json() == {"items": []}

    unauthenticated = await service.client.get(f"/documents/{document['id']}")
    assert unauthenticated.status_code == 401


async def test_file_events_carry_client(service: Harness) -> None:
    facts = await crm_client(service)
    created = await service.client.post(
        "/files",
        params={"file_name": "brief.txt", "company_id": str(facts.company_id), "deal_id": str(facts.deal_id)},
        content="Бриф клиента".encode(),
        headers={**SALES, "Content-Type": "text/plain; charset=utf-8"},
    )
    assert created.status_code == 201, created.text
    file_id = created.json()["id"]
    shared = await service.client.patch(f"/files/{file_id}", json={"shared_with_client": True}, headers=SALES)
    assert shared.json()["shared_with_client"] is True
    deleted = await service.client.delete(f"/files/{file_id}", headers=SALES)
    assert deleted.status_code == 204

    records = await read_topic(service.kafka, service.topic(Topic.DOCUMENTS_FILES), expected=3, timeout=60)
    events = [json.loads(record.value) for record in records]
    assert [event["event_type"] for event in events] == [
        "documents.file.created",
        "documents.file.updated",
        "documents.file.updated",
    ]
    assert [event["aggregate_version"] for event in events] == [1, 2, 3]
    assert {event["data"]["company_id"] for event in events} == {str(facts.company_id)}
    assert [event["data"]["deleted"] for event in events] == [False, False, True]
    assert events[0]["data"]["media_type"] == "text/plain"


async def test_final_mark_and_comments(service: Harness) -> None:
    facts = await crm_client(service)
    document = await create_document(service, facts)
    first = (await upload(service, document["id"], docx(), DOCX_TYPE)).json()
    await mark_final(service, document["id"], first["id"])
    second = (await upload(service, document["id"], docx(["Новая редакция"]), DOCX_TYPE)).json()

    shown = (await service.client.get(f"/documents/{document['id']}", headers=SALES)).json()
    assert shown["final_version_id"] == first["id"]
    assert [version["number"] for version in shown["versions"]] == [1, 2]

    await mark_final(service, document["id"], second["id"])
    shown = (await service.client.get(f"/documents/{document['id']}", headers=SALES)).json()
    assert shown["final_version_id"] == second["id"]

    cleared = await service.client.put(f"/documents/{document['id']}/final", json={"version_id": None}, headers=SALES)
    assert cleared.json()["final_version_id"] is None

    internal = await service.client.post(
        f"/documents/{document['id']}/comments",
        json={"body": "Margin is 40%", "visibility": "internal", "version_id": first["id"]},
        headers=SALES,
    )
    external = await service.client.post(
        f"/documents/{document['id']}/comments", json={"body": "Please sign", "visibility": "external"}, headers=SALES
    )
    invalid = await service.client.post(
        f"/documents/{document['id']}/comments", json={"body": "?", "visibility": "secret"}, headers=SALES
    )
    assert internal.status_code == 201
    assert external.status_code == 201
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "body.visibility"

    shown = (await service.client.get(f"/documents/{document['id']}", headers=SALES)).json()
    assert [(comment["visibility"], comment["body"]) for comment in shown["comments"]] == [
        ("internal", "Margin is 40%"),
        ("external", "Please sign"),
    ]
    assert shown["comments"][0]["version_id"] == first["id"]

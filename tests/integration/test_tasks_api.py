"""The tasks HTTP API in process on real PostgreSQL; CRM events enter through the same inbox the consumers use."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts.crm import CompanyCreated, CompanyUpdated, ContactCreated, ContactUpdated, DealCreated, DealUpdated
from contracts.topics import Topic
from servicekit.db import OutboxMessage
from servicekit.migrations import migrate
from servicekit.service import ServiceRuntime
from services.tasks.bootstrap import create_app
from services.tasks.projections import project_company, project_contact, project_deal
from services.tasks.settings import TasksSettings
from tests.conftest import Servers
from tests.tasks_support import JWT_KEY, bearer, company_event, contact_event, deal_event, ids

pytestmark = pytest.mark.integration

CREATOR = bearer("u-creator", department="sales")
OWNER = bearer("u-owner", department="sales")
ADMIN = bearer("u-admin", roles=["admin"])


@dataclass
class TasksApi:
    http: httpx.AsyncClient
    runtime: ServiceRuntime

    async def apply(
        self, event: DealCreated | DealUpdated | CompanyCreated | CompanyUpdated | ContactCreated | ContactUpdated
    ) -> bool:
        """Apply a CRM event as the service's consumer would; return False if the inbox skipped it."""
        settings = self.runtime.settings
        if isinstance(event, DealCreated | DealUpdated):
            topic, projection = Topic.CRM_DEALS, "deals"

            async def handler(session: Any) -> None:
                await project_deal(session, settings, event)
        elif isinstance(event, CompanyCreated | CompanyUpdated):
            topic, projection = Topic.CRM_COMPANIES, "companies"

            async def handler(session: Any) -> None:
                await project_company(session, event)
        else:
            topic, projection = Topic.CRM_CONTACTS, "contacts"

            async def handler(session: Any) -> None:
                await project_contact(session, settings, event)

        return await self.runtime.inbox.apply(event, self.runtime.topic(topic), handler, projection=projection)

    async def create(self, headers: dict[str, str], **body: Any) -> httpx.Response:
        body.setdefault("title", "Prepare the proposal")
        return await self.http.post("/tasks", json=body, headers=headers)

    async def events(self, task_id: str) -> list[dict[str, Any]]:
        """Return the task's events recorded in the outbox, oldest first."""
        async with self.runtime.sessionmaker() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == task_id).order_by(OutboxMessage.id)
            )
            return [json.loads(row.payload) for row in rows]


@pytest.fixture
async def api(servers: Servers, database_url: str, topic_prefix: str) -> AsyncIterator[TasksApi]:
    settings = TasksSettings(
        database_url=database_url,
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=topic_prefix,
        jwt_secret_key=JWT_KEY,
        environment="test",
    )
    app = create_app(settings)
    runtime: ServiceRuntime = app.state.runtime
    await migrate(runtime.engine, runtime.migrations)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tasks") as client:
        yield TasksApi(client, runtime)
    await runtime.engine.dispose()


@dataclass
class Client:
    deal_id: uuid.UUID
    company_id: uuid.UUID
    contact_id: uuid.UUID
    project_id: uuid.UUID


async def seed_deal(api: TasksApi, **deal: Any) -> Client:
    """Project a company, its contact and a deal of theirs with a project."""
    client = Client(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    assert await api.apply(company_event(client.company_id))
    assert await api.apply(contact_event(client.contact_id, company_id=client.company_id))
    deal.setdefault("company_id", client.company_id)
    deal.setdefault("contact_ids", [client.contact_id])
    deal.setdefault("project_id", client.project_id)
    assert await api.apply(deal_event(client.deal_id, 1, **deal))
    return client


# --- the client reference ---------------------------------------------------------------------------


async def test_deal_alone_sets_client(api: TasksApi) -> None:
    client = await seed_deal(api)

    response = await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")

    assert response.status_code == 201, response.text
    task = response.json()
    assert ids(task) == {
        "deal": str(client.deal_id),
        "company": str(client.company_id),
        "contact": str(client.contact_id),
        "project": str(client.project_id),
    }
    assert task["status"] == "new"
    assert task["version"] == 1
    assert task["result_required"] is True
    [event] = await api.events(task["id"])
    assert event["event_type"] == "tasks.task.created"
    assert event["aggregate_version"] == 1
    assert event["data"]["task"]["client"] == {
        "company_id": str(client.company_id),
        "contact_id": str(client.contact_id),
        "project_id": str(client.project_id),
        "deal_id": str(client.deal_id),
    }
    assert event["data"]["task"]["owner_id"] == "u-owner"


@pytest.mark.parametrize("field", ["company_id", "contact_id", "project_id"])
async def test_deal_and_client_disagree(api: TasksApi, field: str) -> None:
    client = await seed_deal(api)
    other = uuid.uuid4()
    if field == "company_id":
        await api.apply(company_event(other, name="Other company"))
    if field == "contact_id":
        await api.apply(contact_event(other, name="Other contact"))

    response = await api.create(CREATOR, client={"deal_id": str(client.deal_id), field: str(other)})

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "client_mismatch"
    assert body["field"] == f"client.{field}"
    assert str(client.deal_id) in body["message"]
    assert str(other) in body["message"]


async def test_deal_and_company_disagree_names_both(api: TasksApi) -> None:
    client = await seed_deal(api)
    other_company = uuid.uuid4()
    await api.apply(company_event(other_company, name="Other company"))

    response = await api.create(CREATOR, client={"deal_id": str(client.deal_id), "company_id": str(other_company)})

    assert response.status_code == 422
    assert response.json()["message"] == (
        f"deal {client.deal_id} belongs to company {client.company_id}, but the request names company {other_company}"
    )


async def test_contact_alone_sets_company(api: TasksApi) -> None:
    client = await seed_deal(api)

    response = await api.create(CREATOR, client={"contact_id": str(client.contact_id)})

    assert response.status_code == 201, response.text
    assert ids(response.json()) == {
        "deal": None,
        "company": str(client.company_id),
        "contact": str(client.contact_id),
        "project": None,
    }
    assert response.json()["result_required"] is False


async def test_contact_of_other_company_rejected(api: TasksApi) -> None:
    client = await seed_deal(api)
    other_company = uuid.uuid4()
    await api.apply(company_event(other_company))

    response = await api.create(
        CREATOR, client={"contact_id": str(client.contact_id), "company_id": str(other_company)}
    )

    assert response.status_code == 422
    assert str(client.company_id) in response.json()["message"]
    assert str(other_company) in response.json()["message"]


async def test_unknown_deal_rejected(api: TasksApi) -> None:
    deal_id = uuid.uuid4()

    response = await api.create(CREATOR, client={"deal_id": str(deal_id)})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unknown_deal"
    assert body["field"] == "client.deal_id"
    assert body["message"].startswith(f"unknown deal {deal_id}")
    assert "retry" in body["message"]


async def test_unknown_company_rejected(api: TasksApi) -> None:
    response = await api.create(CREATOR, client={"company_id": str(uuid.uuid4())})

    assert response.status_code == 422
    assert response.json()["code"] == "unknown_company"


async def test_deleted_deal_rejected(api: TasksApi) -> None:
    deal_id = uuid.uuid4()
    await api.apply(deal_event(deal_id, 1))
    await api.apply(deal_event(deal_id, 2, deleted=True))

    response = await api.create(CREATOR, client={"deal_id": str(deal_id)})

    assert response.status_code == 422
    assert response.json()["code"] == "deleted_deal"


async def test_linking_hidden_deal_is_restricted(api: TasksApi) -> None:
    client = await seed_deal(api, department="sales", owner_id="u-deal-owner")

    response = await api.create(bearer("u-x", department="ops"), client={"deal_id": str(client.deal_id)})

    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "restricted"
    assert body["owner"] == "u-deal-owner"
    assert "Website redesign" not in response.text


@pytest.mark.parametrize("kind", ["company", "contact"])
async def test_linking_hidden_client_is_restricted(api: TasksApi, kind: str) -> None:
    company_id, contact_id = uuid.uuid4(), uuid.uuid4()
    await api.apply(company_event(company_id, owner_id="u-account", department="sales"))
    await api.apply(contact_event(contact_id, company_id=company_id, owner_id="u-account", department="sales"))
    record_id = company_id if kind == "company" else contact_id

    hidden = await api.create(bearer("u-x", department="ops"), client={f"{kind}_id": str(record_id)})
    through_workgroup = await api.create(
        bearer("u-y", department="ops", workgroups=["wg-acc"]), client={f"{kind}_id": str(record_id)}
    )

    assert hidden.status_code == 403
    assert hidden.json()["status"] == "restricted"
    assert hidden.json()["owner"] == "u-account"
    assert hidden.json()["field"] == f"client.{kind}_id"
    assert "Ромашка" not in hidden.text
    assert through_workgroup.status_code == 403


async def test_contact_readable_through_company(api: TasksApi) -> None:
    company_id, contact_id = uuid.uuid4(), uuid.uuid4()
    await api.apply(company_event(company_id, owner_id="u-account", department="ops"))
    await api.apply(contact_event(contact_id, company_id=company_id, owner_id=None, department=None))

    response = await api.create(bearer("u-x", department="ops"), client={"contact_id": str(contact_id)})

    assert response.status_code == 201, response.text
    assert response.json()["client"]["contact"]["status"] == "available"


# --- status machine and result ----------------------------------------------------------------------


async def test_complete_without_result_rejected(api: TasksApi) -> None:
    client = await seed_deal(api)
    task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")).json()

    for body in (None, {"result": None}, {"result": {"text": "   "}}):
        response = await api.http.post(f"/tasks/{task['id']}/complete", json=body, headers=OWNER)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["code"] == "result_required"
        assert error["field"] == "result"
        assert error["message"] == (
            f"task {task['id']} was created from deal {client.deal_id} and needs a result to be completed: "
            "send result.text or result.file_ids, or ask the task's creator to turn off result_required"
        )


async def test_creator_turns_off_result_required(api: TasksApi) -> None:
    client = await seed_deal(api)
    task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")).json()

    by_owner = await api.http.patch(f"/tasks/{task['id']}", json={"result_required": False}, headers=OWNER)
    assert by_owner.status_code == 403
    assert by_owner.json()["code"] == "action_not_allowed"

    by_creator = await api.http.patch(f"/tasks/{task['id']}", json={"result_required": False}, headers=CREATOR)
    assert by_creator.status_code == 200, by_creator.text
    assert by_creator.json()["result_required"] is False

    completed = await api.http.post(f"/tasks/{task['id']}/complete", headers=OWNER)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "done"
    assert completed.json()["result"] is None
    events = await api.events(task["id"])
    assert [event["data"]["changed"] for event in events[1:]] == [
        ["result_required"],
        ["completed_at", "result", "status"],
    ]


async def test_file_only_result_completes(api: TasksApi) -> None:
    client = await seed_deal(api)
    task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")).json()
    file_id = str(uuid.uuid4())

    response = await api.http.post(
        f"/tasks/{task['id']}/complete", json={"result": {"text": "", "file_ids": [file_id]}}, headers=OWNER
    )

    assert response.status_code == 200, response.text
    assert response.json()["result"]["file_ids"] == [file_id]


async def test_lifecycle_records_every_change(api: TasksApi) -> None:
    client = await seed_deal(api)
    task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")).json()
    url = f"/tasks/{task['id']}"

    steps: list[tuple[str, dict[str, Any] | None, dict[str, str], str]] = [
        ("start", None, OWNER, "in_progress"),
        ("complete", {"result": {"text": "Draft sent"}}, OWNER, "done"),
        ("return", {"reason": "Add the prices"}, CREATOR, "returned"),
        ("complete", {"result": {"text": "Sent with prices", "public_text": "Proposal sent"}}, OWNER, "done"),
        ("accept", None, CREATOR, "accepted"),
    ]
    for action, body, headers, status in steps:
        response = await api.http.post(f"{url}/{action}", json=body, headers=headers)
        assert response.status_code == 200, f"{action}: {response.text}"
        assert response.json()["status"] == status

    final = (await api.http.get(url, headers=CREATOR)).json()
    assert final["version"] == 6
    assert final["result"]["text"] == "Sent with prices"
    assert final["accepted_at"] is not None
    assert final["return_reason"] is None

    events = await api.events(task["id"])
    assert [event["aggregate_version"] for event in events] == [1, 2, 3, 4, 5, 6]
    assert [event["data"]["task"]["status"] for event in events] == [
        "new",
        "in_progress",
        "done",
        "returned",
        "done",
        "accepted",
    ]
    assert events[3]["data"]["task"]["return_reason"] == "Add the prices"

    history = (await api.http.get(f"{url}/history", headers=CREATOR)).json()["items"]
    assert [entry["version"] for entry in history] == [1, 2, 3, 4, 5, 6]
    assert history[3]["summary"] == "Status changed from done to returned: Add the prices"
    assert history[3]["actor"] == {"type": "user", "id": "u-creator"}


@pytest.mark.parametrize(
    ("prepare", "action", "current"),
    [
        ([], "accept", "new"),
        ([], "return", "new"),
        (["cancel"], "start", "cancelled"),
        (["complete", "accept"], "complete", "accepted"),
        (["complete", "accept"], "cancel", "accepted"),
        (["start"], "start", "in_progress"),
    ],
)
async def test_illegal_transition_names_status(api: TasksApi, prepare: list[str], action: str, current: str) -> None:
    task = (await api.create(CREATOR, owner_id="u-creator")).json()
    for step in prepare:
        step_body = {"result": {"text": "ok"}} if step == "complete" else None
        assert (await api.http.post(f"/tasks/{task['id']}/{step}", json=step_body, headers=CREATOR)).status_code == 200

    body = {"reason": "why"} if action == "return" else None
    response = await api.http.post(f"/tasks/{task['id']}/{action}", json=body, headers=CREATOR)

    assert response.status_code == 409, response.text
    error = response.json()
    assert error["code"] == "invalid_transition"
    assert error["status"] == current
    assert f"current status is {current!r}" in error["message"]


async def test_only_creator_accepts(api: TasksApi) -> None:
    task = (await api.create(CREATOR, owner_id="u-owner")).json()
    await api.http.post(f"/tasks/{task['id']}/complete", headers=OWNER)

    response = await api.http.post(f"/tasks/{task['id']}/accept", headers=OWNER)

    assert response.status_code == 403
    assert response.json()["message"] == f"only the creator of task {task['id']} may accept it"


async def test_return_needs_reason(api: TasksApi) -> None:
    task = (await api.create(CREATOR, owner_id="u-owner")).json()
    await api.http.post(f"/tasks/{task['id']}/complete", headers=OWNER)

    response = await api.http.post(f"/tasks/{task['id']}/return", json={"reason": ""}, headers=CREATOR)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.reason"


async def test_stale_if_match_rejected(api: TasksApi) -> None:
    task = (await api.create(CREATOR)).json()
    await api.http.patch(f"/tasks/{task['id']}", json={"title": "Renamed"}, headers=CREATOR)

    response = await api.http.patch(
        f"/tasks/{task['id']}", json={"title": "Again"}, headers={**CREATOR, "If-Match": '"1"'}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "version_mismatch"
    assert response.json()["current_version"] == 2


async def test_repeated_idempotency_key_returns_first(api: TasksApi) -> None:
    headers = {**CREATOR, "Idempotency-Key": "form-42"}
    first = await api.create(headers)
    second = await api.create(headers)

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert len(await api.events(first.json()["id"])) == 1


async def test_reused_idempotency_key_other_body_rejected(api: TasksApi) -> None:
    headers = {**CREATOR, "Idempotency-Key": "form-43"}
    first = await api.create(headers, title="Позвонить клиенту")
    changed = await api.create(headers, title="Send the contract")

    assert first.status_code == 201
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert changed.json()["field"] == "Idempotency-Key"
    assert changed.json()["task_id"] == first.json()["id"]
    assert len(await api.events(first.json()["id"])) == 1


async def test_invalid_input_names_field(api: TasksApi) -> None:
    response = await api.http.post(
        "/tasks", json={"title": "", "due_at": "2026-12-04T10:00:00", "client": {"deal": "x"}}, headers=CREATOR
    )

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.title", "body.due_at", "body.client.deal"}


# --- the deal's client changes ----------------------------------------------------------------------


async def test_open_tasks_follow_deal_client(api: TasksApi) -> None:
    client = await seed_deal(api)
    open_task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)})).json()
    closed_task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)}, result_required=False)).json()
    await api.http.post(f"/tasks/{closed_task['id']}/complete", headers=CREATOR)
    await api.http.post(f"/tasks/{closed_task['id']}/accept", headers=CREATOR)
    new_company, new_contact = uuid.uuid4(), uuid.uuid4()
    await api.apply(company_event(new_company, name="New owner company"))

    newer = deal_event(client.deal_id, 3, company_id=new_company, contact_ids=[new_contact], project_id=None)
    assert await api.apply(newer)
    older = deal_event(client.deal_id, 2, company_id=client.company_id, contact_ids=[client.contact_id])
    assert not await api.apply(older)
    assert not await api.apply(newer)

    moved = (await api.http.get(f"/tasks/{open_task['id']}", headers=CREATOR)).json()
    assert ids(moved) == {
        "deal": str(client.deal_id),
        "company": str(new_company),
        "contact": str(new_contact),
        "project": None,
    }
    assert moved["version"] == 2
    kept = (await api.http.get(f"/tasks/{closed_task['id']}", headers=CREATOR)).json()
    assert ids(kept)["company"] == str(client.company_id)

    history = (await api.http.get(f"/tasks/{open_task['id']}/history", headers=CREATOR)).json()["items"]
    assert [entry["kind"] for entry in history] == ["created", "client_changed"]
    change = history[1]
    assert change["summary"] == (
        f"Client changed with deal {client.deal_id}: company {client.company_id} → {new_company}; "
        f"contact {client.contact_id} → {new_contact}; project {client.project_id} → none"
    )
    assert change["actor"] == {"type": "user", "id": "u-crm"}
    assert change["details"]["deal_version"] == 3

    events = await api.events(open_task["id"])
    assert [event["event_type"] for event in events] == ["tasks.task.created", "tasks.task.updated"]
    assert events[1]["data"]["changed"] == ["client"]
    assert events[1]["data"]["task"]["client"]["company_id"] == str(new_company)
    assert events[1]["causation_id"] == str(newer.event_id)


async def test_contact_tasks_follow_company(api: TasksApi) -> None:
    client = await seed_deal(api)
    contact_task = (await api.create(CREATOR, client={"contact_id": str(client.contact_id)})).json()
    deal_task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)})).json()
    new_company = uuid.uuid4()

    assert await api.apply(contact_event(client.contact_id, 2, company_id=new_company))

    moved = (await api.http.get(f"/tasks/{contact_task['id']}", headers=CREATOR)).json()
    assert ids(moved)["company"] == str(new_company)
    history = (await api.http.get(f"/tasks/{contact_task['id']}/history", headers=CREATOR)).json()["items"]
    assert history[-1]["summary"] == (
        f"Client changed with contact {client.contact_id}: company {client.company_id} → {new_company}"
    )
    kept = (await api.http.get(f"/tasks/{deal_task['id']}", headers=CREATOR)).json()
    assert ids(kept)["company"] == str(client.company_id)


# --- counters ---------------------------------------------------------------------------------------


async def test_counters_per_client_deal_owner(api: TasksApi) -> None:
    client = await seed_deal(api)
    deal = {"deal_id": str(client.deal_id)}
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    overdue = (await api.create(CREATOR, client=deal, owner_id="u-owner", due_at=past)).json()
    waiting = (await api.create(CREATOR, client=deal, owner_id="u-owner", due_at=past)).json()
    await api.http.post(f"/tasks/{waiting['id']}/complete", json={"result": {"text": "done"}}, headers=OWNER)
    await api.create(CREATOR, client=deal, owner_id="u-other", due_at=future)
    cancelled = (await api.create(CREATOR, client=deal, owner_id="u-owner")).json()
    await api.http.post(f"/tasks/{cancelled['id']}/cancel", headers=CREATOR)
    await api.create(CREATOR, owner_id="u-owner")  # no client

    async def counters(**params: str) -> dict[str, int]:
        response = await api.http.get("/tasks/counters", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        result: dict[str, int] = response.json()
        return result

    expected_deal = {"open": 3, "overdue": 1, "waiting_for_acceptance": 1}
    assert await counters(deal_id=str(client.deal_id)) == expected_deal
    assert await counters(company_id=str(client.company_id)) == expected_deal
    assert await counters(contact_id=str(client.contact_id)) == expected_deal
    assert await counters(owner_id="u-owner") == {"open": 3, "overdue": 1, "waiting_for_acceptance": 1}
    assert await counters(owner_id="u-other") == {"open": 1, "overdue": 0, "waiting_for_acceptance": 0}

    listed = (await api.http.get("/tasks", params={"owner_id": "u-owner", "overdue": "true"}, headers=ADMIN)).json()
    assert [item["id"] for item in listed["items"]] == [overdue["id"]]
    assert listed["items"][0]["overdue"] is True

    # A duplicate of the deal's event and an older one change nothing; a client move moves the counts.
    first = deal_event(client.deal_id, 1, company_id=client.company_id, contact_ids=[client.contact_id])
    assert not await api.apply(first)
    moved_to = uuid.uuid4()
    move = deal_event(client.deal_id, 2, company_id=moved_to, contact_ids=[client.contact_id])
    assert await api.apply(move)
    assert not await api.apply(move)
    assert await counters(company_id=str(moved_to)) == expected_deal
    assert await counters(company_id=str(client.company_id)) == {"open": 0, "overdue": 0, "waiting_for_acceptance": 0}
    assert await counters(deal_id=str(client.deal_id)) == expected_deal


async def test_counters_hide_invisible_tasks(api: TasksApi) -> None:
    await api.create(CREATOR, owner_id="u-owner")

    response = await api.http.get("/tasks/counters", params={"owner_id": "u-owner"}, headers=bearer("u-outsider"))

    assert response.json() == {"open": 0, "overdue": 0, "waiting_for_acceptance": 0}


# --- access -----------------------------------------------------------------------------------------


async def _task_for_access(api: TasksApi) -> tuple[str, Client]:
    client = await seed_deal(api, owner_id="u-deal-owner", department="sales", workgroup="wg-deal")
    response = await api.create(
        bearer("u-creator", department="sales", workgroups=["wg-deal"]),
        client={"deal_id": str(client.deal_id)},
        owner_id="u-owner",
        observer_ids=["u-observer"],
        workgroup="wg-task",
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], client


@pytest.mark.parametrize(
    ("rule", "user"),
    [
        ("creator", bearer("u-creator")),
        ("owner", bearer("u-owner")),
        ("observer", bearer("u-observer")),
        ("workgroup member", bearer("u-member", workgroups=["wg-task"])),
        ("deal owner", bearer("u-deal-owner")),
        ("deal department and workgroup", bearer("u-seller", department="sales", workgroups=["wg-deal"])),
        ("admin", bearer("u-admin", roles=["admin"])),
    ],
)
async def test_access_rule_shows_task(api: TasksApi, rule: str, user: dict[str, str]) -> None:
    task_id, _ = await _task_for_access(api)

    response = await api.http.get(f"/tasks/{task_id}", headers=user)
    listed = await api.http.get("/tasks", headers=user)

    assert response.status_code == 200, f"{rule}: {response.text}"
    assert response.json()["id"] == task_id
    assert [item["id"] for item in listed.json()["items"]] == [task_id], rule


async def test_outsider_gets_restricted(api: TasksApi) -> None:
    task_id, _ = await _task_for_access(api)
    outsider = bearer("u-outsider", department="ops", workgroups=["wg-other"])

    response = await api.http.get(f"/tasks/{task_id}", headers=outsider)
    history = await api.http.get(f"/tasks/{task_id}/history", headers=outsider)
    listed = await api.http.get("/tasks", headers=outsider)
    completed = await api.http.post(f"/tasks/{task_id}/complete", json={"result": {"text": "x"}}, headers=outsider)

    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "restricted"
    assert body["owner"] == "u-owner"
    assert body["id"] == task_id
    assert "workgroup" in body["reason"]
    assert "Prepare the proposal" not in response.text
    assert history.status_code == 403
    assert listed.json() == {"total": 0, "items": []}
    assert completed.status_code == 403


@pytest.mark.parametrize(
    ("case", "user"),
    [
        ("department only", bearer("u-alice", department="sales")),
        ("workgroup only", bearer("u-eve", department="support", workgroups=["wg-x"])),
    ],
)
async def test_workgroup_deal_needs_membership(api: TasksApi, case: str, user: dict[str, str]) -> None:
    client = await seed_deal(api, owner_id="u-dave", department="sales", workgroup="wg-x", title="Tender wg-x")
    created = await api.create(
        ADMIN,
        client={"deal_id": str(client.deal_id)},
        owner_id="u-owner",
        title="Tender brief",
        expected_result="Signed brief",
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]

    response = await api.http.get(f"/tasks/{task_id}", headers=user)
    listed = await api.http.get("/tasks", params={"deal_id": str(client.deal_id)}, headers=user)
    counters = await api.http.get("/tasks/counters", params={"deal_id": str(client.deal_id)}, headers=user)
    linked = await api.create(user, client={"deal_id": str(client.deal_id)}, owner_id="u-owner")

    assert response.status_code == 403, f"{case}: {response.text}"
    assert response.json()["status"] == "restricted"
    assert "Tender" not in response.text
    assert "Signed brief" not in response.text
    assert listed.json() == {"total": 0, "items": []}
    assert counters.json()["open"] == 0
    assert linked.status_code == 403
    assert linked.json()["owner"] == "u-dave"


async def test_workgroup_deal_reference_restricted(api: TasksApi) -> None:
    client = await seed_deal(api, owner_id="u-dave", department="sales", workgroup="wg-x", title="Tender wg-x")
    created = await api.create(ADMIN, client={"deal_id": str(client.deal_id)}, owner_id="u-alice")
    task_id = created.json()["id"]

    alice = await api.http.get(f"/tasks/{task_id}", headers=bearer("u-alice", department="sales"))
    member = await api.http.get(f"/tasks/{task_id}", headers=bearer("u-carol", department="sales", workgroups=["wg-x"]))

    assert alice.status_code == 200, alice.text
    assert alice.json()["client"]["deal"]["status"] == "restricted"
    assert alice.json()["client"]["deal"]["owner"] == "u-dave"
    assert "Tender wg-x" not in alice.text
    assert member.status_code == 200, member.text
    assert member.json()["client"]["deal"]["status"] == "available"
    assert member.json()["client"]["deal"]["title"] == "Tender wg-x"


async def test_missing_and_deleted_statuses_differ(api: TasksApi) -> None:
    task = (await api.create(CREATOR, owner_id="u-owner")).json()
    by_owner = await api.http.delete(f"/tasks/{task['id']}", headers=OWNER)
    by_creator = await api.http.delete(f"/tasks/{task['id']}", headers=CREATOR)

    missing = await api.http.get(f"/tasks/{uuid.uuid4()}", headers=ADMIN)
    deleted = await api.http.get(f"/tasks/{task['id']}", headers=ADMIN)
    listed = await api.http.get("/tasks", headers=ADMIN)

    assert by_owner.status_code == 403
    assert by_creator.status_code == 204
    assert missing.status_code == 404
    assert missing.json()["status"] == "not_found"
    assert deleted.status_code == 410
    assert deleted.json()["status"] == "deleted"
    assert listed.json()["total"] == 0
    events = await api.events(task["id"])
    assert events[-1]["data"]["task"]["deleted"] is True
    assert events[-1]["data"]["changed"] == ["deleted"]


async def test_hidden_deal_and_client_are_restricted_references(api: TasksApi) -> None:
    task_id, client = await _task_for_access(api)
    observer = bearer("u-observer", department="ops")

    response = await api.http.get(f"/tasks/{task_id}", headers=observer)

    assert response.status_code == 200
    refs = response.json()["client"]
    assert refs["deal"] == {
        "id": str(client.deal_id),
        "status": "restricted",
        "reason": "you are neither its owner nor a member of its department, and of its workgroup when it has one",
        "owner": "u-deal-owner",
    }
    assert refs["company"]["status"] == "restricted"
    assert refs["company"]["owner"] == "u-account"
    assert refs["contact"]["status"] == "restricted"
    assert refs["project"]["status"] == "restricted"
    assert "Website redesign" not in response.text
    assert "Ромашка" not in response.text

    seller_headers = bearer("u-seller", department="sales", workgroups=["wg-deal"])
    seller = (await api.http.get(f"/tasks/{task_id}", headers=seller_headers)).json()
    assert seller["client"]["deal"] == {
        "id": str(client.deal_id),
        "status": "available",
        "title": "Website redesign",
        "stage_name": "New",
    }
    assert seller["client"]["company"]["name"] == "ООО «Ромашка»"


async def test_reference_statuses_not_found_and_deleted(api: TasksApi) -> None:
    unprojected_contact = uuid.uuid4()
    client = await seed_deal(api, contact_ids=[unprojected_contact])
    task = (await api.create(CREATOR, client={"deal_id": str(client.deal_id)})).json()
    await api.apply(company_event(client.company_id, 2, deleted=True))

    refs = (await api.http.get(f"/tasks/{task['id']}", headers=ADMIN)).json()["client"]

    assert refs["contact"] == {"id": str(unprojected_contact), "status": "not_found"}
    assert refs["company"] == {"id": str(client.company_id), "status": "deleted"}
    assert refs["deal"]["status"] == "available"

"""The tasks service as a process on real Kafka and PostgreSQL: deal events in, task events out."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import Event
from contracts.topics import Topic
from tests.conftest import Servers
from tests.support import ServiceProcess, eventually, read_topic, topic_message_count
from tests.tasks_support import JWT_KEY, bearer, deal_event, ids

pytestmark = pytest.mark.integration

CREATOR = bearer("u-creator", department="sales")
OWNER = bearer("u-owner", department="sales")


@pytest.fixture
async def tasks_service(servers: Servers, database_url: str, topic_prefix: str) -> AsyncIterator[ServiceProcess]:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }
    process = ServiceProcess("tasks", env).start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


async def publish(bootstrap: str, topic: str, events: list[Event[Any]]) -> None:
    """Publish events as CRM's relay does: keyed by aggregate id, with the envelope's headers, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic,
                event.model_dump_json().encode(),
                key=str(event.aggregate_id).encode(),
                headers=[(name, value.encode()) for name, value in event.headers().items()],
            )
    finally:
        await producer.stop()


async def task_events(servers: Servers, topic_prefix: str, task_id: str, expected: int) -> list[dict[str, Any]]:
    records = await read_topic(servers.kafka, topic_prefix + Topic.TASKS_TASKS, expected=expected)
    events = [json.loads(record.value) for record in records if record.key == task_id.encode()]
    return sorted(events, key=lambda event: int(event["aggregate_version"]))


async def create_when_projected(http: httpx.AsyncClient, deal_id: uuid.UUID) -> dict[str, Any]:
    """Create a task from the deal, retrying while the deal's event has not reached the projection yet."""

    async def attempt() -> dict[str, Any] | None:
        response = await http.post(
            "/tasks",
            json={"title": "Send the proposal", "owner_id": "u-owner", "client": {"deal_id": str(deal_id)}},
            headers=CREATOR,
        )
        if response.status_code == 422 and response.json()["code"] == "unknown_deal":
            return None
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    result: dict[str, Any] = await eventually(attempt, timeout=30)
    return result


async def test_task_from_deal_event_round_trip(
    servers: Servers, topic_prefix: str, tasks_service: ServiceProcess
) -> None:
    deal_id, company_id, contact_id, project_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    created_deal = deal_event(deal_id, 1, company_id=company_id, contact_ids=[contact_id], project_id=project_id)
    await publish(servers.kafka, topic_prefix + Topic.CRM_DEALS, [created_deal])

    async with httpx.AsyncClient(base_url=tasks_service.url, timeout=10) as http:
        task = await create_when_projected(http, deal_id)
        assert ids(task) == {
            "deal": str(deal_id),
            "company": str(company_id),
            "contact": str(contact_id),
            "project": str(project_id),
        }

        [created] = await task_events(servers, topic_prefix, task["id"], expected=1)
        assert created["event_type"] == "tasks.task.created"
        assert created["aggregate_version"] == 1
        state = created["data"]["task"]
        assert state["client"] == {
            "company_id": str(company_id),
            "contact_id": str(contact_id),
            "project_id": str(project_id),
            "deal_id": str(deal_id),
        }
        assert state["title"] == "Send the proposal"
        assert state["creator_id"] == "u-creator"
        assert state["owner_id"] == "u-owner"
        assert state["status"] == "new"
        assert state["result_required"] is True

        result = {"text": "Proposal sent on Monday", "file_ids": [str(uuid.uuid4())]}
        completed = await http.post(f"/tasks/{task['id']}/complete", json={"result": result}, headers=OWNER)
        assert completed.status_code == 200, completed.text
        accepted = await http.post(f"/tasks/{task['id']}/accept", headers=CREATOR)
        assert accepted.status_code == 200, accepted.text

    events = await task_events(servers, topic_prefix, task["id"], expected=3)
    assert [event["event_type"] for event in events] == [
        "tasks.task.created",
        "tasks.task.updated",
        "tasks.task.updated",
    ]
    done, accepted_event = events[1]["data"], events[2]["data"]
    assert done["task"]["status"] == "done"
    assert done["task"]["result"]["text"] == "Proposal sent on Monday"
    assert done["task"]["result"]["file_ids"] == result["file_ids"]
    assert done["changed"] == ["completed_at", "result", "status"]
    assert accepted_event["task"]["status"] == "accepted"
    assert accepted_event["task"]["result"]["text"] == "Proposal sent on Monday"
    assert accepted_event["task"]["accepted_at"] is not None
    assert accepted_event["changed"] == ["accepted_at", "status"]
    assert accepted_event["task"]["client"]["deal_id"] == str(deal_id)


async def test_deal_client_change_moves_tasks(
    servers: Servers, topic_prefix: str, tasks_service: ServiceProcess
) -> None:
    deal_id, old_company, new_company, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deals_topic = topic_prefix + Topic.CRM_DEALS
    await publish(
        servers.kafka, deals_topic, [deal_event(deal_id, 1, company_id=old_company, contact_ids=[contact_id])]
    )

    async with httpx.AsyncClient(base_url=tasks_service.url, timeout=10) as http:
        task = await create_when_projected(http, deal_id)

        newer = deal_event(deal_id, 3, company_id=new_company, contact_ids=[contact_id])
        older = deal_event(deal_id, 2, company_id=old_company, contact_ids=[contact_id])
        # Version 4 only renames the deal; once its title shows, the events before it were handled.
        sentinel = deal_event(deal_id, 4, company_id=new_company, contact_ids=[contact_id], title="Renamed deal")
        await publish(servers.kafka, deals_topic, [newer, older, newer, sentinel])

        async def renamed() -> dict[str, Any] | None:
            view: dict[str, Any] = (await http.get(f"/tasks/{task['id']}", headers=CREATOR)).json()
            return view if view["client"]["deal"].get("title") == "Renamed deal" else None

        moved = await eventually(renamed, timeout=30)
        assert ids(moved)["company"] == str(new_company)
        assert ids(moved)["contact"] == str(contact_id)
        assert moved["version"] == 2

        history = (await http.get(f"/tasks/{task['id']}/history", headers=CREATOR)).json()["items"]
        assert [entry["kind"] for entry in history] == ["created", "client_changed"]
        assert history[1]["summary"] == (f"Client changed with deal {deal_id}: company {old_company} → {new_company}")

        admin = bearer("u-admin", roles=["admin"])
        new_counts = (await http.get("/tasks/counters", params={"company_id": str(new_company)}, headers=admin)).json()
        old_counts = (await http.get("/tasks/counters", params={"company_id": str(old_company)}, headers=admin)).json()
        assert new_counts == {"open": 1, "overdue": 0, "waiting_for_acceptance": 0}
        assert old_counts == {"open": 0, "overdue": 0, "waiting_for_acceptance": 0}

    events = await task_events(servers, topic_prefix, task["id"], expected=2)
    assert [event["aggregate_version"] for event in events] == [1, 2]
    assert events[1]["data"]["changed"] == ["client"]
    assert events[1]["data"]["task"]["client"]["company_id"] == str(new_company)
    # The older and the repeated deal events published nothing more.
    assert await topic_message_count(servers.kafka, topic_prefix + Topic.TASKS_TASKS) == 2

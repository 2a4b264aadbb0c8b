"""Task, document and file events from Kafka: workspace counters, the task-result marker, and access."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.documents import DocumentChange, DocumentCreated, DocumentState, FileCreated, FileState
from contracts.envelope import Actor, ActorType
from contracts.tasks import ClientReference, TaskChange, TaskCreated, TaskResult, TaskState, TaskUpdated
from services.crm.projections import refresh_open_deal_markers
from tests.integration.crm.conftest import ADMIN, OTHER, SALES, Crm, create
from tests.support import eventually

pytestmark = pytest.mark.integration

ACTOR = Actor(type=ActorType.USER, id="u-worker", name="Worker")


def task_event(
    task_id: uuid.UUID, version: int, status: str, client: ClientReference, *, finished_at: datetime | None = None
) -> TaskCreated | TaskUpdated:
    state = TaskState(
        id=task_id,
        title="Prepare the proposal",
        creator_id="u-sales",
        owner_id="u-worker",
        department="sales",
        status=status,
        client=client,
        result=TaskResult(text="Proposal sent") if status in ("done", "accepted") else None,
        completed_at=finished_at,
        accepted_at=finished_at if status == "accepted" else None,
    )
    event_class = TaskCreated if version == 1 else TaskUpdated
    return event_class(
        producer="tasks",
        aggregate_id=task_id,
        aggregate_version=version,
        correlation_id=str(uuid.uuid4()),
        actor=ACTOR,
        data=TaskChange(task=state, changed=["status"]),
    )


async def workspace(crm: Crm, company_id: str) -> dict[str, Any]:
    response = await crm.client.get(f"/companies/{company_id}/workspace", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_workspace_counters_follow_events(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Romashka"})
    company_id = uuid.UUID(company["id"])
    client = ClientReference(company_id=company_id)
    document_id = uuid.uuid4()
    document = DocumentCreated(
        producer="documents",
        aggregate_id=document_id,
        aggregate_version=1,
        correlation_id="c",
        actor=ACTOR,
        data=DocumentChange(
            document=DocumentState(id=document_id, kind="contract", title="Contract", company_id=company_id)
        ),
    )
    file_id = uuid.uuid4()
    file = FileCreated(
        producer="documents",
        aggregate_id=file_id,
        aggregate_version=1,
        correlation_id="c",
        actor=ACTOR,
        data=FileState(
            id=file_id, file_name="brief.pdf", size=10, media_type="application/pdf", sha256="00", company_id=company_id
        ),
    )
    before = await workspace(crm, company["id"])
    assert (before["tasks"]["count"], before["documents"]["count"], before["files"]["count"]) == (0, 0, 0)

    await crm.publish("tasks.tasks", [task_event(uuid.uuid4(), 1, "new", client)])
    await crm.publish("documents.documents", [document])
    await crm.publish("documents.files", [file])

    async def counted() -> bool:
        body = await workspace(crm, company["id"])
        return (body["tasks"]["count"], body["documents"]["count"], body["files"]["count"]) == (1, 1, 1)

    await eventually(counted, timeout=30)


async def test_duplicates_and_old_events_ignored(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Romashka"})
    deal = await create(crm, "/deals", {"title": "Loop", "company_id": company["id"]})
    client = ClientReference(company_id=uuid.UUID(company["id"]), deal_id=uuid.UUID(deal["id"]))
    task_id = uuid.uuid4()
    created = task_event(task_id, 1, "new", client)
    started = task_event(task_id, 2, "in_progress", client)
    sentinel = task_event(uuid.uuid4(), 1, "new", client)
    await crm.publish("tasks.tasks", [created, started, created, started, sentinel])

    async def both_counted() -> bool:
        return int((await workspace(crm, company["id"]))["tasks"]["count"]) == 2

    await eventually(both_counted, timeout=30)
    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=ADMIN)).json()
    assert card["counts"]["tasks"] == 2
    assert card["counts"]["open_tasks"] == 2
    items = {item["id"]: item for item in (await workspace(crm, company["id"]))["tasks"]["items"]}
    # The older 'new' event redelivered after 'in_progress' did not regress the projection.
    assert items[str(task_id)]["record"]["status"] == "in_progress"


async def test_task_result_marks_deal(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Loop", "next_step": "Call back"})
    assert deal["markers"] == []
    client = ClientReference(deal_id=uuid.UUID(deal["id"]))
    task_id = uuid.uuid4()
    finished = datetime.now(UTC) + timedelta(seconds=1)
    await crm.publish(
        "tasks.tasks",
        [
            task_event(task_id, 1, "in_progress", client),
            task_event(task_id, 2, "accepted", client, finished_at=finished),
        ],
    )

    async def marked() -> list[dict[str, Any]]:
        state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
        return [m for m in state["markers"] if m["kind"] == "task_result"]

    [marker] = await eventually(marked, timeout=30)
    assert marker["task_id"] == str(task_id)
    timeline = (await crm.client.get(f"/deals/{deal['id']}/timeline", headers=ADMIN)).json()["items"]
    [entry] = [e for e in timeline if e["kind"] == "task_result"]
    assert entry["link"] == {"service": "tasks", "path": f"/tasks/{task_id}"}
    assert entry["data"]["result"] == "Proposal sent"
    assert entry["cause"] == {"type": "task", "id": str(task_id), "name": "Prepare the proposal"}

    attention = (await crm.client.get("/deals/attention?marker=task_result", headers=ADMIN)).json()
    assert [item["id"] for item in attention["items"]] == [deal["id"]]
    board = (await crm.client.get(f"/pipelines/{deal['pipeline_id']}/board", headers=ADMIN)).json()
    assert board["stages"][0]["markers"] == {"task_result": 1}

    events = await crm.events("crm.deals", deal["id"], 2)
    assert events[-1]["data"]["deal"]["markers"][0]["kind"] == "task_result"

    until = datetime.now(UTC) + timedelta(days=1)
    snoozed = await crm.client.post(
        f"/deals/{deal['id']}/markers/task_result/snooze",
        json={"reason": "Waiting for the client's reply", "until": until.isoformat()},
        headers=ADMIN,
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["markers"] == []
    runtime = crm.runtime
    await refresh_open_deal_markers(runtime.sessionmaker, runtime.settings, now=until + timedelta(minutes=1))
    back = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert [m["kind"] for m in back["markers"]] == ["task_result"]

    qualified = board["stages"][1]["id"]
    moved = await crm.client.patch(f"/deals/{deal['id']}", json={"stage_id": qualified}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    assert moved.json()["markers"] == []
    cleared = await crm.events("crm.deals", deal["id"], 5)
    assert [m["kind"] for m in cleared[2]["data"]["deal"]["markers"]] == []
    assert [m["kind"] for m in cleared[3]["data"]["deal"]["markers"]] == ["task_result"]
    assert cleared[4]["data"]["deal"]["markers"] == []
    assert cleared[4]["data"]["deal"]["stage_name"] == "Qualified"


async def test_task_done_before_update_no_marker(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Old news", "next_step": "Wait"})
    client = ClientReference(deal_id=uuid.UUID(deal["id"]))
    long_ago = datetime.now(UTC) - timedelta(days=3)
    await crm.publish("tasks.tasks", [task_event(uuid.uuid4(), 1, "done", client, finished_at=long_ago)])

    async def in_timeline() -> bool:
        timeline = (await crm.client.get(f"/deals/{deal['id']}/timeline", headers=ADMIN)).json()["items"]
        return any(e["kind"] == "task_result" for e in timeline)

    await eventually(in_timeline, timeout=30)
    state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert state["markers"] == []


async def test_snooze_hides_until_date(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Quiet"})
    assert [m["kind"] for m in deal["markers"]] == ["no_next_step"]
    until = datetime.now(UTC) + timedelta(days=2)
    snoozed = await crm.client.post(
        f"/deals/{deal['id']}/markers/no_next_step/snooze",
        json={"reason": "Client on holiday", "until": until.isoformat()},
        headers=ADMIN,
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["markers"] == []

    runtime = crm.runtime
    assert await refresh_open_deal_markers(runtime.sessionmaker, runtime.settings, now=until - timedelta(hours=1)) == 0
    changed = await refresh_open_deal_markers(runtime.sessionmaker, runtime.settings, now=until + timedelta(hours=1))
    assert changed == 1
    state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert [m["kind"] for m in state["markers"]] == ["no_next_step"]
    events = await crm.events("crm.deals", deal["id"], 3)
    assert [m["kind"] for m in events[-1]["data"]["deal"]["markers"]] == ["no_next_step"]


async def test_time_markers_overdue_and_stale(crm: Crm) -> None:
    pipelines = (await crm.client.get("/pipelines", headers=ADMIN)).json()["items"]
    sales = next(p for p in pipelines if p["key"] == "sales")
    first = sales["stages"][0]
    rules = await crm.client.put(
        f"/pipelines/{sales['id']}/stages/{first['id']}/rules", json={"max_days": 5}, headers=ADMIN
    )
    assert rules.status_code == 200, rules.text
    due = datetime.now(UTC) + timedelta(days=1)
    deal = await create(
        crm, "/deals", {"title": "Timed", "next_step": "Send offer", "next_step_due_at": due.isoformat()}
    )
    assert deal["markers"] == []
    runtime = crm.runtime
    await refresh_open_deal_markers(runtime.sessionmaker, runtime.settings, now=datetime.now(UTC) + timedelta(days=6))
    state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert [m["kind"] for m in state["markers"]] == ["next_step_overdue", "stale_in_stage"]


async def test_restricted_reference_and_403(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Visible"}, headers=SALES)
    hidden_company = await create(crm, "/companies", {"name": "Hidden", "department": "support"}, headers=OTHER)
    # Support may not link a sales client itself, so an admin files support's deal under it.
    deal = await create(
        crm,
        "/deals",
        {"title": "Secret", "company_id": company["id"], "owner_id": "u-other", "department": "support"},
    )
    own_deal = await create(crm, "/deals", {"title": "Mine", "company_id": company["id"]}, headers=SALES)

    space = (await crm.client.get(f"/companies/{company['id']}/workspace", headers=SALES)).json()
    references = {item["id"]: item for item in space["deals"]["items"]}
    assert space["deals"]["count"] == 2
    restricted = references[deal["id"]]
    assert restricted["status"] == "restricted"
    assert restricted["owner"] == {"id": "u-other", "department": "support"}
    assert "record" not in restricted
    assert "Secret" not in str(restricted)
    assert references[own_deal["id"]]["status"] == "ok"

    direct = await crm.client.get(f"/deals/{deal['id']}", headers=SALES)
    assert direct.status_code == 403
    body = direct.json()
    assert body["status"] == "restricted"
    assert body["owner"] == restricted["owner"]
    assert body["reason"] == restricted["reason"]
    assert "Secret" not in direct.text

    duplicate = await create(crm, "/companies", {"name": "Copy", "tax_id": "7701234567"}, headers=OTHER)
    assert duplicate["warnings"] == []
    patched = await crm.client.patch(f"/companies/{hidden_company['id']}", json={"tax_id": "7701234567"}, headers=OTHER)
    assert patched.status_code == 200
    again = await create(crm, "/companies", {"name": "Third", "tax_id": "7701234567"}, headers=SALES)
    [warning] = again["warnings"]
    assert {ref["status"] for ref in warning["duplicates"]} == {"restricted"}
    assert all("record" not in ref for ref in warning["duplicates"])

    card = (await crm.client.get(f"/deals/{own_deal['id']}/card", headers=SALES)).json()
    assert card["company"]["status"] == "ok"
    assert card["company"]["record"]["name"] == "Visible"


async def test_comment_clears_task_marker(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Talk", "next_step": "Wait for the result"})
    task_id = uuid.uuid4()
    done = task_event(
        task_id,
        1,
        "done",
        ClientReference(deal_id=uuid.UUID(deal["id"])),
        finished_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    await crm.publish("tasks.tasks", [done])

    async def marked() -> bool:
        state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
        return [m["kind"] for m in state["markers"]] == ["task_result"]

    await eventually(marked, timeout=30)
    commented = await crm.client.post(f"/deals/{deal['id']}/comments", json={"text": "Seen, thanks"}, headers=ADMIN)
    assert commented.status_code == 201, commented.text
    assert commented.json()["markers"] == []


async def test_deal_readers_see_its_tasks(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Lutik"}, headers=OTHER)
    deal = await create(crm, "/deals", {"title": "Support deal", "company_id": company["id"]}, headers=OTHER)
    client = ClientReference(company_id=uuid.UUID(company["id"]), deal_id=uuid.UUID(deal["id"]))
    # Owned by a worker of sales, but on support's deal: support reads it through the deal.
    await crm.publish("tasks.tasks", [task_event(uuid.uuid4(), 1, "new", client)])

    async def listed() -> list[dict[str, Any]]:
        response = await crm.client.get(f"/companies/{company['id']}/workspace", headers=OTHER)
        items: list[dict[str, Any]] = response.json()["tasks"]["items"]
        return items

    [task] = await eventually(listed, timeout=30)
    assert task["status"] == "ok"
    assert task["record"]["title"] == "Prepare the proposal"

"""Search on real Kafka and OpenSearch never shows a record to a user who may not read it."""

from __future__ import annotations

import uuid

import pytest

from contracts.topics import Topic
from servicekit.auth import Principal
from tests.conftest import Servers
from tests.search_support import (
    SearchService,
    channel_message,
    company,
    deal,
    legal_entity,
    publish,
    search_service,
    task,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

__all__ = ["search_service"]

SALES = Principal(user_id="u-sales", department="sales")
SUPPORT = Principal(user_id="u-support", department="support")
ADMIN = Principal(user_id="u-admin", roles=["admin"])


async def indexed_total(service: SearchService, user: Principal, q: str, expected: int) -> None:
    async def reached() -> bool:
        return bool((await service.get("/search", user, q=q)).json()["total"] >= expected)

    await eventually(reached, timeout=30)


async def test_other_department_deal_stays_hidden(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    hidden = deal(f"Договор поставки {marker} Ромашка", department="sales", owner_id="u-sales")
    visible = deal(f"Договор поставки {marker} Лютик", department="support", owner_id="u-other")
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [hidden, visible])
    await indexed_total(search_service, ADMIN, marker, 2)

    own = (await search_service.get("/search", SALES, q=f"Ромашка {marker}")).json()
    assert [item["title"] for item in own["items"]] == [hidden.data.deal.title]

    found = (await search_service.get("/search", SUPPORT, q=f"договор {marker}")).json()
    by_title = (await search_service.get("/search", SUPPORT, q="Ромашка")).json()
    suggested = (await search_service.get("/suggest", SUPPORT, q="Рома")).json()
    highlights = [text for item in found["items"] for texts in item["highlight"].values() for text in texts]

    assert by_title["items"] == []
    assert not any("Ромашка" in text for text in highlights)
    assert found["total"] == 1
    assert found["counts"] == {"deal": 1}
    assert suggested["items"] == []


async def test_task_visible_to_its_participants(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    event = task(f"Подготовить акт {marker}", owner_id="u-owner", creator_id="u-boss", observers=["u-watch"])
    await publish(servers.kafka, search_service.topic(Topic.TASKS_TASKS), [event])
    await indexed_total(search_service, ADMIN, marker, 1)

    for user_id in ("u-owner", "u-boss", "u-watch"):
        result = (await search_service.get("/search", Principal(user_id=user_id), q=marker)).json()
        assert result["total"] == 1, user_id
    outsider = (await search_service.get("/search", Principal(user_id="u-else", department="sales"), q=marker)).json()
    assert outsider == {"total": 0, "items": []}


async def test_task_follows_its_deal_readers(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    deal_id = uuid.uuid4()
    deals_topic = search_service.topic(Topic.CRM_DEALS)
    await publish(servers.kafka, deals_topic, [deal(f"Deal {marker}", deal_id=deal_id, department="sales")])
    linked = task(f"Call back {marker}", owner_id="u-owner", deal_id=deal_id)
    await publish(servers.kafka, search_service.topic(Topic.TASKS_TASKS), [linked])
    await indexed_total(search_service, ADMIN, f"Call back {marker}", 1)

    async def task_total(user: Principal) -> int:
        page = (await search_service.get("/search", user, q=marker, types="task")).json()
        return int(page["total"])

    assert await task_total(SALES) == 1
    assert await task_total(SUPPORT) == 0

    moved = deal(f"Deal {marker}", deal_id=deal_id, version=2, department="support", owner_id="u-other")
    await publish(servers.kafka, deals_topic, [moved])

    async def moved_over() -> bool:
        return await task_total(SUPPORT) == 1

    await eventually(moved_over, timeout=30)
    assert await task_total(SALES) == 0


ALICE = Principal(user_id="u-alice", department="sales")
EVE = Principal(user_id="u-eve", department="support", workgroups=["wg-x"])
CAROL = Principal(user_id="u-carol", department="sales", workgroups=["wg-x"])
DAVE = Principal(user_id="u-dave", department="marketing")


async def test_workgroup_deal_needs_membership(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    deal_id = uuid.uuid4()
    scoped = deal(f"Tender {marker}", deal_id=deal_id, department="sales", owner_id="u-dave", workgroup="wg-x")
    linked = task(f"Tender brief {marker}", owner_id="u-owner", deal_id=deal_id)
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [scoped])
    await publish(servers.kafka, search_service.topic(Topic.TASKS_TASKS), [linked])
    await indexed_total(search_service, ADMIN, marker, 2)

    async def counts(user: Principal) -> dict[str, int]:
        page = (await search_service.get("/search", user, q=marker)).json()
        return dict(page.get("counts", {}))

    async def suggested(user: Principal) -> list[str]:
        page = (await search_service.get("/suggest", user, q=f"Tender {marker}")).json()
        return [item["title"] for item in page["items"]]

    async def member_sees_both() -> bool:
        return await counts(CAROL) == {"deal": 1, "task": 1}

    # The task takes the deal's readers once search has stored them, which may come after the task.
    await eventually(member_sees_both, timeout=30)

    # The department alone (alice) and the workgroup alone (eve) are not enough, as in CRM.
    assert await counts(ALICE) == {}
    assert await counts(EVE) == {}
    assert await suggested(ALICE) == []
    assert await suggested(EVE) == []
    assert await counts(DAVE) == {"deal": 1, "task": 1}
    assert await counts(Principal(user_id="u-owner")) == {"task": 1}


async def test_workgroup_company_hides_entity(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    client = company(f"Ромашка {marker}", department="sales", workgroup="wg-x")
    entity = legal_entity(f"ООО «Ромашка» {marker}", "7707083893", company_id=client.aggregate_id)
    await publish(servers.kafka, search_service.topic(Topic.CRM_COMPANIES), [client])
    await publish(servers.kafka, search_service.topic(Topic.CRM_LEGAL_ENTITIES), [entity])
    await indexed_total(search_service, ADMIN, marker, 2)

    async def entity_total(user: Principal) -> int:
        page = (await search_service.get("/search", user, q=marker, types="legal_entity")).json()
        return int(page["total"])

    await eventually(lambda: entity_total(CAROL), timeout=30)
    assert await entity_total(ALICE) == 0
    assert await entity_total(EVE) == 0
    assert (await search_service.get("/search", ALICE, q=marker)).json()["total"] == 0


async def test_task_department_grants_nothing(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    owned = task(f"Invoice check {marker}", owner_id="u-sales", department="sales")
    grouped = task(f"Invoice draft {marker}", owner_id="u-owner", workgroup="wg-x")
    await publish(servers.kafka, search_service.topic(Topic.TASKS_TASKS), [owned, grouped])
    await indexed_total(search_service, ADMIN, marker, 2)

    assert (await search_service.get("/search", ALICE, q=marker)).json()["total"] == 0
    eve_titles = [item["title"] for item in (await search_service.get("/search", EVE, q=marker)).json()["items"]]
    assert eve_titles == [grouped.data.task.title]


async def test_legal_entity_follows_its_company(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    client = company(f"Ромашка {marker}", department="sales")
    entity = legal_entity(f"ООО «Ромашка» {marker}", "7707083893", company_id=client.aggregate_id)
    await publish(servers.kafka, search_service.topic(Topic.CRM_LEGAL_ENTITIES), [entity])
    await publish(servers.kafka, search_service.topic(Topic.CRM_COMPANIES), [client])
    await indexed_total(search_service, ADMIN, marker, 2)

    async def entity_total(user: Principal) -> int:
        page = (await search_service.get("/search", user, q=marker, types="legal_entity")).json()
        return int(page["total"])

    await eventually(lambda: entity_total(SALES), timeout=30)
    assert await entity_total(SALES) == 1
    assert await entity_total(SUPPORT) == 0


async def test_conversation_follows_its_deal(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    message = channel_message(f"WhatsApp {marker}", "Нужен счёт", owner_id="u-intake")
    await publish(servers.kafka, search_service.topic(Topic.INTAKE_REQUESTS), [message])
    await indexed_total(search_service, ADMIN, marker, 1)
    assert (await search_service.get("/search", SALES, q=marker)).json()["total"] == 0

    made = deal(f"Deal from chat {marker}", department="sales", owner_id="u-other", request_id=message.aggregate_id)
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [made])

    async def conversation_total() -> int:
        page = (await search_service.get("/search", SALES, q=marker, types="conversation")).json()
        return int(page["total"])

    await eventually(conversation_total, timeout=30)
    assert await conversation_total() == 1


async def test_conversation_indexed_only_from_channels(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    message = channel_message(f"Telegram {marker}", "Пришлите, пожалуйста, счёт", owner_id="u-sales")
    form = channel_message(f"Form {marker}", "Заявка с сайта", owner_id="u-sales", source="form")
    sentinel = deal(f"Sentinel {marker}")
    await publish(servers.kafka, search_service.topic(Topic.INTAKE_REQUESTS), [form, message])
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [sentinel])
    await indexed_total(search_service, ADMIN, marker, 2)

    result = (await search_service.get("/search", SALES, q="счета", types="conversation")).json()
    assert [item["id"] for item in result["items"]] == [str(message.aggregate_id)]
    assert result["items"][0]["link"] == {"service": "intake", "path": f"/requests/{message.aggregate_id}"}
    everything = (await search_service.get("/search", ADMIN, q=marker)).json()
    assert everything["counts"] == {"conversation": 1, "deal": 1}


async def test_highlight_escapes_record_markup(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    hostile = deal(f"<img src=x onerror=alert(1)> Xssprobe{marker}", department="sales", owner_id="u-sales")
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [hostile])
    await indexed_total(search_service, ADMIN, f"Xssprobe{marker}", 1)

    found = (await search_service.get("/search", ADMIN, q=f"Xssprobe{marker}")).json()
    highlights = [text for item in found["items"] for texts in item["highlight"].values() for text in texts]

    assert highlights
    assert all("<img" not in text for text in highlights)
    assert any("&lt;img" in text for text in highlights)
    assert any("<em>" in text for text in highlights)

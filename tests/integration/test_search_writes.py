"""Versioned writes, deletes and normalized matching on real Kafka and OpenSearch."""

from __future__ import annotations

import uuid

import pytest
from opensearchpy import AsyncOpenSearch
from prometheus_client import REGISTRY

from contracts.topics import Topic
from servicekit.auth import Principal
from services.search.documents import Domain
from services.search.index import SearchIndex, SearchUnavailable
from services.search.query import encode_cursor
from tests.conftest import Servers
from tests.search_support import (
    SearchService,
    contact,
    deal,
    document,
    legal_entity,
    publish,
    search_service,
)
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration

__all__ = ["search_service"]

ADMIN = Principal(user_id="u-admin", roles=["admin"])
SALES = Principal(user_id="u-sales", department="sales")


async def found_ids(service: SearchService, user: Principal, q: str, **params: str) -> list[str]:
    response = await service.get("/search", user, q=q, **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def wait_for(service: SearchService, q: str, expected_id: uuid.UUID) -> None:
    async def present() -> bool:
        return str(expected_id) in await found_ids(service, ADMIN, q)

    await eventually(present, timeout=30)


async def test_older_event_keeps_newer_state(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    deal_id = uuid.uuid4()
    newer = deal(f"Newer {marker}", deal_id=deal_id, version=2)
    older = deal(f"Older {marker}", deal_id=deal_id, version=1)
    sentinel = deal(f"Sentinel {marker}")
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [newer, older, sentinel])
    await wait_for(search_service, f"Sentinel {marker}", sentinel.aggregate_id)

    result = (await search_service.get("/search", ADMIN, q=marker, types="deal")).json()
    titles = {item["id"]: item["title"] for item in result["items"]}
    assert titles[str(deal_id)] == f"Newer {marker}"
    assert await found_ids(search_service, ADMIN, f"Older {marker}") == []


async def test_delete_removes_and_stays_removed(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    deal_id = uuid.uuid4()
    topic = search_service.topic(Topic.CRM_DEALS)
    await publish(servers.kafka, topic, [deal(f"Doomed {marker}", deal_id=deal_id, version=1)])
    await wait_for(search_service, marker, deal_id)

    deleted = deal(f"Doomed {marker}", deal_id=deal_id, version=2, deleted=True)
    replayed = deal(f"Doomed {marker}", deal_id=deal_id, version=1)
    sentinel = deal(f"Sentinel {marker}")
    await publish(servers.kafka, topic, [deleted, replayed, sentinel])
    await wait_for(search_service, f"Sentinel {marker}", sentinel.aggregate_id)

    assert await found_ids(search_service, ADMIN, f"Doomed {marker}") == []


async def test_normalized_identifiers_and_word_forms(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    person = contact(f"Анна Смирнова {marker}", phones=["+79990000001"], emails=["Anna.Smirnova@Example.com"])
    entity = legal_entity(f"ООО «Ромашка» {marker}", "7707083893")
    agreement = deal(f"Договор поставки {marker}")
    contracts_doc = document(f"Договоры с клиентами {marker}")
    await publish(servers.kafka, search_service.topic(Topic.CRM_CONTACTS), [person])
    await publish(servers.kafka, search_service.topic(Topic.CRM_LEGAL_ENTITIES), [entity])
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [agreement])
    await publish(servers.kafka, search_service.topic(Topic.DOCUMENTS_DOCUMENTS), [contracts_doc])
    for event in (person, entity, agreement, contracts_doc):
        await wait_for(search_service, marker, event.aggregate_id)

    assert await found_ids(search_service, SALES, "8 (999) 000-00-01", types="contact") == [str(person.aggregate_id)]
    assert await found_ids(search_service, SALES, "ANNA.SMIRNOVA@example.COM") == [str(person.aggregate_id)]
    assert await found_ids(search_service, ADMIN, "7707 083 893") == [str(entity.aggregate_id)]
    assert await found_ids(search_service, SALES, f"договорами {marker}", types="deal") == [str(agreement.aggregate_id)]
    assert await found_ids(search_service, SALES, f"договор {marker}", types="document") == [
        str(contracts_doc.aggregate_id)
    ]


async def test_name_prefix_suggestions(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    person = contact(f"Анна Смирнова {marker}", phones=[], emails=[])
    await publish(servers.kafka, search_service.topic(Topic.CRM_CONTACTS), [person])
    await wait_for(search_service, marker, person.aggregate_id)

    suggested = (await search_service.get("/suggest", SALES, q=f"{marker} смир")).json()
    assert suggested["items"] == [
        {
            "type": "contact",
            "id": str(person.aggregate_id),
            "title": person.data.name,
            "link": {"service": "crm", "path": f"/contacts/{person.aggregate_id}"},
        }
    ]


async def test_cursor_walks_every_hit_once(servers: Servers, search_service: SearchService) -> None:
    marker = uuid.uuid4().hex[:8]
    events = [deal(f"Page {marker} {number}") for number in range(25)]
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), events)
    await wait_for(search_service, f"Page {marker} 24", events[-1].aggregate_id)

    seen: list[str] = []
    cursor: str | None = None
    for _page in range(5):
        params = {"q": marker, "limit": "10", **({"cursor": cursor} if cursor else {})}
        page = (await search_service.get("/search", ADMIN, **params)).json()
        assert page["total"] == 25
        seen.extend(item["id"] for item in page["items"])
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(event.aggregate_id) for event in events)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "query.q"),
        ({"q": "   "}, "query.q"),
        ({"q": "x", "types": "deal,planet"}, "query.types"),
        ({"q": "x", "types": ","}, "query.types"),
        ({"q": "x", "cursor": "not-a-cursor"}, "query.cursor"),
        ({"q": "x", "cursor": "WyJhIiwgMV0"}, "query.cursor"),
        ({"q": "x", "cursor": encode_cursor([10**400, "deal:1"])}, "query.cursor"),
        ({"q": "x", "cursor": encode_cursor([float("inf"), "deal:1"])}, "query.cursor"),
        ({"q": "x", "limit": "0"}, "query.limit"),
        ({"q": "x", "limit": "101"}, "query.limit"),
        ({"q": "x", "limit": "many"}, "query.limit"),
    ],
)
async def test_bad_search_input_names_field(search_service: SearchService, params: dict[str, str], field: str) -> None:
    response = await search_service.get("/search", ADMIN, **params)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_suggest_rejects_bad_input(search_service: SearchService) -> None:
    response = await search_service.get("/suggest", ADMIN, q="x", types="nothing")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.types"
    missing_token = await search_service.http.get("/search", params={"q": "x"})
    assert missing_token.status_code == 401


async def test_unreachable_opensearch_answers_503() -> None:
    # free_port() returns a loopback port that was just free, so the connection is refused at once.
    client = AsyncOpenSearch(hosts=[f"http://127.0.0.1:{free_port()}"], timeout=1, max_retries=0)
    try:
        with pytest.raises(SearchUnavailable) as raised:
            await SearchIndex(client, "unreachable.").search(ADMIN, "x", [Domain.DEAL], 10, None)
    finally:
        await client.close()
    assert raised.value.status_code == 503


async def test_indexing_delay_exported(servers: Servers, search_service: SearchService) -> None:
    sample = ("search_event_to_indexed_seconds_count", {"domain": "deal"})
    before = REGISTRY.get_sample_value(*sample) or 0.0
    event = deal(f"Timed {uuid.uuid4().hex[:8]}")
    await publish(servers.kafka, search_service.topic(Topic.CRM_DEALS), [event])
    await wait_for(search_service, event.data.deal.title, event.aggregate_id)

    assert (REGISTRY.get_sample_value(*sample) or 0.0) == before + 1
    metrics = (await search_service.http.get("/metrics")).text
    assert 'search_event_to_indexed_seconds_count{domain="deal"}' in metrics


async def test_outdated_index_is_replaced(servers: Servers, topic_prefix: str) -> None:
    client = AsyncOpenSearch(hosts=[servers.opensearch])
    old_index = f"{topic_prefix}deals-v1"
    await client.indices.create(
        index=old_index,
        body={
            "settings": {"number_of_replicas": 0},
            "mappings": {"dynamic": "strict", "properties": {"title": {"type": "text"}}},
        },
    )
    await client.indices.put_alias(index=old_index, name=f"{topic_prefix}deals")
    index = SearchIndex(client, topic_prefix, refresh=True)
    try:
        await index.ensure()
        [current] = list(await client.indices.get_alias(name=f"{topic_prefix}deals"))
        assert current != old_index
        mapping = await client.indices.get_mapping(index=current)
        assert "id" in mapping[current]["mappings"]["properties"]

        await index.ensure()
        assert list(await client.indices.get_alias(name=f"{topic_prefix}deals")) == [current]
    finally:
        await client.close()

"""Search documents from contract events, the shared mapping, queries and cursors."""

from __future__ import annotations

import uuid

import pytest

from servicekit.auth import Principal
from servicekit.errors import ValidationFailed
from services.search.documents import (
    CUSTOM_PAIRS_MAX,
    CUSTOM_VALUE_MAX_CHARS,
    SOURCE_OF_EVENT,
    SOURCES,
    Domain,
    contact_document,
    custom_pairs,
    deal_document,
    event_classes,
    legal_entity_document,
    task_document,
)
from services.search.mappings import MAPPING
from services.search.query import access_filter, decode_cursor, encode_cursor, search_body
from tests.search_support import channel_message, contact, deal, legal_entity, task

pytestmark = pytest.mark.unit


def test_every_domain_has_a_source() -> None:
    assert {source.domain for source in SOURCES} == set(Domain)
    for source in SOURCES:
        for event_class in event_classes(source.body_type):
            assert SOURCE_OF_EVENT[event_class] is source


def test_alias_names_are_plurals() -> None:
    assert [domain.alias_suffix for domain in Domain] == [
        "deals",
        "companies",
        "contacts",
        "legal_entities",
        "tasks",
        "documents",
        "files",
        "conversations",
    ]


def test_documents_use_only_mapped_fields() -> None:
    mapped = set(MAPPING["properties"])
    events = [
        deal("Deal", contact_phone="+79990000001"),
        contact("Anna", phones=["8 999 000 00 01"], emails=["A@B.example"]),
        legal_entity("ООО Ромашка", "7707 083 893"),
        task("Task", owner_id="u-1"),
        channel_message("Chat", "Hello", owner_id="u-1"),
    ]
    for event in events:
        document = SOURCE_OF_EVENT[type(event)].convert(event)
        assert document is not None
        assert set(document.source) <= mapped, type(event).__name__


def test_identifiers_stored_normalized() -> None:
    person = contact_document(contact("Anna", phones=["8 999 000 00 01"], emails=["A@B.example"]))
    entity = legal_entity_document(legal_entity("ООО Ромашка", "7707 083 893"))
    assert person.source["phones"] == ["+79990000001"]
    assert person.source["emails"] == ["a@b.example"]
    assert entity.source["tax_ids"] == ["7707083893"]


def test_custom_fields_bounded() -> None:
    fields = {f"field_{number:03}": "x" * 1000 for number in range(500)}
    pairs = custom_pairs(fields)
    assert len(pairs) == CUSTOM_PAIRS_MAX
    assert max(len(pair) for pair in pairs) == len("field_000=") + CUSTOM_VALUE_MAX_CHARS


def test_deleted_deal_marked() -> None:
    document = deal_document(deal("Gone", version=2, deleted=True))
    assert document.deleted
    assert document.version == 2


def test_task_access_lists_participants() -> None:
    document = task_document(task("T", owner_id="u-owner", creator_id="u-boss", observers=["u-watch"]))
    assert document.source["access_users"] == ["u-boss", "u-owner", "u-watch"]


def test_form_request_not_a_conversation() -> None:
    form = channel_message("Form", "text", owner_id="u-1", source="form")
    assert SOURCE_OF_EVENT[type(form)].convert(form) is None


def test_admin_filter_matches_all() -> None:
    assert access_filter(Principal(user_id="u-1", roles=["admin"])) == {"match_all": {}}


def test_user_filter_lists_each_grant() -> None:
    user = Principal(user_id="u-1", department="sales", workgroups=["wg-1"])
    allowed = access_filter(user)["bool"]["should"]
    assert {"term": {"access_users": "u-1"}} in allowed
    assert {"term": {"linked_users": "u-1"}} in allowed
    assert {"term": {"public": True}} in allowed
    assert len(allowed) == 6


def test_user_filter_department_needs_membership() -> None:
    user = Principal(user_id="u-1", department="sales", workgroups=["wg-1"])
    department = access_filter(user)["bool"]["should"][3]["bool"]
    assert {"term": {"department": "sales"}} in department["filter"]
    member = department["filter"][1]["bool"]["should"]
    assert {"bool": {"must_not": [{"exists": {"field": "workgroups"}}]}} in member
    assert {"terms": {"workgroups": ["wg-1"]}} in member
    assert department["must_not"] == [{"terms": {"type": ["task"]}}]


def test_filter_inside_query_and_aggregation() -> None:
    body = search_body(Principal(user_id="u-1", department="sales"), "договор", 20, None)
    assert body["query"]["bool"]["filter"] == [access_filter(Principal(user_id="u-1", department="sales"))]
    assert "post_filter" not in body


def test_cursor_round_trip() -> None:
    values = [1.25, f"deal:{uuid.uuid4()}"]
    assert decode_cursor(encode_cursor(values)) == values


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "WzFd", "WyJhIiwgImIiXQ"])
def test_bad_cursor_rejected(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor)


def test_custom_values_of_any_type() -> None:
    assert custom_pairs({"budget": 100, "tags": ["a", "b"], "empty": None}) == ["budget=100", "tags=a", "tags=b"]

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.crm import DealCreated, DealEvent, DealUpdated
from contracts.topics import Topic, dead_letter_topic
from tests.factories import deal_event

pytestmark = pytest.mark.unit


def test_envelope_round_trips_through_json() -> None:
    event = deal_event(uuid.uuid4(), 1, "Поставка оборудования 🚚")
    parsed: DealCreated | DealUpdated = TypeAdapter(DealEvent).validate_json(event.model_dump_json())
    assert isinstance(parsed, DealCreated)
    assert parsed == event


def test_event_type_selects_model() -> None:
    event = deal_event(uuid.uuid4(), 2, "Renamed")
    parsed: DealCreated | DealUpdated = TypeAdapter(DealEvent).validate_python(event.model_dump(mode="json"))
    assert isinstance(parsed, DealUpdated)


def test_occurred_at_is_stored_in_utc() -> None:
    event = deal_event(uuid.uuid4(), 1, "Deal")
    moscow = timezone(timedelta(hours=3))
    shifted = event.model_copy(update={}).model_validate(
        {**event.model_dump(), "occurred_at": datetime(2026, 12, 4, 15, 0, tzinfo=moscow)}
    )
    assert shifted.occurred_at == datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert shifted.occurred_at.utcoffset() == timedelta(0)


def test_naive_occurred_at_is_rejected() -> None:
    event = deal_event(uuid.uuid4(), 1, "Deal")
    with pytest.raises(ValidationError, match="occurred_at"):
        DealCreated.model_validate({**event.model_dump(), "occurred_at": datetime(2026, 12, 4, 12, 0)})


def test_aggregate_version_starts_at_one() -> None:
    event = deal_event(uuid.uuid4(), 1, "Deal")
    with pytest.raises(ValidationError, match="aggregate_version"):
        DealCreated.model_validate({**event.model_dump(), "aggregate_version": 0})


def test_headers_carry_type_and_correlation() -> None:
    event = deal_event(uuid.uuid4(), 1, "Deal")
    headers = event.headers(traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert headers["event_type"] == "crm.deal.created"
    assert headers["event_id"] == str(event.event_id)
    assert headers["correlation_id"] == event.correlation_id
    assert headers["traceparent"].startswith("00-aaaa")


def test_topic_names_follow_service_dot_plural() -> None:
    for topic in Topic:
        service, _, aggregates = topic.value.partition(".")
        assert service in {"crm", "tasks", "documents", "intake", "extranet"}
        assert aggregates.endswith(("s", "access"))
    assert dead_letter_topic(Topic.CRM_DEALS) == "crm.deals.dlq"

import uuid

import pytest

from servicekit.outbox import MAX_EVENT_BYTES, EventTooLarge, record_event
from tests.factories import deal_event

pytestmark = pytest.mark.unit


class RecordingSession:
    def __init__(self) -> None:
        self.added: list[object] = []

    def add(self, item: object) -> None:
        self.added.append(item)


def test_event_goes_to_outbox_with_headers() -> None:
    session = RecordingSession()
    event = deal_event(uuid.uuid4(), 1, "Поставка")
    message = record_event(session, "crm.deals", event)  # type: ignore[arg-type]
    assert session.added == [message]
    assert message.key == str(event.aggregate_id)
    assert message.headers["event_id"] == str(event.event_id)
    assert message.headers["traceparent"].startswith("00-")


def test_oversized_event_is_rejected() -> None:
    session = RecordingSession()
    event = deal_event(uuid.uuid4(), 1, "x" * (MAX_EVENT_BYTES + 1))
    with pytest.raises(EventTooLarge, match="over the limit"):
        record_event(session, "crm.deals", event)  # type: ignore[arg-type]
    assert session.added == []

"""The live board's pure parts: Last-Event-ID parsing, event framing, totals and change log rows."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from services.crm.board import totals
from services.crm.boardlog import _change_row, _Placement
from services.crm.live import format_event, parse_last_event_id
from services.crm.tables import Deal, Stage

pytestmark = pytest.mark.unit

PIPELINE = uuid.uuid4()
OTHER_PIPELINE = uuid.uuid4()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("42", None),
        (f"{OTHER_PIPELINE}:42", None),
        (f"{PIPELINE}:", None),
        (f"{PIPELINE}:-1", None),
        (f"{PIPELINE}:1.5", None),
        (f"{PIPELINE}:0", 0),
        (f" {PIPELINE}:42 ", 42),
    ],
)
def test_last_event_id_parsing(header: str | None, expected: int | None) -> None:
    assert parse_last_event_id(header, PIPELINE) == expected


def test_event_is_one_data_line() -> None:
    text = format_event("update", PIPELINE, 7, {"title": "Строка\nвторая", "emoji": "🚀"})
    lines = text.split("\n")
    assert lines[:2] == ["event: update", f"id: {PIPELINE}:7"]
    assert lines[2].startswith("data: ")
    assert json.loads(lines[2][6:]) == {"title": "Строка\nвторая", "emoji": "🚀"}
    assert text.endswith("\n\n")


def test_totals_per_stage_and_currency() -> None:
    first, second = Stage(id=uuid.uuid4()), Stage(id=uuid.uuid4())
    deals = [
        Deal(stage_id=first.id, amount=Decimal("10.50"), currency="RUB", markers=[{"kind": "no_next_step"}]),
        Deal(stage_id=first.id, amount=Decimal("2.00"), currency="EUR", markers=[]),
        Deal(stage_id=first.id, amount=Decimal("1.50"), currency="RUB", markers=[{"kind": "no_next_step"}]),
        Deal(stage_id=first.id, amount=None, currency=None, markers=[{"kind": "stale_in_stage"}]),
    ]
    result = totals([first, second], deals)
    assert result["stages"][str(first.id)] == {
        "count": 4,
        "sums": {"EUR": "2.00", "RUB": "12.00"},
        "markers": {"no_next_step": 2, "stale_in_stage": 1},
    }
    assert result["stages"][str(second.id)] == {"count": 0, "sums": {}, "markers": {}}
    assert result["markers"] == {"no_next_step": 2, "stale_in_stage": 1}


def placement(pipeline: uuid.UUID, *, deleted: bool = False, department: str = "sales") -> _Placement:
    return _Placement(pipeline, deleted, "u-1", department, None)


def test_change_row_of_created_deal() -> None:
    row = _change_row(uuid.uuid4(), PIPELINE, None, placement(PIPELINE))
    assert row is not None
    assert (row["was_present"], row["is_present"], row["was_department"]) == (False, True, None)


def test_change_rows_of_pipeline_move() -> None:
    was, now = placement(PIPELINE), placement(OTHER_PIPELINE)
    left = _change_row(uuid.uuid4(), PIPELINE, was, now)
    entered = _change_row(uuid.uuid4(), OTHER_PIPELINE, was, now)
    assert left is not None
    assert entered is not None
    assert (left["was_present"], left["is_present"], left["was_department"]) == (True, False, "sales")
    assert (entered["was_present"], entered["is_present"]) == (False, True)


def test_change_row_of_deleted_deal() -> None:
    row = _change_row(uuid.uuid4(), PIPELINE, placement(PIPELINE), placement(PIPELINE, deleted=True))
    assert row is not None
    assert (row["was_present"], row["is_present"]) == (True, False)
    gone = placement(PIPELINE, deleted=True)
    assert _change_row(uuid.uuid4(), PIPELINE, gone, gone) is None


def test_change_row_keeps_previous_owner() -> None:
    row = _change_row(uuid.uuid4(), PIPELINE, placement(PIPELINE), placement(PIPELINE, department="support"))
    assert row is not None
    assert row["was_department"] == "sales"

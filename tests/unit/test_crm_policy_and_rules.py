"""CRM's access policy, custom field types, stage rules and markers, without I/O."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from servicekit.auth import Principal
from services.crm.access import DEFAULT_ROLES, AccessPolicy, Level, validate_roles
from services.crm.common import invalid
from services.crm.markers import DealFacts, compute_markers
from services.crm.rules import (
    STANDARD_FIELD_TYPES,
    STANDARD_FIELDS,
    FieldSpec,
    exit_value,
    exit_value_matches,
    missing_to_enter,
    unmet_exit_conditions,
    validate_custom_fields,
)

pytestmark = pytest.mark.unit


@dataclass
class Record:
    owner_id: str | None
    department: str | None


POLICY = AccessPolicy(
    {
        **DEFAULT_ROLES,
        "auditor": {"deal": {"read": "all"}, "deal:vip": {"read": "none"}},
        "intern": {"deal:sales": {"update": "own"}},
    }
)
SALES = Principal(user_id="u-1", department="sales")
OTHER = Principal(user_id="u-2", department="support")


def test_department_level_reads_department() -> None:
    record = Record("u-9", "sales")
    assert POLICY.check(SALES, "deal", "read", record).allowed
    denied = POLICY.check(OTHER, "deal", "read", record)
    assert not denied.allowed
    assert "another department" in denied.reason


def test_own_level_needs_ownership() -> None:
    assert POLICY.check(SALES, "company", "delete", Record("u-1", "support")).allowed
    assert not POLICY.check(SALES, "company", "delete", Record("u-9", "sales")).allowed


def test_admin_may_do_everything() -> None:
    admin = Principal(user_id="a", roles=["admin"])
    assert POLICY.level(admin, "pipeline", "delete") == Level.ALL
    assert POLICY.check(admin, "deal", "delete", Record("x", "y"), workgroup="secret").allowed


def test_pipeline_rights_override_deal_rights() -> None:
    auditor = Principal(user_id="u-3", department="audit", roles=["auditor"])
    assert POLICY.check(auditor, "deal", "read", Record("x", "sales"), pipeline_key="sales").allowed
    # The base role still grants department reads, so the vip override only lowers the auditor's own entry.
    assert POLICY.level(auditor, "deal", "read", pipeline_key="vip") == Level.DEPARTMENT


def test_workgroup_needs_membership() -> None:
    record = Record("u-9", "sales")
    denied = POLICY.check(SALES, "deal", "read", record, workgroup="tender")
    assert not denied.allowed
    assert "tender" in denied.reason
    member = Principal(user_id="u-1", department="sales", workgroups=["tender"])
    assert POLICY.check(member, "deal", "read", record, workgroup="tender").allowed


def test_pipeline_config_needs_rights() -> None:
    assert POLICY.level(SALES, "pipeline", "create") == Level.NONE
    assert not POLICY.check(SALES, "pipeline", "create").allowed


def test_bad_role_config_rejected() -> None:
    with pytest.raises(ValueError, match="unknown level"):
        validate_roles({"x": {"deal": {"read": "everything"}}})
    with pytest.raises(ValueError, match="unknown entity"):
        validate_roles({"x": {"invoice": {"read": "all"}}})


SPECS = {
    "budget": FieldSpec("budget", "money"),
    "size": FieldSpec("size", "number"),
    "start": FieldSpec("start", "date"),
    "tier": FieldSpec("tier", "choice", ("a", "b")),
    "signed": FieldSpec("signed", "yes_no"),
    "manager": FieldSpec("manager", "user"),
    "note": FieldSpec("note", "text"),
}


def test_custom_fields_coerced() -> None:
    values, errors = validate_custom_fields(
        SPECS,
        {"note": "old"},
        {
            "budget": {"amount": 10.5, "currency": "USD"},
            "size": 3,
            "start": "2027-01-31",
            "tier": "b",
            "signed": False,
            "manager": " u-5 ",
            "note": None,
        },
    )
    assert errors == []
    assert values == {
        "budget": {"amount": "10.5", "currency": "USD"},
        "size": 3,
        "start": "2027-01-31",
        "tier": "b",
        "signed": False,
        "manager": "u-5",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("budget", {"amount": "x", "currency": "USD"}),
        ("budget", {"amount": "1", "currency": "usd"}),
        ("size", True),
        ("size", "3"),
        ("start", "31.01.2027"),
        ("tier", "c"),
        ("signed", "yes"),
        ("manager", ""),
        ("unknown", 1),
    ],
)
def test_custom_field_rejects(key: str, value: object) -> None:
    _, errors = validate_custom_fields(SPECS, {}, {key: value})
    [(field, _reason)] = errors
    assert field == f"custom_fields.{key}"


def test_stage_rules_name_fields() -> None:
    values = {"amount": None, "signed": False, "budget": {"amount": "1", "currency": "EUR"}}
    assert [f for f, _ in missing_to_enter(["amount", "budget"], values, "Proposal")] == ["amount"]
    errors = unmet_exit_conditions([{"field": "signed", "equals": True}, {"field": "note"}], values, "Talks")
    assert [f for f, _ in errors] == ["custom_fields.signed", "custom_fields.note"]
    assert unmet_exit_conditions([{"field": "signed", "equals": False}], values, "Talks") == []


def test_standard_fields_have_types() -> None:
    assert set(STANDARD_FIELD_TYPES) == STANDARD_FIELDS


CONTACT = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f0001")


@pytest.mark.parametrize(
    ("key", "equals", "deal_value"),
    [
        ("amount", "1500", Decimal("1500.00")),
        ("amount", 10.5, Decimal("10.50")),
        ("currency", "EUR", "EUR"),
        ("company_id", str(CONTACT).upper(), CONTACT),
        ("contact_ids", [str(CONTACT)], [CONTACT]),
        ("signed", False, False),
        ("budget", {"amount": "10", "currency": "EUR"}, {"amount": "10.00", "currency": "EUR"}),
    ],
)
def test_exit_value_matches_deal_value(key: str, equals: object, deal_value: object) -> None:
    assert exit_value_matches(deal_value, exit_value(key, equals, SPECS))


@pytest.mark.parametrize(
    ("key", "equals"),
    [
        ("amount", {"a": 1}),
        ("amount", True),
        ("amount", "-1"),
        ("amount", "1.001"),
        ("currency", "eur"),
        ("owner_id", 7),
        ("company_id", "not-an-id"),
        ("contact_ids", []),
        ("next_step_due_at", "2030-01-01"),
        ("signed", "yes"),
        ("tier", "c"),
        ("unknown", 1),
    ],
)
def test_exit_value_rejects_unmatchable(key: str, equals: object) -> None:
    with pytest.raises(ValueError):
        exit_value(key, equals, SPECS)


def test_exit_value_match_keeps_types_apart() -> None:
    assert not exit_value_matches(True, 1)
    assert not exit_value_matches(Decimal("1"), True)
    assert not exit_value_matches(Decimal("1.00"), "1.01")
    assert not exit_value_matches({"amount": "10", "currency": "EUR"}, {"amount": "10", "currency": "USD"})


def test_invalid_names_each_error_once() -> None:
    reason = "required to enter stage 'Proposal'"
    error = invalid(("amount", reason), ("amount", reason), ("next_step", reason))
    assert error.details["errors"] == [
        {"field": "amount", "reason": reason},
        {"field": "next_step", "reason": reason},
    ]
    assert error.message.count("amount:") == 1


NOW = datetime(2027, 1, 10, tzinfo=UTC)


def facts(**changes: object) -> DealFacts:
    base: dict[str, object] = {
        "is_open": True,
        "now": NOW,
        "next_step": "Call",
        "next_step_due_at": NOW + timedelta(days=1),
        "has_open_task": False,
        "stage_entered_at": NOW - timedelta(days=1),
        "stage_max_days": 3,
        "attention_task_id": None,
        "attention_since": None,
    }
    return DealFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_markers_of_open_deal() -> None:
    assert compute_markers(facts()) == []
    task_id = uuid.uuid4()
    kinds = [
        m.kind
        for m in compute_markers(
            facts(next_step=None, stage_entered_at=NOW - timedelta(days=4), attention_task_id=task_id)
        )
    ]
    assert kinds == ["task_result", "no_next_step", "stale_in_stage"]
    assert [m.kind for m in compute_markers(facts(next_step_due_at=NOW - timedelta(hours=1)))] == ["next_step_overdue"]
    assert compute_markers(facts(next_step=None, has_open_task=True)) == []


def test_closed_deal_has_no_markers() -> None:
    assert compute_markers(facts(is_open=False, next_step=None)) == []


def test_snooze_hides_until_date() -> None:
    snoozed = facts(next_step=None, snoozed_until={"no_next_step": NOW + timedelta(days=1)})
    assert compute_markers(snoozed) == []
    expired = facts(next_step=None, snoozed_until={"no_next_step": NOW - timedelta(seconds=1)})
    assert [m.kind for m in compute_markers(expired)] == ["no_next_step"]

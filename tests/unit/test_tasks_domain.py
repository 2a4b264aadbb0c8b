"""Rules of a task without I/O: status machine, result rule, client reference and visibility."""

from __future__ import annotations

import uuid

import pytest

from contracts.tasks import ClientReference, TaskResult
from servicekit.auth import Principal
from services.tasks import domain
from services.tasks.errors import ClientMismatch, InvalidTransition, ResultRequired

pytestmark = pytest.mark.unit

STATUSES = ("new", "in_progress", "done", "accepted", "returned", "cancelled")
LEGAL = {
    ("new", "start"): "in_progress",
    ("new", "complete"): "done",
    ("new", "cancel"): "cancelled",
    ("in_progress", "complete"): "done",
    ("in_progress", "cancel"): "cancelled",
    ("done", "accept"): "accepted",
    ("done", "return"): "returned",
    ("done", "cancel"): "cancelled",
    ("returned", "start"): "in_progress",
    ("returned", "complete"): "done",
    ("returned", "cancel"): "cancelled",
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(domain.TRANSITIONS))
def test_transition_table(status: str, action: domain.TaskAction) -> None:
    expected = LEGAL.get((status, action))
    if expected is not None:
        assert domain.next_status(status, action) == expected  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidTransition) as raised:
        domain.next_status(status, action)  # type: ignore[arg-type]
    assert raised.value.details["status"] == status
    assert f"current status is {status!r}" in raised.value.message


def test_closed_task_allows_nothing() -> None:
    with pytest.raises(InvalidTransition, match="none, the task is closed"):
        domain.next_status("accepted", "start")


@pytest.mark.parametrize(
    ("result", "required", "passes"),
    [
        (None, True, False),
        (TaskResult(text="  "), True, False),
        (TaskResult(text="Sent"), True, True),
        (TaskResult(text="", file_ids=[uuid.uuid4()]), True, True),
        (None, False, True),
    ],
)
def test_result_rule(result: TaskResult | None, required: bool, passes: bool) -> None:
    task_id, deal_id = uuid.uuid4(), uuid.uuid4()
    if passes:
        domain.check_result(task_id, deal_id, required, result)
        return
    with pytest.raises(ResultRequired, match=f"created from deal {deal_id}"):
        domain.check_result(task_id, deal_id, required, result)


COMPANY, OTHER_COMPANY = uuid.uuid4(), uuid.uuid4()
CONTACT, OTHER_CONTACT = uuid.uuid4(), uuid.uuid4()
PROJECT = uuid.uuid4()
DEAL = domain.DealClient(
    deal_id=uuid.uuid4(),
    company_id=COMPANY,
    primary_contact_id=CONTACT,
    contact_ids=frozenset({CONTACT}),
    project_id=PROJECT,
)


def test_deal_fills_client() -> None:
    resolved = domain.resolve_client(ClientReference(deal_id=DEAL.deal_id), deal=DEAL)

    assert resolved == ClientReference(company_id=COMPANY, contact_id=CONTACT, project_id=PROJECT, deal_id=DEAL.deal_id)


@pytest.mark.parametrize(
    ("requested", "field"),
    [
        (ClientReference(company_id=OTHER_COMPANY), "client.company_id"),
        (ClientReference(contact_id=OTHER_CONTACT), "client.contact_id"),
        (ClientReference(project_id=uuid.uuid4()), "client.project_id"),
    ],
)
def test_deal_conflict_rejected(requested: ClientReference, field: str) -> None:
    with pytest.raises(ClientMismatch) as raised:
        domain.resolve_client(requested.model_copy(update={"deal_id": DEAL.deal_id}), deal=DEAL)

    assert raised.value.details["field"] == field
    assert str(DEAL.deal_id) in raised.value.message


def test_contact_company_conflict_rejected() -> None:
    with pytest.raises(ClientMismatch, match=f"belongs to company {COMPANY}, not to company {OTHER_COMPANY}"):
        domain.resolve_client(ClientReference(company_id=OTHER_COMPANY, contact_id=CONTACT), contact_company_id=COMPANY)


def test_contact_fills_company() -> None:
    resolved = domain.resolve_client(ClientReference(contact_id=CONTACT), contact_company_id=COMPANY)

    assert resolved.company_id == COMPANY


def test_deal_without_client_takes_given_one() -> None:
    bare = domain.DealClient(deal_id=uuid.uuid4(), company_id=None, primary_contact_id=None)

    resolved = domain.resolve_client(ClientReference(deal_id=bare.deal_id, company_id=COMPANY), deal=bare)

    assert resolved.company_id == COMPANY


def test_follow_keeps_contact_still_on_deal() -> None:
    moved = domain.DealClient(
        deal_id=DEAL.deal_id,
        company_id=OTHER_COMPANY,
        primary_contact_id=OTHER_CONTACT,
        contact_ids=frozenset({OTHER_CONTACT, CONTACT}),
    )
    current = ClientReference(company_id=COMPANY, contact_id=CONTACT, project_id=PROJECT, deal_id=DEAL.deal_id)

    assert domain.follow_deal(current, moved) == ClientReference(
        company_id=OTHER_COMPANY, contact_id=CONTACT, project_id=None, deal_id=DEAL.deal_id
    )


def test_follow_takes_new_primary_contact() -> None:
    moved = domain.DealClient(
        deal_id=DEAL.deal_id, company_id=OTHER_COMPANY, primary_contact_id=OTHER_CONTACT, contact_ids=frozenset()
    )
    current = ClientReference(company_id=COMPANY, contact_id=CONTACT, deal_id=DEAL.deal_id)

    assert domain.follow_deal(current, moved).contact_id == OTHER_CONTACT


AUDIENCE = domain.TaskAudience(
    creator_id="u-creator",
    owner_id="u-owner",
    observer_ids=frozenset({"u-observer"}),
    workgroup="wg",
    deal_readable=False,
)


@pytest.mark.parametrize(
    ("user", "deal_readable", "grant"),
    [
        (Principal(user_id="u-admin", roles=["admin"]), False, "admin"),
        (Principal(user_id="u-creator"), False, "creator"),
        (Principal(user_id="u-owner"), False, "owner"),
        (Principal(user_id="u-observer"), False, "observer"),
        (Principal(user_id="u-member", workgroups=["wg"]), False, "workgroup"),
        (Principal(user_id="u-seller"), True, "deal"),
        (Principal(user_id="u-outsider", department="sales", workgroups=["other"]), False, None),
    ],
)
def test_visibility_grant(user: Principal, deal_readable: bool, grant: str | None) -> None:
    audience = domain.TaskAudience(**{**AUDIENCE.__dict__, "deal_readable": deal_readable})

    assert domain.visibility_grant(user, audience) == grant


@pytest.mark.parametrize(
    ("user", "readable"),
    [
        (Principal(user_id="u-1"), True),
        (Principal(user_id="u-2", department="sales", workgroups=["wg"]), True),
        (Principal(user_id="u-2", department="sales"), False),
        (Principal(user_id="u-3", workgroups=["wg"]), False),
        (Principal(user_id="u-3", department="ops", workgroups=["wg"]), False),
        (Principal(user_id="u-4", roles=["admin"]), True),
        (Principal(user_id="u-5", department="ops", workgroups=["other"]), False),
    ],
)
def test_record_read_rule(user: Principal, readable: bool) -> None:
    assert domain.may_read_record(user, "u-1", "sales", "wg") is readable


def test_record_without_workgroup_readable_by_department() -> None:
    assert domain.may_read_record(Principal(user_id="u-2", department="sales"), "u-1", "sales", None)


def test_record_without_owner_is_hidden() -> None:
    assert not domain.may_read_record(Principal(user_id="u-1"), None, None, None)

"""The sharing policy's rules, the view diff and the portal pages, without I/O."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.extranet.pages import overview_page
from services.extranet.policy import DealFields, SharingPolicy, deal_view, task_view
from services.extranet.tables import SourceDeal, SourceTask
from services.extranet.view import PortalDeal, PortalView, diff_views

pytestmark = pytest.mark.unit

COMPANY = uuid.uuid4()
PIPELINE = uuid.uuid4()


def source_deal(**changes: object) -> SourceDeal:
    values: dict[str, object] = {
        "deal_id": uuid.uuid4(),
        "company_id": COMPANY,
        "pipeline_id": PIPELINE,
        "title": "Website redesign",
        "stage_name": "Proposal",
        "stage_semantics": "in_progress",
        "next_step": "Sign the contract",
        "amount": Decimal("1200.00"),
        "currency": "EUR",
        "deleted": False,
    }
    values.update(changes)
    return SourceDeal(**values)


def test_policy_shares_nothing_by_default() -> None:
    policy = SharingPolicy()
    assert deal_view(policy, source_deal()) is None
    task = SourceTask(task_id=uuid.uuid4(), company_id=COMPANY, visible_to_client=True, title="T", status="new")
    assert task_view(policy, task) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"deals": "chosen"}, "deal_ids"),
        ({"deals": "pipelines"}, "pipeline_ids"),
        ({"deals": "some"}, "deals"),
        ({"comments": True}, "comments"),
    ],
)
def test_policy_rejects_invalid_input(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        SharingPolicy.model_validate(body)
    assert message in str(error.value)


def test_deal_fields_follow_policy() -> None:
    hidden = deal_view(SharingPolicy(deals="all", deal_fields=DealFields(stage=False)), source_deal())
    assert hidden is not None
    assert hidden.stage_name is None
    assert hidden.next_step is None
    assert hidden.amount is None
    assert hidden.currency is None

    shown = deal_view(
        SharingPolicy(deals="all", deal_fields=DealFields(stage=True, next_step=True, amount=True)), source_deal()
    )
    assert shown is not None
    assert shown.stage_name == "Proposal"
    assert shown.next_step == "Sign the contract"
    assert shown.amount == Decimal("1200.00")


def test_deal_selection_by_pipeline_and_choice() -> None:
    deal = source_deal()
    assert deal_view(SharingPolicy(deals="pipelines", pipeline_ids=[PIPELINE]), deal) is not None
    assert deal_view(SharingPolicy(deals="pipelines", pipeline_ids=[uuid.uuid4()]), deal) is None
    assert deal_view(SharingPolicy(deals="chosen", deal_ids=[deal.deal_id]), deal) is not None
    assert deal_view(SharingPolicy(deals="all"), source_deal(deleted=True)) is None


def test_unflagged_task_is_not_shown() -> None:
    task = SourceTask(task_id=uuid.uuid4(), company_id=COMPANY, visible_to_client=False, title=None, status=None)
    assert task_view(SharingPolicy(tasks=True), task) is None


def test_diff_names_new_records_fields_and_hidden() -> None:
    kept, added, dropped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    current = PortalView(company_id=COMPANY, deals=[PortalDeal(id=kept, title="A"), PortalDeal(id=dropped, title="C")])
    proposed = PortalView(
        company_id=COMPANY,
        deals=[PortalDeal(id=kept, title="A", amount=Decimal(5), currency="EUR"), PortalDeal(id=added, title="B")],
    )
    diff = diff_views(current, proposed)
    assert [deal.id for deal in diff.newly_exposed.deals] == [added]
    assert diff.newly_exposed_fields == [f"deal {kept}: amount", f"deal {kept}: currency"]
    assert diff.hidden == [f"deals {dropped}"]


def test_overview_page_escapes_values() -> None:
    view = PortalView(
        company_id=COMPANY, company_name="<b>Acme</b>", deals=[PortalDeal(id=uuid.uuid4(), title="<script>")]
    )
    html = overview_page(view, "anna@client.example", "csrf-token")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;Acme&lt;/b&gt;" in html

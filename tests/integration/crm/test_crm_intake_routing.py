"""Deals from accepted inquiries honor intake's routing and fall back, noting why, on unknown keys."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.envelope import Actor, ActorType
from contracts.intake import InquiryContact, IntakeRequest, RequestAccepted
from tests.integration.crm.conftest import ADMIN, OTHER, SALES, Crm
from tests.support import eventually

pytestmark = pytest.mark.integration


def accepted(
    pipeline_key: str | None, stage_key: str | None, owner_id: str | None = None, department: str | None = None
) -> RequestAccepted:
    request_id = uuid.uuid4()
    return RequestAccepted(
        producer="intake",
        aggregate_id=request_id,
        aggregate_version=1,
        correlation_id=str(uuid.uuid4()),
        actor=Actor(type=ActorType.CHANNEL, id="website-contact"),
        data=IntakeRequest(
            id=request_id,
            received_at=datetime.now(UTC),
            source="form",
            form_key="website-contact",
            title="Request from website-contact",
            contact=InquiryContact(name="Anna", phone="+79990000001"),
            pipeline_key=pipeline_key,
            stage_key=stage_key,
            owner_id=owner_id,
            department=department,
        ),
    )


async def deal_of(crm: Crm, event: RequestAccepted) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]]:
        response = await crm.client.get("/deals", params={"request_id": str(event.data.id)}, headers=ADMIN)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    [deal] = await eventually(found, timeout=30)
    result: dict[str, Any] = deal
    return result


async def test_routing_and_fallbacks(crm: Crm) -> None:
    routed = accepted("sales", "Qualified", owner_id="u-7")
    unknown_stage = accepted("sales", "Nope")
    unknown_pipeline = accepted("missing", "Qualified")
    await crm.publish("intake.requests", [routed, unknown_stage, unknown_pipeline])

    deal = await deal_of(crm, routed)
    assert deal["stage_name"] == "Qualified"
    assert deal["owner_id"] == "u-7"
    assert deal["source"]["request_id"] == str(routed.data.id)

    fallback = await deal_of(crm, unknown_stage)
    assert fallback["stage_name"] == "New"
    timeline = (await crm.client.get(f"/deals/{fallback['id']}/timeline", headers=ADMIN)).json()["items"]
    [note] = [entry for entry in timeline if entry["kind"] == "routing_fallback"]
    assert note["data"]["reason"] == "unknown_stage"
    assert note["cause"]["type"] == "request"

    other = await deal_of(crm, unknown_pipeline)
    assert other["stage_name"] == "Qualified"
    timeline = (await crm.client.get(f"/deals/{other['id']}/timeline", headers=ADMIN)).json()["items"]
    assert [e["data"]["reason"] for e in timeline if e["kind"] == "routing_fallback"] == ["unknown_pipeline"]


async def test_inquiry_deal_gets_department(crm: Crm) -> None:
    routed = accepted("sales", None, department="support")
    unrouted = accepted("sales", None)
    await crm.publish("intake.requests", [routed, unrouted])

    support_deal = await deal_of(crm, routed)
    default_deal = await deal_of(crm, unrouted)

    assert support_deal["department"] == "support"
    assert default_deal["department"] == "sales"
    assert default_deal["owner_id"] is None
    assert (await crm.client.get(f"/deals/{default_deal['id']}", headers=SALES)).status_code == 200
    assert (await crm.client.get(f"/deals/{default_deal['id']}", headers=OTHER)).status_code == 403
    assert (await crm.client.get(f"/deals/{support_deal['id']}", headers=OTHER)).status_code == 200


@pytest.mark.parametrize("crm_overrides", [{"inquiry_department": "inbound"}])
async def test_inquiry_department_setting(crm: Crm) -> None:
    unrouted = accepted("sales", None)
    await crm.publish("intake.requests", [unrouted])

    deal = await deal_of(crm, unrouted)

    assert deal["department"] == "inbound"


@pytest.mark.parametrize("crm_overrides", [{"inquiry_department": ""}])
async def test_ownerless_deal_names_admins(crm: Crm) -> None:
    unrouted = accepted("sales", None)
    await crm.publish("intake.requests", [unrouted])
    deal = await deal_of(crm, unrouted)
    assert deal["department"] is None

    denied = await crm.client.get(f"/deals/{deal['id']}", headers=SALES)

    assert denied.status_code == 403
    body = denied.json()
    assert body["reason"] == "the record has no owner or department"
    assert "ask an administrator" in body["message"]
    assert "ask its owner" not in body["message"]
    assert body["owner"] == {"id": None, "department": None}

    asked = await crm.client.post(
        "/access-requests",
        json={"record_type": "deal", "record_id": deal["id"], "reason": "Client called me"},
        headers=SALES,
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    incoming = (await crm.client.get("/access-requests", params={"box": "incoming"}, headers=ADMIN)).json()
    assert request_id in [item["id"] for item in incoming["items"]]
    others = (await crm.client.get("/access-requests", params={"box": "incoming"}, headers=OTHER)).json()
    assert request_id not in [item["id"] for item in others["items"]]

    granted = await crm.client.post(f"/access-requests/{request_id}/grant", json={"days": 1}, headers=ADMIN)
    assert granted.status_code == 200, granted.text
    assert (await crm.client.get(f"/deals/{deal['id']}", headers=SALES)).status_code == 200

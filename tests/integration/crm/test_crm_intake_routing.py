"""Deals from accepted inquiries honor intake's routing and fall back, noting why, on unknown keys."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.envelope import Actor, ActorType
from contracts.intake import InquiryContact, IntakeRequest, RequestAccepted
from tests.integration.crm.conftest import ADMIN, Crm
from tests.support import eventually

pytestmark = pytest.mark.integration


def accepted(pipeline_key: str | None, stage_key: str | None, owner_id: str | None = None) -> RequestAccepted:
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

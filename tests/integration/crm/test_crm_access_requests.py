"""Access requests: asking an owner for read access, grants in every read path, expiry and decline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.crm.tables import AccessRequest
from tests.integration.crm.conftest import ADMIN, OTHER, SALES, Crm, bearer, create, new_id

pytestmark = pytest.mark.integration

THIRD = bearer("u-third", department="finance")


async def hidden_company_deal(crm: Crm) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return support's company «Тайна» and a sales deal filed under it, which sales may not read."""
    company = await create(crm, "/companies", {"name": "ООО «Тайна» 🔒", "department": "support"}, headers=OTHER)
    deal = await create(
        crm,
        "/deals",
        {"title": "Поставка", "company_id": company["id"], "owner_id": "u-sales", "department": "sales"},
    )
    return company, deal


async def ask(crm: Crm, body: dict[str, Any], headers: dict[str, str] = SALES) -> dict[str, Any]:
    response = await crm.client.post("/access-requests", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def grant(crm: Crm, request_id: str, days: int = 7, headers: dict[str, str] = OTHER) -> dict[str, Any]:
    response = await crm.client.post(f"/access-requests/{request_id}/grant", json={"days": days}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def timeline_kinds(crm: Crm, deal_id: str) -> list[str]:
    response = await crm.client.get(f"/deals/{deal_id}/timeline", headers=ADMIN)
    return [entry["kind"] for entry in response.json()["items"]]


async def test_company_grant_opens_card_and_reads(crm: Crm) -> None:
    company, deal = await hidden_company_deal(crm)
    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=SALES)).json()
    assert card["company"]["status"] == "restricted"
    assert card["company"]["owner"] == {"id": "u-other", "department": "support"}

    body = {"record_type": "company", "record_id": company["id"], "reason": "Нужны реквизиты", "deal_id": deal["id"]}
    asked = await ask(crm, body)
    assert asked["status"] == "pending"
    assert asked["owner"] == {"id": "u-other", "department": "support"}
    assert asked["record"] == {"type": "company", "id": company["id"], "status": "restricted"}

    incoming = (await crm.client.get("/access-requests?box=incoming", headers=OTHER)).json()["items"]
    assert [item["id"] for item in incoming] == [asked["id"]]
    assert incoming[0]["record"]["name"] == "ООО «Тайна» 🔒"
    assert incoming[0]["reason"] == "Нужны реквизиты"
    assert incoming[0]["requester"]["id"] == "u-sales"

    granted = await grant(crm, asked["id"], days=7)
    assert granted["status"] == "granted"
    assert granted["days"] == 7
    expires = datetime.fromisoformat(granted["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=SALES)).json()
    assert card["company"]["status"] == "ok"
    assert card["company"]["record"]["name"] == "ООО «Тайна» 🔒"
    assert (await crm.client.get(f"/companies/{company['id']}", headers=SALES)).status_code == 200
    workspace = await crm.client.get(f"/companies/{company['id']}/workspace", headers=SALES)
    assert workspace.status_code == 200, workspace.text
    listed = (await crm.client.get("/companies", headers=SALES)).json()["items"]
    assert company["id"] in [item["id"] for item in listed]
    # A grant is for reading only.
    patched = await crm.client.patch(f"/companies/{company['id']}", json={"name": "Mine"}, headers=SALES)
    assert patched.status_code == 403

    outgoing = (await crm.client.get("/access-requests?box=outgoing", headers=SALES)).json()["items"]
    assert outgoing[0]["status"] == "granted"
    assert outgoing[0]["record"]["name"] == "ООО «Тайна» 🔒"
    kinds = await timeline_kinds(crm, deal["id"])
    assert kinds[-2:] == ["access_requested", "access_granted"]


async def test_deal_grant_in_list_workspace_board(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Shared client"}, headers=SALES)
    hidden = await create(
        crm,
        "/deals",
        {"title": "Support renewal", "company_id": company["id"], "owner_id": "u-other", "department": "support"},
    )
    listed = (await crm.client.get("/deals", headers=SALES)).json()["items"]
    assert hidden["id"] not in [item["id"] for item in listed]
    direct = await crm.client.get(f"/deals/{hidden['id']}", headers=SALES)
    assert direct.status_code == 403

    asked = await ask(crm, {"record_type": "deal", "record_id": hidden["id"], "reason": "Joint offer"})
    assert asked["deal_id"] == hidden["id"]
    await grant(crm, asked["id"], days=1)

    listed = (await crm.client.get("/deals", headers=SALES)).json()["items"]
    assert hidden["id"] in [item["id"] for item in listed]
    assert (await crm.client.get(f"/deals/{hidden['id']}/card", headers=SALES)).status_code == 200
    workspace = (await crm.client.get(f"/companies/{company['id']}/workspace", headers=SALES)).json()
    statuses = {item["id"]: item["status"] for item in workspace["deals"]["items"]}
    assert statuses[hidden["id"]] == "ok"
    board = (await crm.client.get(f"/pipelines/{hidden['pipeline_id']}/board", headers=SALES)).json()
    on_board = [deal["id"] for stage in board["stages"] for deal in stage["deals"]]
    assert hidden["id"] in on_board
    assert await timeline_kinds(crm, hidden["id"]) == ["created", "access_requested", "access_granted"]


async def test_grant_expiry_ends_access(crm: Crm) -> None:
    company, deal = await hidden_company_deal(crm)
    asked = await ask(crm, {"record_type": "company", "record_id": company["id"], "reason": "Invoice check"})
    await grant(crm, asked["id"], days=3)
    assert (await crm.client.get(f"/companies/{company['id']}", headers=SALES)).status_code == 200

    async with crm.runtime.sessionmaker() as session, session.begin():
        past = datetime.now(UTC) - timedelta(minutes=1)
        await session.execute(update(AccessRequest).where(AccessRequest.id == asked["id"]).values(expires_at=past))

    expired = await crm.client.get(f"/companies/{company['id']}", headers=SALES)
    assert expired.status_code == 403
    assert expired.json()["status"] == "restricted"
    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=SALES)).json()
    assert card["company"]["status"] == "restricted"
    assert "record" not in card["company"]
    outgoing = (await crm.client.get("/access-requests?box=outgoing", headers=SALES)).json()["items"]
    assert outgoing[0]["status"] == "expired"
    assert outgoing[0]["record"]["status"] == "restricted"
    only_expired = (await crm.client.get("/access-requests?status=expired", headers=SALES)).json()["items"]
    assert [item["id"] for item in only_expired] == [asked["id"]]
    # With the grant expired, a new request is allowed.
    again = await ask(crm, {"record_type": "company", "record_id": company["id"], "reason": "Still needed"})
    assert again["id"] != asked["id"]


async def test_decline_keeps_record_closed(crm: Crm) -> None:
    company, deal = await hidden_company_deal(crm)
    body = {"record_type": "company", "record_id": company["id"], "reason": "Curious", "deal_id": deal["id"]}
    asked = await ask(crm, body)
    declined = await crm.client.post(
        f"/access-requests/{asked['id']}/decline", json={"reason": "Не требуется для сделки"}, headers=OTHER
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert declined.json()["decision_reason"] == "Не требуется для сделки"
    assert declined.json()["decided_by"]["id"] == "u-other"

    assert (await crm.client.get(f"/companies/{company['id']}", headers=SALES)).status_code == 403
    again = await crm.client.post(f"/access-requests/{asked['id']}/grant", json={"days": 5}, headers=OTHER)
    assert again.status_code == 409
    assert "already declined" in again.json()["message"]
    timeline = (await crm.client.get(f"/deals/{deal['id']}/timeline", headers=ADMIN)).json()["items"]
    [entry] = [item for item in timeline if item["kind"] == "access_declined"]
    assert entry["data"]["reason"] == "Не требуется для сделки"
    assert entry["cause"]["id"] == "u-other"


async def test_decline_without_reason(crm: Crm) -> None:
    company, _deal = await hidden_company_deal(crm)
    asked = await ask(crm, {"record_type": "company", "record_id": company["id"], "reason": "Please"})
    declined = await crm.client.post(f"/access-requests/{asked['id']}/decline", headers=OTHER)
    assert declined.status_code == 200, declined.text
    assert declined.json()["decision_reason"] is None


async def test_only_owner_or_admin_decides(crm: Crm) -> None:
    company, _deal = await hidden_company_deal(crm)
    asked = await ask(crm, {"record_type": "company", "record_id": company["id"], "reason": "Need the contract"})

    for headers in (SALES, THIRD):
        refused = await crm.client.post(f"/access-requests/{asked['id']}/grant", json={"days": 7}, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["owner"] == {"id": "u-other", "department": "support"}
        assert "u-other" in refused.json()["message"]
    hidden = await crm.client.get(f"/access-requests/{asked['id']}", headers=THIRD)
    assert hidden.status_code == 403
    assert (await crm.client.get("/access-requests?box=incoming", headers=THIRD)).json()["items"] == []

    admin_view = (await crm.client.get("/access-requests?box=incoming", headers=ADMIN)).json()["items"]
    assert [item["id"] for item in admin_view] == [asked["id"]]
    granted = await grant(crm, asked["id"], days=90, headers=ADMIN)
    assert granted["decided_by"]["id"] == "u-admin"
    twice = await crm.client.post(f"/access-requests/{asked['id']}/decline", headers=OTHER)
    assert twice.status_code == 409
    assert twice.json()["status"] == "granted"


async def test_repeat_returns_pending_request(crm: Crm) -> None:
    company, _deal = await hidden_company_deal(crm)
    body = {"record_type": "company", "record_id": company["id"], "reason": "First"}
    first = await ask(crm, body)
    repeat = await crm.client.post("/access-requests", json={**body, "reason": "Second"}, headers=SALES)
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first["id"]
    assert repeat.json()["reason"] == "First"
    outgoing = (await crm.client.get("/access-requests", headers=SALES)).json()["items"]
    assert len(outgoing) == 1


async def test_readable_record_conflicts(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Own"}, headers=SALES)
    response = await crm.client.post(
        "/access-requests", json={"record_type": "company", "record_id": company["id"], "reason": "x"}, headers=SALES
    )
    assert response.status_code == 409
    assert response.json()["message"] == (f"you can already read company {company['id']}; no access request is needed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"record_type": "company", "reason": "x"}, "body.record_id"),
        ({"record_type": "invoice", "record_id": new_id(), "reason": "x"}, "body.record_type"),
        ({"record_type": "company", "record_id": new_id()}, "body.reason"),
        ({"record_type": "company", "record_id": new_id(), "reason": "   "}, "body.reason"),
        ({"record_type": "company", "record_id": new_id(), "reason": "x" * 2001}, "body.reason"),
    ],
)
async def test_bad_request_names_field(crm: Crm, body: dict[str, Any], field: str) -> None:
    response = await crm.client.post("/access-requests", json=body, headers=SALES)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_unknown_record_and_deal(crm: Crm) -> None:
    missing = await crm.client.post(
        "/access-requests", json={"record_type": "project", "record_id": new_id(), "reason": "x"}, headers=SALES
    )
    assert missing.status_code == 404
    assert missing.json()["status"] == "not_found"

    company, _deal = await hidden_company_deal(crm)
    other_deal = await create(crm, "/deals", {"title": "Unrelated"}, headers=SALES)
    unlinked = await crm.client.post(
        "/access-requests",
        json={"record_type": "company", "record_id": company["id"], "reason": "x", "deal_id": other_deal["id"]},
        headers=SALES,
    )
    assert unlinked.status_code == 422
    assert unlinked.json()["errors"][0]["field"] == "deal_id"


@pytest.mark.parametrize("days", [0, 91, -1])
async def test_grant_days_bounded(crm: Crm, days: int) -> None:
    company, _deal = await hidden_company_deal(crm)
    asked = await ask(crm, {"record_type": "company", "record_id": company["id"], "reason": "x"})
    response = await crm.client.post(f"/access-requests/{asked['id']}/grant", json={"days": days}, headers=OTHER)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["body.days"]
    unknown = await crm.client.post(f"/access-requests/{new_id()}/grant", json={"days": 3}, headers=OTHER)
    assert unknown.status_code == 404


async def test_concurrent_repeats_one_request(crm: Crm) -> None:
    company, _deal = await hidden_company_deal(crm)
    body = {"record_type": "company", "record_id": company["id"], "reason": "Same moment"}
    responses = await asyncio.gather(*(crm.client.post("/access-requests", json=body, headers=SALES) for _ in range(5)))
    assert sorted(response.status_code for response in responses) == [200, 200, 200, 200, 201]
    assert len({response.json()["id"] for response in responses}) == 1
    outgoing = (await crm.client.get("/access-requests", headers=SALES)).json()["items"]
    assert len(outgoing) == 1

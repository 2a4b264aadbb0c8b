"""Rights configured per role and per pipeline, enforced by the HTTP API."""

from typing import Any

import pytest

from services.crm.access import DEFAULT_ROLES
from tests.integration.crm.conftest import Crm, bearer, create

pytestmark = pytest.mark.integration

ROLES = {
    **DEFAULT_ROLES,
    "employee": {**DEFAULT_ROLES["employee"], "deal": {"read": "own", "create": "all", "update": "own"}},
    "partner_manager": {"deal:partners": {"read": "all", "update": "all"}},
}
PARTNER_MANAGER = bearer("u-pm", department="partners", roles=["partner_manager"])
EMPLOYEE = bearer("u-emp", department="sales")


@pytest.fixture
def crm_overrides() -> dict[str, Any]:
    return {"access_roles": ROLES}


async def test_pipeline_rights_apply_per_pipeline(crm: Crm) -> None:
    await create(crm, "/pipelines", {"key": "partners", "name": "Partners", "stages": [{"name": "Intro"}]})
    partner_deal = await create(crm, "/deals", {"title": "Partner deal", "pipeline_key": "partners"})
    sales_deal = await create(crm, "/deals", {"title": "Sales deal"})

    readable = await crm.client.get(f"/deals/{partner_deal['id']}", headers=PARTNER_MANAGER)
    assert readable.status_code == 200
    hidden = await crm.client.get(f"/deals/{sales_deal['id']}", headers=PARTNER_MANAGER)
    assert hidden.status_code == 403
    assert hidden.json()["owner"] == {"id": "u-admin", "department": "sales"}

    # With read level "own", a colleague of the same department may no longer read the admin's deal.
    colleague = await crm.client.get(f"/deals/{sales_deal['id']}", headers=EMPLOYEE)
    assert colleague.status_code == 403
    assert colleague.json()["reason"] == "you may read only records you own"
    listed = (await crm.client.get("/deals", headers=EMPLOYEE)).json()["items"]
    assert listed == []


async def test_config_needs_pipeline_rights(crm: Crm) -> None:
    response = await crm.client.post(
        "/pipelines", json={"key": "x", "name": "X", "stages": [{"name": "A"}]}, headers=EMPLOYEE
    )
    assert response.status_code == 403
    assert "pipelines" in response.json()["message"]


async def test_owner_comments_and_updates(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Commented"}, headers=EMPLOYEE)
    assert [m["kind"] for m in deal["markers"]] == ["no_next_step"]
    commented = await crm.client.post(
        f"/deals/{deal['id']}/comments", json={"text": "Called, will send the offer"}, headers=EMPLOYEE
    )
    assert commented.status_code == 201, commented.text
    comments = (await crm.client.get(f"/deals/{deal['id']}/comments", headers=EMPLOYEE)).json()["items"]
    assert [c["text"] for c in comments] == ["Called, will send the offer"]
    updated = await crm.client.patch(f"/deals/{deal['id']}", json={"next_step": "Send offer"}, headers=EMPLOYEE)
    assert updated.json()["markers"] == []
    foreign = await crm.client.patch(f"/deals/{deal['id']}", json={"title": "Hijack"}, headers=PARTNER_MANAGER)
    assert foreign.status_code == 403
    events = await crm.events("crm.deals", deal["id"], 3)
    assert [e["aggregate_version"] for e in events] == [1, 2, 3]
    assert events[-1]["data"]["deal"]["next_step"] == "Send offer"

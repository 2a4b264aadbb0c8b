"""Consistency rules and stage rules of deals, each alone, with the events they leave on Kafka."""

from typing import Any

import pytest

from tests.integration.crm.conftest import ADMIN, Crm, create, new_id

pytestmark = pytest.mark.integration


async def client_setup(crm: Crm) -> dict[str, Any]:
    company = await create(crm, "/companies", {"name": "Romashka", "tax_id": "7701234567"})
    other = await create(crm, "/companies", {"name": "Vasilek"})
    entity = await create(crm, "/legal-entities", {"legal_name": "OOO Romashka", "company_id": company["id"]})
    other_entity = await create(crm, "/legal-entities", {"legal_name": "OOO Vasilek", "company_id": other["id"]})
    ours = await create(
        crm,
        "/legal-entities",
        {"legal_name": "Our Agency LLC", "is_own": True, "bank_accounts": [{"account": "40702810900000000001"}]},
    )
    return {"company": company, "other": other, "entity": entity, "other_entity": other_entity, "ours": ours}


async def test_client_records_publish_full_state(crm: Crm) -> None:
    setup = await client_setup(crm)
    contact = await create(
        crm, "/contacts", {"name": "Anna", "company_id": setup["company"]["id"], "phones": ["8 (999) 000-00-01"]}
    )
    project = await create(crm, "/projects", {"name": "Relaunch", "company_id": setup["company"]["id"]})
    changed = await crm.client.patch(f"/contacts/{contact['id']}", json={"name": "Anna S."}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    deleted = await crm.client.delete(f"/projects/{project['id']}", headers=ADMIN)
    assert deleted.status_code == 204

    created, updated = await crm.events("crm.contacts", contact["id"], 2)
    assert created["event_type"] == "crm.contact.created"
    assert created["data"]["phones"] == ["+79990000001"]
    assert updated["aggregate_version"] == 2
    assert updated["data"]["name"] == "Anna S."
    assert updated["data"]["company_id"] == setup["company"]["id"]

    _, project_deleted = await crm.events("crm.projects", project["id"], 2)
    assert project_deleted["data"]["deleted"] is True
    [ours] = await crm.events("crm.legal_entities", setup["ours"]["id"], 1)
    assert ours["data"]["is_own"] is True
    assert ours["data"]["bank_accounts"] == [{"account": "40702810900000000001"}]

    gone = await crm.client.get(f"/projects/{project['id']}", headers=ADMIN)
    assert gone.status_code == 410
    assert gone.json()["status"] == "deleted"
    missing = await crm.client.get(f"/projects/{new_id()}", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["status"] == "not_found"


async def test_invalid_company_fields_named(crm: Crm) -> None:
    response = await crm.client.post("/companies", json={"name": "", "phones": ["call me"]}, headers=ADMIN)
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.name", "body.phones"}


async def test_client_entity_of_other_company_rejected(crm: Crm) -> None:
    setup = await client_setup(crm)
    response = await crm.client.post(
        "/deals",
        json={
            "title": "Mismatch",
            "company_id": setup["company"]["id"],
            "client_legal_entity_id": setup["other_entity"]["id"],
        },
        headers=ADMIN,
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"client_legal_entity_id", "company_id"}

    good = await create(
        crm,
        "/deals",
        {"title": "Match", "company_id": setup["company"]["id"], "client_legal_entity_id": setup["entity"]["id"]},
    )
    [event] = await crm.events("crm.deals", good["id"], 1)
    assert event["data"]["deal"]["client_legal_entity_id"] == setup["entity"]["id"]
    assert event["data"]["deal"]["company_id"] == setup["company"]["id"]


async def test_our_entity_must_be_ours(crm: Crm) -> None:
    setup = await client_setup(crm)
    response = await crm.client.post(
        "/deals", json={"title": "Wrong side", "our_legal_entity_id": setup["entity"]["id"]}, headers=ADMIN
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "our_legal_entity_id"

    deal = await create(crm, "/deals", {"title": "Ours", "our_legal_entity_id": setup["ours"]["id"]})
    [event] = await crm.events("crm.deals", deal["id"], 1)
    assert event["data"]["deal"]["our_legal_entity_id"] == setup["ours"]["id"]


async def test_contact_of_other_company_warns(crm: Crm) -> None:
    setup = await client_setup(crm)
    stranger = await create(crm, "/contacts", {"name": "Boris", "company_id": setup["other"]["id"]})
    own = await create(crm, "/contacts", {"name": "Anna", "company_id": setup["company"]["id"]})
    deal = await create(
        crm,
        "/deals",
        {
            "title": "Warned",
            "company_id": setup["company"]["id"],
            "contact_ids": [own["id"], stranger["id"]],
            "primary_contact_id": own["id"],
        },
    )
    [warning] = deal["warnings"]
    assert warning["code"] == "contact_of_another_company"
    assert warning["id"] == stranger["id"]
    assert deal["contact_ids"] == [own["id"], stranger["id"]]
    assert deal["primary_contact_id"] == own["id"]
    assert deal["contact_name"] == "Anna"


async def pipeline_with_rules(crm: Crm) -> dict[str, Any]:
    return await create(
        crm,
        "/pipelines",
        {
            "key": "projects",
            "name": "Projects",
            "fields": [
                {"key": "budget", "name": "Budget", "type": "money"},
                {"key": "signed", "name": "Contract signed", "type": "yes_no"},
                {"key": "segment", "name": "Segment", "type": "choice", "options": ["smb", "enterprise"]},
            ],
            "stages": [
                {"name": "Lead"},
                {
                    "name": "Negotiation",
                    "required_fields": ["budget", "amount"],
                    "exit_conditions": [{"field": "signed", "equals": True}],
                },
                {"name": "Won", "semantics": "won"},
                {"name": "Lost", "semantics": "lost"},
            ],
        },
    )


async def test_stage_entry_requires_fields(crm: Crm) -> None:
    pipeline = await pipeline_with_rules(crm)
    lead, negotiation = pipeline["stages"][0], pipeline["stages"][1]
    deal = await create(crm, "/deals", {"title": "Rules", "pipeline_key": "projects"})
    assert deal["stage_id"] == lead["id"]

    refused = await crm.client.patch(f"/deals/{deal['id']}", json={"stage_id": negotiation["id"]}, headers=ADMIN)
    assert refused.status_code == 422
    fields = {error["field"] for error in refused.json()["errors"]}
    assert fields == {"custom_fields.budget", "amount"}

    moved = await crm.client.patch(
        f"/deals/{deal['id']}",
        json={
            "stage_id": negotiation["id"],
            "amount": "1500.00",
            "currency": "EUR",
            "custom_fields": {"budget": {"amount": "2000", "currency": "EUR"}},
        },
        headers=ADMIN,
    )
    assert moved.status_code == 200, moved.text
    _, event = await crm.events("crm.deals", deal["id"], 2)
    assert event["data"]["deal"]["stage_name"] == "Negotiation"
    assert event["data"]["deal"]["custom_fields"] == {"budget": {"amount": "2000", "currency": "EUR"}}
    assert "stage_id" in event["data"]["changed"]


async def test_stage_exit_condition_holds(crm: Crm) -> None:
    pipeline = await pipeline_with_rules(crm)
    negotiation, won = pipeline["stages"][1], pipeline["stages"][2]
    deal = await create(
        crm,
        "/deals",
        {
            "title": "Exit",
            "pipeline_key": "projects",
            "stage_id": negotiation["id"],
            "amount": "10",
            "currency": "EUR",
            "custom_fields": {"budget": {"amount": "10", "currency": "EUR"}},
        },
    )
    refused = await crm.client.patch(f"/deals/{deal['id']}", json={"stage_id": won["id"]}, headers=ADMIN)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "custom_fields.signed"
    assert "may not be left" in error["reason"]

    left = await crm.client.patch(
        f"/deals/{deal['id']}", json={"stage_id": won["id"], "custom_fields": {"signed": True}}, headers=ADMIN
    )
    assert left.status_code == 200, left.text
    assert left.json()["stage_semantics"] == "won"
    timeline = (await crm.client.get(f"/deals/{deal['id']}/timeline", headers=ADMIN)).json()["items"]
    [move] = [entry for entry in timeline if entry["kind"] == "stage_changed"]
    assert move["data"]["to_stage"]["name"] == "Won"
    assert move["cause"]["id"] == "u-admin"


async def test_exit_condition_equals_typed(crm: Crm) -> None:
    pipeline = await pipeline_with_rules(crm)
    lead, negotiation = pipeline["stages"][0], pipeline["stages"][1]
    rules_url = f"/pipelines/{pipeline['id']}/stages/{lead['id']}/rules"
    never_met: list[dict[str, Any]] = [
        {"field": "amount", "equals": {"a": 1}},
        {"field": "amount", "equals": "1.234"},
        {"field": "signed", "equals": "yes"},
        {"field": "segment", "equals": "huge"},
        {"field": "company_id", "equals": "not-an-id"},
        {"field": "next_step_due_at", "equals": "2030-01-01T00:00:00Z"},
    ]
    for condition in never_met:
        response = await crm.client.put(rules_url, json={"exit_conditions": [condition]}, headers=ADMIN)
        assert response.status_code == 422, condition
        [error] = response.json()["errors"]
        assert error["field"] == "exit_conditions.0.equals", condition
        assert condition["field"] in error["reason"], error

    rejected = await crm.client.post(
        "/pipelines",
        json={
            "key": "typed",
            "name": "Typed",
            "stages": [{"name": "Lead", "exit_conditions": [{"field": "amount", "equals": {"a": 1}}]}],
        },
        headers=ADMIN,
    )
    assert rejected.status_code == 422
    assert [error["field"] for error in rejected.json()["errors"]] == ["stages.0.exit_conditions.0.equals"]

    # An accepted value is stored as it is compared: the number 1500 becomes "1500" and matches 1500.00.
    conditions = [{"field": "amount", "equals": 1500}, {"field": "segment", "equals": "enterprise"}]
    accepted = await crm.client.put(rules_url, json={"exit_conditions": conditions}, headers=ADMIN)
    assert accepted.status_code == 200, accepted.text
    stored = (await crm.client.get(f"/pipelines/{pipeline['id']}", headers=ADMIN)).json()["stages"][0]
    assert stored["exit_conditions"] == [
        {"field": "amount", "equals": "1500"},
        {"field": "segment", "equals": "enterprise"},
    ]
    deal = await create(
        crm,
        "/deals",
        {
            "title": "Typed exit",
            "pipeline_key": "projects",
            "amount": "1500.00",
            "currency": "EUR",
            "custom_fields": {"segment": "enterprise", "budget": {"amount": "10", "currency": "EUR"}},
        },
    )
    moved = await crm.client.patch(f"/deals/{deal['id']}", json={"stage_id": negotiation["id"]}, headers=ADMIN)
    assert moved.status_code == 200, moved.text


async def test_custom_field_types_validated(crm: Crm) -> None:
    await pipeline_with_rules(crm)
    response = await crm.client.post(
        "/deals",
        json={
            "title": "Types",
            "pipeline_key": "projects",
            "custom_fields": {"signed": "yes", "segment": "huge", "budget": {"amount": "1.234", "currency": "EUR"}},
        },
        headers=ADMIN,
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"custom_fields.signed", "custom_fields.segment", "custom_fields.budget"}


async def test_amount_requires_currency(crm: Crm) -> None:
    created = await crm.client.post("/deals", json={"title": "No currency", "amount": "10.00"}, headers=ADMIN)
    assert created.status_code == 422
    assert [error["field"] for error in created.json()["errors"]] == ["currency"]

    deal = await create(crm, "/deals", {"title": "Priced", "amount": "10.00", "currency": "EUR"})
    cleared = await crm.client.patch(f"/deals/{deal['id']}", json={"currency": None}, headers=ADMIN)
    assert cleared.status_code == 422
    assert [error["field"] for error in cleared.json()["errors"]] == ["currency"]

    unpriced = await create(crm, "/deals", {"title": "Unpriced"})
    priced = await crm.client.patch(f"/deals/{unpriced['id']}", json={"amount": "5.00"}, headers=ADMIN)
    assert priced.status_code == 422
    assert [error["field"] for error in priced.json()["errors"]] == ["currency"]

    both = await crm.client.patch(f"/deals/{unpriced['id']}", json={"amount": "5.00", "currency": "USD"}, headers=ADMIN)
    assert both.status_code == 200, both.text
    dropped = await crm.client.patch(f"/deals/{deal['id']}", json={"amount": None, "currency": None}, headers=ADMIN)
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["amount"] is None


async def test_deal_moves_between_pipelines(crm: Crm) -> None:
    pipeline = await pipeline_with_rules(crm)
    deal = await create(crm, "/deals", {"title": "Mover"})
    moved = await crm.client.patch(f"/deals/{deal['id']}", json={"pipeline_id": pipeline["id"]}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    assert moved.json()["pipeline_id"] == pipeline["id"]
    assert moved.json()["stage_name"] == "Lead"


async def test_if_match_rejects_stale_deal_change(crm: Crm) -> None:
    deal = await create(crm, "/deals", {"title": "Поставка", "amount": "10.00", "currency": "RUB"})
    read = await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)
    etag = read.headers["ETag"]

    first = await crm.client.patch(
        f"/deals/{deal['id']}", json={"amount": "20.00"}, headers={**ADMIN, "If-Match": etag}
    )
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != etag

    stale = await crm.client.patch(
        f"/deals/{deal['id']}", json={"amount": "30.00"}, headers={**ADMIN, "If-Match": etag}
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_mismatch"
    assert f'"{stale.json()["current_version"]}"' == first.headers["ETag"]
    assert (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()["amount"] == "20.00"

    malformed = await crm.client.patch(
        f"/deals/{deal['id']}", json={"amount": "30.00"}, headers={**ADMIN, "If-Match": "latest"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["field"] == "If-Match"

    stale_delete = await crm.client.delete(f"/deals/{deal['id']}", headers={**ADMIN, "If-Match": etag})
    assert stale_delete.status_code == 409
    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=ADMIN)).json()
    assert f'"{card["version"]}"' == first.headers["ETag"]


async def test_deal_list_pages_with_cursor(crm: Crm) -> None:
    created = [await create(crm, "/deals", {"title": f"Сделка {number}"}) for number in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await crm.client.get("/deals", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        seen.extend(item["id"] for item in page.json()["items"])
        cursor = page.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == [deal["id"] for deal in reversed(created)]

    bad = await crm.client.get("/deals", params={"cursor": "not-a-cursor"}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["field"] == "cursor"
    too_many = await crm.client.get("/deals", params={"limit": "201"}, headers=ADMIN)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "query.limit"


async def test_amount_stored_fixed_point(crm: Crm) -> None:
    created = await crm.client.post(
        "/deals", json={"title": "Exponent", "amount": "1e3", "currency": "RUB"}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    assert created.json()["amount"] == "1000.00"
    assert created.headers["ETag"] == '"1"'
    zero = await crm.client.patch(
        f"/deals/{created.json()['id']}", json={"amount": "-0"}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert zero.status_code == 200, zero.text
    assert zero.json()["amount"] == "0.00"
    read = await crm.client.get(f"/deals/{created.json()['id']}", headers=ADMIN)
    assert read.json()["amount"] == "0.00"

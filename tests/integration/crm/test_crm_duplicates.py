"""Duplicates of companies and contacts, merges with a conflict report, and the relationship card."""

import pytest

from tests.integration.crm.conftest import ADMIN, OTHER, SALES, Crm, create

pytestmark = pytest.mark.integration


async def test_contact_duplicate_by_phone(crm: Crm) -> None:
    first = await create(crm, "/contacts", {"name": "Anna", "phones": ["+7 999 000-00-01"]}, headers=OTHER)
    second = await create(
        crm,
        "/contacts",
        {
            "name": "A. Smirnova",
            "phones": ["8 (999) 000-00-01"],
            "emails": ["A@X.example"],
            "department": "support",
        },
    )
    [warning] = second["warnings"]
    assert warning["code"] == "duplicate"
    assert [ref["id"] for ref in warning["duplicates"]] == [first["id"]]
    assert warning["duplicates"][0]["status"] == "ok"

    third = await create(crm, "/contacts", {"name": "Anna S", "emails": ["a@x.example"]}, headers=SALES)
    [warning] = third["warnings"]
    statuses = {ref["id"]: ref["status"] for ref in warning["duplicates"]}
    assert statuses == {second["id"]: "restricted"}


async def test_company_merge_reports_conflicts(crm: Crm) -> None:
    target = await create(crm, "/companies", {"name": "Romashka", "tax_id": "7701234567", "phones": ["+4930123456"]})
    source = await create(
        crm, "/companies", {"name": "Romashka LLC", "tax_id": "7701234567", "email_domains": ["romashka.example"]}
    )
    assert source["warnings"][0]["duplicates"][0]["id"] == target["id"]
    contact = await create(crm, "/contacts", {"name": "Boris", "company_id": source["id"]})
    deal = await create(crm, "/deals", {"title": "Moves", "company_id": source["id"], "contact_ids": [contact["id"]]})

    response = await crm.client.post(
        f"/companies/{target['id']}/merge", json={"source_id": source["id"]}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["conflicts"] == [{"field": "name", "kept": "Romashka", "dropped": "Romashka LLC"}]
    assert report["changed"] == ["email_domains"]
    assert report["moved"]["contacts"] == [contact["id"]]
    assert report["moved"]["deals"] == [deal["id"]]

    moved = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert moved["company_id"] == target["id"]
    gone = await crm.client.get(f"/companies/{source['id']}", headers=ADMIN)
    assert gone.status_code == 410
    events = await crm.events("crm.deals", deal["id"], 2)
    assert events[-1]["data"]["deal"]["company_id"] == target["id"]
    company_events = await crm.events("crm.companies", source["id"], 2)
    assert company_events[-1]["data"]["deleted"] is True


async def test_contact_merge_relinks_deals(crm: Crm) -> None:
    target = await create(crm, "/contacts", {"name": "Anna", "emails": ["anna@x.example"]})
    source = await create(crm, "/contacts", {"name": "Anna", "phones": ["+79990000001"]})
    deal = await create(crm, "/deals", {"title": "Relinked", "contact_ids": [source["id"]]})
    response = await crm.client.post(f"/contacts/{target['id']}/merge", json={"source_id": source["id"]}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == ["phones"]
    state = (await crm.client.get(f"/deals/{deal['id']}", headers=ADMIN)).json()
    assert state["contact_ids"] == [target["id"]]
    assert state["primary_contact_id"] == target["id"]

    itself = await crm.client.post(f"/contacts/{target['id']}/merge", json={"source_id": target["id"]}, headers=ADMIN)
    assert itself.status_code == 422
    assert itself.json()["errors"][0]["field"] == "source_id"


async def test_card_shows_reference_statuses(crm: Crm) -> None:
    hidden = await create(crm, "/companies", {"name": "Hidden Ltd", "department": "support"}, headers=OTHER)
    entity = await create(crm, "/legal-entities", {"legal_name": "Hidden Ltd", "company_id": hidden["id"]})
    ours = await create(crm, "/legal-entities", {"legal_name": "Our LLC", "is_own": True})
    project = await create(crm, "/projects", {"name": "Old", "company_id": hidden["id"]})
    # Linking a hidden company takes the right to read it, so an admin links it and hands the deal to
    # sales, which then reads the company only as a restricted reference.
    deal = await create(
        crm,
        "/deals",
        {
            "title": "Card",
            "company_id": hidden["id"],
            "client_legal_entity_id": entity["id"],
            "our_legal_entity_id": ours["id"],
            "project_id": project["id"],
            "owner_id": "u-sales",
            "department": "sales",
        },
    )
    deleted = await crm.client.delete(f"/projects/{project['id']}", headers=ADMIN)
    assert deleted.status_code == 204

    card = (await crm.client.get(f"/deals/{deal['id']}/card", headers=SALES)).json()
    assert card["company"]["status"] == "restricted"
    assert card["company"]["owner"] == {"id": "u-other", "department": "support"}
    assert "Hidden" not in str(card["company"])
    assert card["client"]["status"] == "restricted"
    assert card["client_legal_entity"]["status"] == "restricted"
    assert "record" not in card["client_legal_entity"]
    assert card["our_legal_entity"]["status"] == "ok"
    assert card["our_legal_entity"]["record"]["legal_name"] == "Our LLC"
    assert card["project"]["status"] == "deleted"
    assert card["counts"] == {"tasks": 0, "open_tasks": 0, "documents": 0, "files": 0}


async def test_company_tax_id_duplicate_restricted(crm: Crm) -> None:
    hidden = await create(crm, "/companies", {"name": "Vasilek", "tax_id": "7709876543"}, headers=OTHER)

    second = await create(crm, "/companies", {"name": "ООО Василёк", "tax_id": "7709876543"}, headers=SALES)

    [warning] = second["warnings"]
    assert warning["code"] == "duplicate"
    [reference] = warning["duplicates"]
    assert reference["id"] == hidden["id"]
    assert reference["status"] == "restricted"
    assert reference["owner"]["id"] is not None
    assert "Vasilek" not in str(reference)


async def test_linking_hidden_records_is_refused(crm: Crm) -> None:
    company = await create(crm, "/companies", {"name": "Hidden Co"}, headers=OTHER)
    contact = await create(
        crm,
        "/contacts",
        {"name": "Иван Петров", "phones": ["+79991112233"], "company_id": company["id"]},
        headers=OTHER,
    )
    deal = await create(crm, "/deals", {"title": "Own deal"}, headers=SALES)

    linked = await crm.client.patch(
        f"/deals/{deal['id']}",
        json={"contact_ids": [contact["id"]], "primary_contact_id": contact["id"]},
        headers=SALES,
    )
    assert linked.status_code == 403
    assert linked.json()["status"] == "restricted"
    assert linked.json()["owner"]["id"] == "u-other"
    assert "Петров" not in linked.text

    unchanged = (await crm.client.get(f"/deals/{deal['id']}", headers=SALES)).json()
    assert unchanged["contact_ids"] == []
    assert unchanged["contact_phone"] is None

    for path, body in (
        ("/deals", {"title": "Peek", "company_id": company["id"]}),
        ("/contacts", {"name": "Someone", "company_id": company["id"]}),
        ("/projects", {"name": "Peek", "company_id": company["id"]}),
    ):
        refused = await crm.client.post(path, json=body, headers=SALES)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["status"] == "restricted"

"""The check before sending: each failure alone, all of them at once, and a version that passes."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from services.documents.checks import CheckFacts, has_errors, run_check
from services.documents.tables import (
    CompanyReference,
    DealReference,
    Document,
    DocumentVersion,
    LegalEntityReference,
)

pytestmark = pytest.mark.unit

COMPANY = uuid.uuid4()
OTHER_COMPANY = uuid.uuid4()
CLIENT_ENTITY = uuid.uuid4()
OTHER_CLIENT_ENTITY = uuid.uuid4()
OUR_ENTITY = uuid.uuid4()
OTHER_OUR_ENTITY = uuid.uuid4()
DEAL = uuid.uuid4()

COMMENT = {"kind": "comment", "part": "word/document.xml", "location": "paragraph 2", "author": "Olga"}


def version(number: int, findings: list[dict[str, Any]] | None = None) -> DocumentVersion:
    return DocumentVersion(id=uuid.uuid4(), number=number, sha256="0" * 64, findings=findings or [])


def company(company_id: uuid.UUID, name: str) -> CompanyReference:
    return CompanyReference(company_id=company_id, name=name, email_domains=["romashka.example"], deleted=False)


def good_facts() -> CheckFacts:
    """Facts that pass: the final version, matching company, entities and deal, a known domain."""
    final = version(1)
    document = Document(
        id=uuid.uuid4(),
        kind="contract",
        title="Supply contract",
        company_id=COMPANY,
        client_legal_entity_id=CLIENT_ENTITY,
        our_legal_entity_id=OUR_ENTITY,
        deal_id=DEAL,
        final_version_id=final.id,
        deleted=False,
    )
    document.versions = [final]
    romashka = company(COMPANY, "Romashka")
    return CheckFacts(
        document=document,
        version=final,
        recipient_company_id=COMPANY,
        recipient_email="anna@romashka.example",
        company=romashka,
        recipient_company=romashka,
        deal=DealReference(
            deal_id=DEAL,
            title="Supply 2027",
            company_id=COMPANY,
            client_legal_entity_id=CLIENT_ENTITY,
            our_legal_entity_id=OUR_ENTITY,
            deleted=False,
        ),
        client_legal_entity=LegalEntityReference(
            legal_entity_id=CLIENT_ENTITY, company_id=COMPANY, is_own=False, legal_name="OOO Romashka", deleted=False
        ),
        our_legal_entity=LegalEntityReference(
            legal_entity_id=OUR_ENTITY, company_id=None, is_own=True, legal_name="Our GmbH", deleted=False
        ),
    )


def draft_version(facts: CheckFacts) -> CheckFacts:
    draft = version(2)
    facts.document.versions.append(draft)
    return dataclasses.replace(facts, version=draft)


def other_recipient_company(facts: CheckFacts) -> CheckFacts:
    return dataclasses.replace(
        facts, recipient_company_id=OTHER_COMPANY, recipient_company=company(OTHER_COMPANY, "Vasilek")
    )


def client_entity_of_other_company(facts: CheckFacts) -> CheckFacts:
    assert facts.client_legal_entity is not None
    facts.client_legal_entity.company_id = OTHER_COMPANY
    return facts


def client_entity_not_deals(facts: CheckFacts) -> CheckFacts:
    assert facts.deal is not None
    facts.deal.client_legal_entity_id = OTHER_CLIENT_ENTITY
    return facts


def our_entity_not_deals(facts: CheckFacts) -> CheckFacts:
    assert facts.deal is not None
    facts.deal.our_legal_entity_id = OTHER_OUR_ENTITY
    return facts


def internal_marks(facts: CheckFacts) -> CheckFacts:
    facts.version.findings = [COMMENT]
    return facts


def unknown_domain(facts: CheckFacts) -> CheckFacts:
    return dataclasses.replace(facts, recipient_email="anna@gmail.example")


FAILURES = {
    "version_not_final": draft_version,
    "recipient_company_mismatch": other_recipient_company,
    "client_legal_entity_not_company": client_entity_of_other_company,
    "client_legal_entity_not_deal": client_entity_not_deals,
    "our_legal_entity_not_deal": our_entity_not_deals,
    "internal_marks_inside": internal_marks,
}


def codes(facts: CheckFacts) -> list[str]:
    return [problem.code for problem in run_check(facts)]


def test_good_version_passes() -> None:
    assert run_check(good_facts()) == []


@pytest.mark.parametrize("code", sorted(FAILURES))
def test_each_failure_alone(code: str) -> None:
    problems = run_check(FAILURES[code](good_facts()))

    assert [problem.code for problem in problems] == [code]
    assert problems[0].severity == "error"
    assert has_errors(problems)


def test_all_failures_together() -> None:
    facts = good_facts()
    for make_failure in FAILURES.values():
        facts = make_failure(facts)
    facts = unknown_domain(facts)

    assert sorted(codes(facts)) == sorted([*FAILURES, "email_domain_unknown"])


def test_unknown_domain_is_only_a_warning() -> None:
    problems = run_check(unknown_domain(good_facts()))

    assert [(problem.code, problem.severity) for problem in problems] == [("email_domain_unknown", "warning")]
    assert "gmail.example is not a known e-mail domain of Romashka" in problems[0].message
    assert not has_errors(problems)


def test_draft_message_names_final_version() -> None:
    [problem] = run_check(draft_version(good_facts()))

    assert problem.message == "version 2 is a draft; version 1 is the one marked final"


def test_no_final_version() -> None:
    facts = good_facts()
    facts.document.final_version_id = None

    [problem] = run_check(facts)
    assert problem.message == "version 1 is a draft; no version is marked final"


def test_internal_marks_message_says_where() -> None:
    [problem] = run_check(internal_marks(good_facts()))

    assert "comment in word/document.xml, paragraph 2 by Olga" in problem.message


def test_recipient_mismatch_names_both_companies() -> None:
    [problem] = run_check(other_recipient_company(good_facts()))

    assert problem.message == "the document belongs to Romashka, but the recipient belongs to Vasilek"


def test_document_without_company() -> None:
    facts = good_facts()
    facts.document.company_id = None
    facts.document.client_legal_entity_id = None
    facts.document.deal_id = None

    assert codes(dataclasses.replace(facts, deal=None, client_legal_entity=None)) == [
        "company_missing",
    ]


def test_unknown_records_are_errors() -> None:
    facts = dataclasses.replace(good_facts(), company=None, deal=None, client_legal_entity=None, our_legal_entity=None)

    assert codes(facts) == [
        "company_unknown",
        "deal_unknown",
        "client_legal_entity_unknown",
        "our_legal_entity_unknown",
    ]


def test_deleted_deal_is_unknown() -> None:
    facts = good_facts()
    assert facts.deal is not None
    facts.deal.deleted = True

    assert codes(facts) == ["deal_unknown"]


def test_deal_of_another_company() -> None:
    facts = good_facts()
    assert facts.deal is not None
    facts.deal.company_id = OTHER_COMPANY

    assert codes(facts) == ["deal_company_mismatch"]


def test_our_entity_that_is_a_clients() -> None:
    facts = good_facts()
    assert facts.our_legal_entity is not None
    facts.our_legal_entity.is_own = False

    assert codes(facts) == ["our_legal_entity_not_own"]


def test_portal_publication_has_no_domain_check() -> None:
    facts = dataclasses.replace(good_facts(), recipient_email=None)

    assert run_check(facts) == []

"""The check before a version reaches a client: it returns every problem at once, errors and warnings.

A send or a portal publication goes ahead only when the check finds no error, or when a user with the
``override_check`` right gives a reason. Warnings never block.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from contracts.documents import CheckProblemState, FindingState
from services.documents.inspection import describe
from services.documents.tables import (
    CompanyReference,
    DealReference,
    Document,
    DocumentVersion,
    LegalEntityReference,
)

#: Locations listed in the message of ``internal_marks_inside``; all of them are in the version's findings.
_LISTED_MARKS = 5


@dataclass(frozen=True)
class CheckFacts:
    """Inputs of the check: the document, the version, the recipient, and the CRM records they name."""

    document: Document
    version: DocumentVersion
    recipient_company_id: uuid.UUID
    recipient_email: str | None
    company: CompanyReference | None
    recipient_company: CompanyReference | None
    deal: DealReference | None
    client_legal_entity: LegalEntityReference | None
    our_legal_entity: LegalEntityReference | None


def run_check(facts: CheckFacts) -> list[CheckProblemState]:
    """Return every problem that stops this version from going to this recipient, and the warnings."""
    return [
        *_final_mark(facts),
        *_company(facts),
        *_deal(facts),
        *_client_legal_entity(facts),
        *_our_legal_entity(facts),
        *_internal_marks(facts),
        *_email_domain(facts),
    ]


def has_errors(problems: list[CheckProblemState]) -> bool:
    return any(problem.severity == "error" for problem in problems)


def _error(code: str, message: str) -> CheckProblemState:
    return CheckProblemState(code=code, severity="error", message=message)


def _known(record: CompanyReference | DealReference | LegalEntityReference | None) -> bool:
    return record is not None and not record.deleted


def _final_mark(facts: CheckFacts) -> list[CheckProblemState]:
    final_id = facts.document.final_version_id
    if final_id == facts.version.id:
        return []
    if final_id is None:
        return [_error("version_not_final", f"version {facts.version.number} is a draft; no version is marked final")]
    final = next((v.number for v in facts.document.versions if v.id == final_id), "?")
    return [
        _error(
            "version_not_final",
            f"version {facts.version.number} is a draft; version {final} is the one marked final",
        )
    ]


def _company(facts: CheckFacts) -> list[CheckProblemState]:
    document = facts.document
    if document.company_id is None:
        return [_error("company_missing", "the document is not filed under a client company")]
    problems = []
    if not _known(facts.company):
        problems.append(
            _error("company_unknown", f"company {document.company_id} is not known to documents or was deleted")
        )
    if facts.recipient_company_id != document.company_id:
        recipient = facts.recipient_company.name if facts.recipient_company else str(facts.recipient_company_id)
        company = facts.company.name if facts.company else str(document.company_id)
        problems.append(
            _error(
                "recipient_company_mismatch",
                f"the document belongs to {company}, but the recipient belongs to {recipient}",
            )
        )
    return problems


def _deal(facts: CheckFacts) -> list[CheckProblemState]:
    deal_id = facts.document.deal_id
    if deal_id is None:
        return []
    if facts.deal is None or facts.deal.deleted:
        return [_error("deal_unknown", f"deal {deal_id} is not known to documents or was deleted")]
    if facts.deal.company_id != facts.document.company_id:
        return [
            _error(
                "deal_company_mismatch",
                f"deal '{facts.deal.title}' is with company {facts.deal.company_id}, "
                f"not with the document's company {facts.document.company_id}",
            )
        ]
    return []


def _client_legal_entity(facts: CheckFacts) -> list[CheckProblemState]:
    entity_id = facts.document.client_legal_entity_id
    entity = facts.client_legal_entity
    if entity_id is None:
        return []
    if entity is None or entity.deleted:
        return [_error("client_legal_entity_unknown", f"legal entity {entity_id} is not known or was deleted")]
    problems = []
    if entity.is_own or entity.company_id != facts.document.company_id:
        problems.append(
            _error(
                "client_legal_entity_not_company",
                f"client legal entity {entity.legal_name} is not a legal entity of the document's company",
            )
        )
    if _known(facts.deal) and facts.deal is not None and facts.deal.client_legal_entity_id != entity_id:
        problems.append(
            _error(
                "client_legal_entity_not_deal",
                f"client legal entity {entity.legal_name} is not the one of deal '{facts.deal.title}'",
            )
        )
    return problems


def _our_legal_entity(facts: CheckFacts) -> list[CheckProblemState]:
    entity_id = facts.document.our_legal_entity_id
    entity = facts.our_legal_entity
    if entity_id is None:
        return []
    if entity is None or entity.deleted:
        return [_error("our_legal_entity_unknown", f"legal entity {entity_id} is not known or was deleted")]
    problems = []
    if not entity.is_own:
        problems.append(_error("our_legal_entity_not_own", f"{entity.legal_name} is not one of our legal entities"))
    if _known(facts.deal) and facts.deal is not None and facts.deal.our_legal_entity_id != entity_id:
        problems.append(
            _error(
                "our_legal_entity_not_deal",
                f"our legal entity {entity.legal_name} is not the one of deal '{facts.deal.title}'",
            )
        )
    return problems


def _internal_marks(facts: CheckFacts) -> list[CheckProblemState]:
    findings = [FindingState.model_validate(finding) for finding in facts.version.findings]
    if not findings:
        return []
    listed = "; ".join(describe(finding) for finding in findings[:_LISTED_MARKS])
    more = f"; and {len(findings) - _LISTED_MARKS} more" if len(findings) > _LISTED_MARKS else ""
    return [
        _error(
            "internal_marks_inside",
            f"version {facts.version.number} contains comments, tracked changes or annotations: {listed}{more}",
        )
    ]


def _email_domain(facts: CheckFacts) -> list[CheckProblemState]:
    if facts.recipient_email is None or facts.company is None:
        return []
    domain = facts.recipient_email.rpartition("@")[2].lower()
    if domain in {known.lower() for known in facts.company.email_domains}:
        return []
    known = ", ".join(facts.company.email_domains) or "none"
    return [
        CheckProblemState(
            code="email_domain_unknown",
            severity="warning",
            message=f"{domain} is not a known e-mail domain of {facts.company.name} (known: {known})",
        )
    ]

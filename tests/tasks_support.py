"""Builders and clients shared by the tasks service's tests."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.crm import (
    CompanyCreated,
    CompanyState,
    CompanyUpdated,
    ContactCreated,
    ContactState,
    ContactUpdated,
    DealChange,
    DealCreated,
    DealSource,
    DealState,
    DealUpdated,
)
from contracts.envelope import Actor, ActorType
from servicekit.auth import issue_token
from tests.factories import PIPELINE_ID, STAGE_ID

JWT_KEY = "tasks-test-signing-key-of-32-bytes-or-more"
CRM_ACTOR = Actor(type=ActorType.USER, id="u-crm", name="CRM user")


def bearer(
    user: str,
    *,
    department: str | None = None,
    workgroups: list[str] | None = None,
    roles: list[str] | None = None,
) -> dict[str, str]:
    token = issue_token(JWT_KEY, user, name=user, department=department, workgroups=workgroups, roles=roles)
    return {"Authorization": "Bearer " + token}


def deal_event(
    deal_id: uuid.UUID,
    version: int,
    *,
    title: str = "Website redesign",
    company_id: uuid.UUID | None = None,
    contact_ids: list[uuid.UUID] | None = None,
    project_id: uuid.UUID | None = None,
    owner_id: str | None = "u-deal-owner",
    department: str | None = "sales",
    workgroup: str | None = None,
    deleted: bool = False,
) -> DealCreated | DealUpdated:
    """Build the CRM event that leaves a deal at ``version`` with this client; the first contact is primary."""
    contacts = contact_ids or []
    state = DealState(
        id=deal_id,
        title=title,
        pipeline_id=PIPELINE_ID,
        stage_id=STAGE_ID,
        stage_name="New",
        owner_id=owner_id,
        department=department,
        company_id=company_id,
        contact_ids=contacts,
        primary_contact_id=contacts[0] if contacts else None,
        project_id=project_id,
        workgroup=workgroup,
        source=DealSource(kind="manual"),
        deleted=deleted,
    )
    event_class = DealCreated if version == 1 else DealUpdated
    return event_class(
        producer="crm",
        aggregate_id=deal_id,
        aggregate_version=version,
        correlation_id=str(uuid.uuid4()),
        actor=CRM_ACTOR,
        data=DealChange(deal=state, changed=["company_id"] if version > 1 else sorted(DealState.model_fields)),
    )


def company_event(
    company_id: uuid.UUID,
    version: int = 1,
    *,
    name: str = "ООО «Ромашка»",
    owner_id: str | None = "u-account",
    department: str | None = "sales",
    workgroup: str | None = None,
    deleted: bool = False,
) -> CompanyCreated | CompanyUpdated:
    state = CompanyState(
        id=company_id, name=name, owner_id=owner_id, department=department, workgroup=workgroup, deleted=deleted
    )
    event_class = CompanyCreated if version == 1 else CompanyUpdated
    return event_class(
        producer="crm",
        aggregate_id=company_id,
        aggregate_version=version,
        correlation_id=str(uuid.uuid4()),
        actor=CRM_ACTOR,
        data=state,
    )


def contact_event(
    contact_id: uuid.UUID,
    version: int = 1,
    *,
    company_id: uuid.UUID | None = None,
    name: str = "Анна Смирнова",
    owner_id: str | None = "u-account",
    department: str | None = "sales",
    deleted: bool = False,
) -> ContactCreated | ContactUpdated:
    state = ContactState(
        id=contact_id, company_id=company_id, name=name, owner_id=owner_id, department=department, deleted=deleted
    )
    event_class = ContactCreated if version == 1 else ContactUpdated
    return event_class(
        producer="crm",
        aggregate_id=contact_id,
        aggregate_version=version,
        correlation_id=str(uuid.uuid4()),
        actor=CRM_ACTOR,
        data=state,
    )


def ids(response_json: dict[str, Any]) -> dict[str, str | None]:
    """Return the ids of a task view's client references."""
    return {kind: (ref["id"] if ref else None) for kind, ref in response_json["client"].items()}

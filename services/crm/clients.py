"""Use cases of the client records: companies, contacts, legal entities and projects.

Every change raises the record's ``version`` by one and records its full state on the record's topic
in the same transaction. A delete is an update with ``deleted: true``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, EmailStr, Field, field_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import (
    CompanyCreated,
    CompanyState,
    CompanyUpdated,
    ContactCreated,
    ContactState,
    ContactUpdated,
    LegalEntityCreated,
    LegalEntityState,
    LegalEntityUpdated,
    ProjectCreated,
    ProjectState,
    ProjectUpdated,
)
from contracts.envelope import Event
from contracts.topics import Topic
from servicekit.db import utcnow
from servicekit.settings import ServiceSettings
from services.crm.common import Origin, invalid, record
from services.crm.tables import Base, Company, Contact, ContactIdentity, LegalEntity, Project

PHONE_PUNCTUATION = re.compile(r"[\s()\-.]")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_phone(value: str) -> str:
    """Return ``value`` in E.164; a Russian trunk prefix ``8`` becomes ``+7``."""
    digits = PHONE_PUNCTUATION.sub("", value)
    if digits.startswith("8") and len(digits) == 11:
        digits = "+7" + digits[1:]
    elif not digits.startswith("+"):
        digits = "+" + digits
    if not E164.match(digits):
        raise ValueError(f"{value!r} is not a phone number; give it in international form, such as +4930123456")
    return digits


def normalize_tax_id(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = re.sub(r"[\s\-]", "", value).upper()
    if not re.fullmatch(r"[A-Z0-9]{4,30}", cleaned):
        raise ValueError("a tax id has 4 to 30 letters and digits")
    return cleaned


class CompanyFields(BaseModel):
    """Fields of a company; on update, only those sent change."""

    name: str = Field(min_length=1, max_length=500)
    tax_id: str | None = Field(default=None, max_length=50)
    owner_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=255)
    workgroup: str | None = Field(default=None, max_length=255)
    email_domains: list[str] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=50)

    _tax_id = field_validator("tax_id")(normalize_tax_id)

    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str]) -> list[str]:
        return [normalize_phone(value) for value in values]

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        domains = [value.strip().lower().lstrip("@") for value in values]
        for domain in domains:
            if not re.fullmatch(r"[a-z0-9\-]+(\.[a-z0-9\-]+)+", domain):
                raise ValueError(f"{domain!r} is not a domain name")
        return domains


class ContactFields(BaseModel):
    """Fields of a contact person."""

    name: str = Field(min_length=1, max_length=500)
    company_id: uuid.UUID | None = None
    phones: list[str] = Field(default_factory=list, max_length=20)
    emails: list[EmailStr] = Field(default_factory=list, max_length=20)
    owner_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=255)

    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str]) -> list[str]:
        return [normalize_phone(value) for value in values]

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return [value.lower() for value in values]


class BankAccount(BaseModel):
    account: str = Field(min_length=1, max_length=64, description="Account number or IBAN.")
    bank_name: str | None = Field(default=None, max_length=500)
    bic: str | None = Field(default=None, max_length=20)
    correspondent_account: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class LegalEntityFields(BaseModel):
    """Fields of a legal entity: a client's (``company_id``) or one of ours (``is_own``)."""

    legal_name: str = Field(min_length=1, max_length=500)
    company_id: uuid.UUID | None = None
    is_own: bool = False
    legal_form: str | None = Field(default=None, max_length=100)
    tax_id: str | None = Field(default=None, max_length=50)
    registration_numbers: dict[str, str] = Field(default_factory=dict)
    addresses: dict[str, str] = Field(default_factory=dict)
    bank_accounts: list[BankAccount] = Field(default_factory=list, max_length=20)

    _tax_id = field_validator("tax_id")(normalize_tax_id)


class ProjectFields(BaseModel):
    """Fields of a client project."""

    name: str = Field(min_length=1, max_length=500)
    company_id: uuid.UUID | None = None
    description: str | None = Field(default=None, max_length=20000)
    status: Literal["active", "closed"] = "active"
    owner_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=255)
    workgroup: str | None = Field(default=None, max_length=255)


def company_state(row: Company) -> CompanyState:
    return CompanyState(
        id=row.id,
        name=row.name,
        tax_id=row.tax_id,
        owner_id=row.owner_id,
        department=row.department,
        workgroup=row.workgroup,
        email_domains=list(row.email_domains),
        phones=list(row.phones),
        deleted=row.deleted,
    )


def contact_state(row: Contact) -> ContactState:
    return ContactState(
        id=row.id,
        company_id=row.company_id,
        name=row.name,
        phones=list(row.phones),
        emails=list(row.emails),
        owner_id=row.owner_id,
        department=row.department,
        deleted=row.deleted,
    )


def legal_entity_state(row: LegalEntity) -> LegalEntityState:
    return LegalEntityState(
        id=row.id,
        company_id=row.company_id,
        is_own=row.is_own,
        legal_name=row.legal_name,
        legal_form=row.legal_form,
        tax_id=row.tax_id,
        registration_numbers=dict(row.registration_numbers),
        addresses=dict(row.addresses),
        bank_accounts=[{k: v for k, v in account.items() if v is not None} for account in row.bank_accounts],
        deleted=row.deleted,
    )


def project_state(row: Project) -> ProjectState:
    return ProjectState(
        id=row.id,
        company_id=row.company_id,
        name=row.name,
        description=row.description,
        status=row.status,
        owner_id=row.owner_id,
        department=row.department,
        workgroup=row.workgroup,
        deleted=row.deleted,
    )


@dataclass(frozen=True)
class RecordKind:
    """Table, field model, topic and events of one kind of client record."""

    entity: str
    table: type[Base]
    fields: type[BaseModel]
    topic: Topic
    created: type[Event[Any]]
    updated: type[Event[Any]]
    state: Callable[[Any], BaseModel]


COMPANIES = RecordKind(
    "company", Company, CompanyFields, Topic.CRM_COMPANIES, CompanyCreated, CompanyUpdated, company_state
)
CONTACTS = RecordKind(
    "contact", Contact, ContactFields, Topic.CRM_CONTACTS, ContactCreated, ContactUpdated, contact_state
)
LEGAL_ENTITIES = RecordKind(
    "legal_entity",
    LegalEntity,
    LegalEntityFields,
    Topic.CRM_LEGAL_ENTITIES,
    LegalEntityCreated,
    LegalEntityUpdated,
    legal_entity_state,
)
PROJECTS = RecordKind(
    "project", Project, ProjectFields, Topic.CRM_PROJECTS, ProjectCreated, ProjectUpdated, project_state
)
KINDS = {kind.entity: kind for kind in (COMPANIES, CONTACTS, LEGAL_ENTITIES, PROJECTS)}


async def check_company_link(session: AsyncSession, values: dict[str, Any]) -> None:
    """Reject a ``company_id`` that names no live company, and a legal entity that is both ours and a client's."""
    company_id = values.get("company_id")
    if company_id is not None:
        company = await session.get(Company, company_id)
        if company is None or company.deleted:
            state = "was deleted" if company is not None else "does not exist"
            raise invalid(("company_id", f"company {company_id} {state}"))
    if "is_own" not in values:
        return
    if values["is_own"] and company_id is not None:
        raise invalid(("company_id", "a legal entity of our own company belongs to no client company"))
    if not values["is_own"] and company_id is None:
        raise invalid(("company_id", "a client's legal entity needs the company it belongs to"))


async def create_record(
    session: AsyncSession, settings: ServiceSettings, kind: RecordKind, fields: BaseModel, origin: Origin
) -> Any:
    """Create a client record and record its ``...Created`` event."""
    values = fields.model_dump(mode="python")
    await check_company_link(session, values)
    row: Any = kind.table(id=uuid.uuid4(), version=1, **values)
    session.add(row)
    await session.flush()
    await sync_identities(session, row)
    record(
        session,
        settings,
        kind.topic,
        kind.created,
        aggregate_id=row.id,
        version=row.version,
        origin=origin,
        data=kind.state(row),
    )
    return row


async def update_record(
    session: AsyncSession,
    settings: ServiceSettings,
    kind: RecordKind,
    row: Any,
    changes: dict[str, Any],
    *,
    origin: Origin,
) -> Any:
    """Validate ``changes`` and apply them to a client record and record ``...Updated``."""
    merged = {**kind.fields.model_validate(kind.state(row), from_attributes=True).model_dump(), **changes}
    validated = kind.fields.model_validate(merged).model_dump(mode="python")
    if "company_id" in changes or "is_own" in changes:
        await check_company_link(session, validated)
    changed = [key for key in changes if getattr(row, key) != validated[key]]
    if not changed:
        return row
    for key in changed:
        setattr(row, key, validated[key])
    await sync_identities(session, row)
    return await bump_version(session, settings, kind, row, origin)


async def delete_record(
    session: AsyncSession, settings: ServiceSettings, kind: RecordKind, row: Any, origin: Origin
) -> Any:
    """Mark a client record deleted and record ``...Updated`` with ``deleted: true``."""
    row.deleted = True
    return await bump_version(session, settings, kind, row, origin)


async def bump_version(
    session: AsyncSession, settings: ServiceSettings, kind: RecordKind, row: Any, origin: Origin
) -> Any:
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    record(
        session,
        settings,
        kind.topic,
        kind.updated,
        aggregate_id=row.id,
        version=row.version,
        origin=origin,
        data=kind.state(row),
    )
    return row


async def find_tax_id_duplicates(session: AsyncSession, company: Company) -> list[Company]:
    """Return the other live companies with the same tax id."""
    if company.tax_id is None:
        return []
    rows = await session.scalars(
        select(Company).where(Company.tax_id == company.tax_id, Company.id != company.id, Company.deleted.is_(False))
    )
    return list(rows)


def contact_identities(contact: Contact) -> set[str]:
    """Return the keys that mark two contacts as the same person: normalized phones and e-mails."""
    return {f"phone:{phone}" for phone in contact.phones} | {f"email:{email.lower()}" for email in contact.emails}


async def sync_identities(session: AsyncSession, row: Any) -> None:
    if not isinstance(row, Contact):
        return
    await session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id == row.id))
    session.add_all(ContactIdentity(contact_id=row.id, value=value) for value in contact_identities(row))
    await session.flush()


async def find_contact_duplicates(session: AsyncSession, contact: Contact) -> list[Contact]:
    """Return the other live contacts that share a phone or an e-mail with ``contact``."""
    values = contact_identities(contact)
    if not values:
        return []
    shared = select(ContactIdentity.contact_id).where(
        ContactIdentity.value.in_(values), ContactIdentity.contact_id != contact.id
    )
    rows = await session.scalars(select(Contact).where(Contact.id.in_(shared), Contact.deleted.is_(False)))
    return list(rows)

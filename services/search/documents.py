"""Search documents built from contract events: one converter per domain, all into one field layout.

Every document has the same fields (see ``mappings.py``), so one query, one access filter and one
highlight list serve all eight indices. Display text goes to ``title``, people and company names to
``names``, free text to ``body``; identifiers are stored in their normalized form.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import Field, TypeAdapter

from contracts.crm import CompanyEvent, ContactEvent, DealEvent, LegalEntityEvent
from contracts.documents import DocumentEvent, FileEvent
from contracts.envelope import Event
from contracts.intake import IntakeEvent
from contracts.tasks import TaskEvent
from contracts.topics import Topic
from services.search.linking import NO_LINKED_ACCESS, LinkedAccess
from services.search.normalize import normalize_email, normalize_phone, normalize_tax_id

#: Bound on the length of one custom value, so a pasted text cannot make a huge keyword.
CUSTOM_VALUE_MAX_CHARS = 200
#: Bound on the number of custom pairs per record; the mapping never grows with them in any case.
CUSTOM_PAIRS_MAX = 100


class Domain(StrEnum):
    """Kind of record that search finds; each has its own index behind an alias."""

    DEAL = "deal"
    COMPANY = "company"
    CONTACT = "contact"
    LEGAL_ENTITY = "legal_entity"
    TASK = "task"
    DOCUMENT = "document"
    FILE = "file"
    CONVERSATION = "conversation"

    @property
    def alias_suffix(self) -> str:
        """Plural name of the domain's alias: ``deals``, ``companies``, ``legal_entities``."""
        irregular = {Domain.COMPANY: "companies", Domain.LEGAL_ENTITY: "legal_entities"}
        return irregular.get(self, f"{self.value}s")


@dataclass(frozen=True)
class SearchDocument:
    """One record's newest known state, or its deletion, at the aggregate version of its event."""

    domain: Domain
    id: str
    version: int
    occurred_at: datetime
    deleted: bool
    source: dict[str, Any]


@dataclass(frozen=True)
class Access:
    """Readers of a record besides admins: listed users, one department, listed workgroups, or all staff."""

    users: Iterable[str | None] = ()
    department: str | None = None
    workgroups: Iterable[str | None] = ()
    everyone: bool = False


def build_document(
    event: Event[Any],
    domain: Domain,
    *,
    title: str,
    access: Access,
    deleted: bool = False,
    names: Iterable[str | None] = (),
    body: Iterable[str | None] = (),
    phones: Iterable[str | None] = (),
    emails: Iterable[str | None] = (),
    tax_ids: Iterable[str | None] = (),
    custom: dict[str, Any] | None = None,
    status: str | None = None,
    related: Iterable[str] = (),
    link: tuple[str, str],
) -> SearchDocument:
    """Lay out one record in the shared field layout, normalizing identifiers and dropping empty values."""
    record_id = str(event.aggregate_id)
    source = {
        "type": domain.value,
        "id": record_id,
        "uid": f"{domain.value}:{record_id}",
        "title": title,
        "names": _present(names),
        "body": _present(body),
        "phones": _present(normalize_phone(phone) for phone in phones if phone),
        "emails": _present(normalize_email(email) for email in emails if email),
        "tax_ids": _present(normalize_tax_id(tax_id) for tax_id in tax_ids if tax_id),
        "custom": custom_pairs(custom or {}),
        "status": status,
        "related": sorted(set(related)),
        "access_users": _present(access.users),
        "department": access.department,
        "workgroups": _present(access.workgroups),
        "public": access.everyone,
        "link": {"service": link[0], "path": link[1]},
        "occurred_at": event.occurred_at.isoformat(),
    }
    return SearchDocument(domain, record_id, event.aggregate_version, event.occurred_at, deleted, source)


def custom_pairs(fields: dict[str, Any]) -> list[str]:
    """Return tenant-defined fields as ``name=value`` keywords, so they never add fields to the mapping.

    A list value gives one pair per item; other values are written with ``str``.
    """
    pairs: list[str] = []
    for name, value in sorted(fields.items()):
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item != "":
                pairs.append(f"{name}={str(item)[:CUSTOM_VALUE_MAX_CHARS]}")
    return pairs[:CUSTOM_PAIRS_MAX]


def _present(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


def _related(**ids: uuid.UUID | None) -> list[str]:
    return [f"{kind}:{value}" for kind, value in ids.items() if value is not None]


def deal_document(event: DealEvent) -> SearchDocument:
    deal = event.data.deal
    return build_document(
        event,
        Domain.DEAL,
        title=deal.title,
        access=Access(users=[deal.owner_id], department=deal.department, workgroups=[deal.workgroup]),
        deleted=deal.deleted,
        names=[deal.contact_name],
        phones=[deal.contact_phone],
        emails=[deal.contact_email],
        custom={**deal.custom_fields, **{f"utm_{name}": value for name, value in deal.source.utm.items()}},
        body=[deal.next_step],
        status=deal.stage_name,
        related=_related(company=deal.company_id, contact=deal.primary_contact_id, project=deal.project_id),
        link=("crm", f"/deals/{deal.id}"),
    )


def company_document(event: CompanyEvent) -> SearchDocument:
    company = event.data
    return build_document(
        event,
        Domain.COMPANY,
        title=company.name,
        access=Access(users=[company.owner_id], department=company.department, workgroups=[company.workgroup]),
        deleted=company.deleted,
        names=[company.name],
        body=company.email_domains,
        phones=company.phones,
        tax_ids=[company.tax_id],
        link=("crm", f"/companies/{company.id}"),
    )


def contact_document(event: ContactEvent) -> SearchDocument:
    contact = event.data
    return build_document(
        event,
        Domain.CONTACT,
        title=contact.name,
        access=Access(users=[contact.owner_id], department=contact.department),
        deleted=contact.deleted,
        names=[contact.name],
        phones=contact.phones,
        emails=contact.emails,
        related=_related(company=contact.company_id),
        link=("crm", f"/contacts/{contact.id}"),
    )


def legal_entity_document(event: LegalEntityEvent, company_access: LinkedAccess = NO_LINKED_ACCESS) -> SearchDocument:
    """Build a legal entity's document; our own entities are public, a client's follow its company."""
    entity = event.data
    document = build_document(
        event,
        Domain.LEGAL_ENTITY,
        title=entity.legal_name,
        access=Access(everyone=entity.is_own),
        deleted=entity.deleted,
        names=[entity.legal_name],
        body=[*entity.addresses.values()],
        tax_ids=[entity.tax_id],
        custom=entity.registration_numbers,
        status=entity.legal_form,
        related=_related(company=entity.company_id),
        link=("crm", f"/legal-entities/{entity.id}"),
    )
    document.source.update(company_access.fields())
    return document


def task_document(event: TaskEvent, deal_access: LinkedAccess = NO_LINKED_ACCESS) -> SearchDocument:
    """Build a task's document; readers of its linked deal (``deal_access``) may read it too."""
    task = event.data.task
    document = build_document(
        event,
        Domain.TASK,
        title=task.title,
        access=Access(
            users=[task.creator_id, task.owner_id, *task.observer_ids],
            department=task.department,
            workgroups=[task.workgroup],
        ),
        deleted=task.deleted,
        body=[task.description, task.expected_result, task.result.text if task.result else None],
        status=task.status,
        related=_related(
            company=task.client.company_id,
            contact=task.client.contact_id,
            project=task.client.project_id,
            deal=task.client.deal_id,
        ),
        link=("tasks", f"/tasks/{task.id}"),
    )
    document.source.update(deal_access.fields())
    return document


def document_document(event: DocumentEvent) -> SearchDocument:
    document = event.data.document
    # TODO: index the text of DOCX and PDF versions. The events carry no file bytes, so this needs a
    # read from the documents service's storage.
    return build_document(
        event,
        Domain.DOCUMENT,
        title=document.title,
        access=Access(users=[document.owner_id], department=document.department, workgroups=[document.workgroup]),
        deleted=document.deleted,
        body=[document.number, *(version.file_name for version in document.versions)],
        status=document.kind,
        related=_related(company=document.company_id, deal=document.deal_id, project=document.project_id),
        link=("documents", f"/documents/{document.id}"),
    )


def file_document(event: FileEvent) -> SearchDocument:
    file = event.data
    return build_document(
        event,
        Domain.FILE,
        title=file.file_name,
        access=Access(users=[file.owner_id], department=file.department),
        deleted=file.deleted,
        body=[file.file_name.replace("_", " ").replace(".", " ")],
        status=file.media_type,
        related=_related(company=file.company_id, deal=file.deal_id, project=file.project_id),
        link=("documents", f"/files/{file.id}"),
    )


def conversation_document(event: IntakeEvent, deal_access: LinkedAccess = NO_LINKED_ACCESS) -> SearchDocument | None:
    """Return a channel or e-mail message as a conversation; None for a form or an import.

    Readers of the deal made from the request (``deal_access``) may read the conversation too.

    A form submission or an import becomes a deal that carries its text already, so indexing the
    request as well would give every such inquiry two hits.
    """
    request = event.data
    if request.source not in ("channel", "email"):
        return None
    contact = request.contact
    document = build_document(
        event,
        Domain.CONVERSATION,
        title=request.title,
        access=Access(users=[request.owner_id]),
        names=[contact.name, contact.company_name],
        body=[request.message, *(attachment.name for attachment in request.attachments)],
        phones=[contact.phone],
        emails=[contact.email],
        custom={
            **request.fields,
            **request.custom_fields,
            **{f"utm_{name}": value for name, value in request.utm.items()},
        },
        status=request.channel or request.source,
        related=[f"request:{request.id}"],
        link=("intake", f"/requests/{request.id}"),
    )
    document.source.update(deal_access.fields())
    return document


@dataclass(frozen=True)
class Source:
    """A contract topic that search indexes: how to parse its messages and turn them into documents."""

    topic: Topic
    domain: Domain
    body_type: Any
    convert: Callable[[Any], SearchDocument | None]
    description: str

    def parse(self, payload: bytes) -> Any:
        """Parse one message body of this topic into its event model."""
        return _adapter(self.body_type).validate_json(payload)


_ADAPTERS: dict[int, TypeAdapter[Any]] = {}


def _adapter(body_type: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(id(body_type))
    if adapter is None:
        adapter = _ADAPTERS[id(body_type)] = TypeAdapter(body_type)
    return adapter


SOURCES: tuple[Source, ...] = (
    Source(Topic.CRM_DEALS, Domain.DEAL, DealEvent, deal_document, "Indexes each deal's newest state."),
    Source(Topic.CRM_COMPANIES, Domain.COMPANY, CompanyEvent, company_document, "Indexes client companies."),
    Source(Topic.CRM_CONTACTS, Domain.CONTACT, ContactEvent, contact_document, "Indexes contacts and their phones."),
    Source(
        Topic.CRM_LEGAL_ENTITIES,
        Domain.LEGAL_ENTITY,
        LegalEntityEvent,
        legal_entity_document,
        "Indexes legal entities by name and tax id.",
    ),
    Source(Topic.TASKS_TASKS, Domain.TASK, TaskEvent, task_document, "Indexes tasks for their participants."),
    Source(
        Topic.DOCUMENTS_DOCUMENTS,
        Domain.DOCUMENT,
        DocumentEvent,
        document_document,
        "Indexes document metadata and file names.",
    ),
    Source(Topic.DOCUMENTS_FILES, Domain.FILE, FileEvent, file_document, "Indexes client files by name."),
    Source(
        Topic.INTAKE_REQUESTS,
        Domain.CONVERSATION,
        IntakeEvent,
        conversation_document,
        "Indexes channel and e-mail messages as conversations.",
    ),
)


def event_classes(body_type: Any) -> tuple[type[Event[Any]], ...]:
    """Return the event classes of a topic's body type, which is one class or a discriminated union."""
    if get_origin(body_type) is Annotated:
        body_type = get_args(body_type)[0]
    return get_args(body_type) or (body_type,)


#: Source of each event class, so one consumer of every topic can route an event to its converter.
SOURCE_OF_EVENT: dict[type[Event[Any]], Source] = {
    event_class: source for source in SOURCES for event_class in event_classes(source.body_type)
}

#: Body type of the one consumer of every indexed topic. One consumer joins its group once; eight
#: consumers of one group rebalance it eight times at start, which took about 24 s in a local test against Kafka 4.1.
SearchedEvent: Any = Annotated[Union[tuple(SOURCE_OF_EVENT)], Field(discriminator="event_type")]  # noqa: UP007

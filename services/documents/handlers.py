"""Use cases of the documents service: each changes its records and records the event in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import (
    CompanyCreated,
    CompanyUpdated,
    DealCreated,
    DealUpdated,
    LegalEntityCreated,
    LegalEntityUpdated,
)
from contracts.documents import (
    CheckProblemState,
    CommentState,
    DocumentChange,
    DocumentCreated,
    DocumentKind,
    DocumentState,
    DocumentUpdated,
    FileCreated,
    FileState,
    FileUpdated,
    FindingState,
    SendState,
    VersionState,
)
from contracts.envelope import Actor
from contracts.topics import Topic
from servicekit.db import utcnow
from servicekit.errors import Conflict, ValidationFailed
from servicekit.outbox import record_event
from servicekit.settings import ServiceSettings
from services.documents.checks import CheckFacts, has_errors, run_check
from services.documents.errors import CheckFailed
from services.documents.inspection import describe
from services.documents.storage import StagedUpload
from services.documents.tables import (
    CompanyReference,
    DealReference,
    Document,
    DocumentComment,
    DocumentSend,
    DocumentVersion,
    LegalEntityReference,
    StoredFile,
)


@dataclass(frozen=True)
class Context:
    """The acting user and the correlation id that every event of one request carries."""

    settings: ServiceSettings
    actor: Actor
    correlation_id: str


# --- commands ---------------------------------------------------------------------------------------


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateDocument(_Command):
    """Create a document, with no versions yet."""

    kind: DocumentKind
    title: str = Field(min_length=1, max_length=500)
    number: str | None = Field(default=None, max_length=100)
    company_id: uuid.UUID | None = None
    client_legal_entity_id: uuid.UUID | None = None
    our_legal_entity_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    department: str | None = Field(default=None, max_length=255, description="The author's department when unset.")
    workgroup: str | None = Field(default=None, max_length=255)


class UpdateDocument(_Command):
    """Change a document's fields; fields left out stay as they are, and null clears a link."""

    kind: DocumentKind | None = None
    title: str | None = Field(default=None, min_length=1, max_length=500)
    number: str | None = Field(default=None, max_length=100)
    company_id: uuid.UUID | None = None
    client_legal_entity_id: uuid.UUID | None = None
    our_legal_entity_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None


class AddComment(_Command):
    """Comment on a document; an internal comment is for staff only, and the portal must not show it."""

    body: str = Field(min_length=1, max_length=10_000)
    visibility: Literal["internal", "external"]
    version_id: uuid.UUID | None = None


class SendVersion(_Command):
    """Send a version to a client by e-mail, or (without ``recipient_email``) publish it to the portal."""

    recipient_company_id: uuid.UUID = Field(description="The client company the recipient belongs to.")
    recipient_email: EmailStr | None = Field(default=None, description="Required for e-mail sends.")
    override_reason: str | None = Field(
        default=None, min_length=10, max_length=2000, description="Why a failed check is overridden."
    )

    @field_validator("override_reason")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 10:
            raise ValueError("an override reason needs at least 10 characters of text")
        return value


class CreateFile(_Command):
    """Upload of a plain file: the client, deal and project it is filed under."""

    company_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    shared_with_client: bool = False


class UpdateFile(_Command):
    file_name: str | None = Field(default=None, min_length=1, max_length=255)
    shared_with_client: bool | None = None


# --- projections of CRM -----------------------------------------------------------------------------


async def project_company(session: AsyncSession, event: CompanyCreated | CompanyUpdated) -> None:
    """Keep the company's e-mail domains and owner, for the check and for access."""
    company = event.data
    await session.merge(
        CompanyReference(
            company_id=company.id,
            name=company.name,
            owner_id=company.owner_id,
            department=company.department,
            workgroup=company.workgroup,
            email_domains=[domain.lower() for domain in company.email_domains],
            deleted=company.deleted,
        )
    )


async def project_legal_entity(session: AsyncSession, event: LegalEntityCreated | LegalEntityUpdated) -> None:
    """Keep whose legal entity this is: a client company's or our own."""
    entity = event.data
    await session.merge(
        LegalEntityReference(
            legal_entity_id=entity.id,
            company_id=entity.company_id,
            is_own=entity.is_own,
            legal_name=entity.legal_name,
            deleted=entity.deleted,
        )
    )


async def project_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
    """Keep the deal reference that documents are filed under and checked against."""
    deal = event.data.deal
    await session.merge(
        DealReference(
            deal_id=deal.id,
            title=deal.title,
            company_id=deal.company_id,
            owner_id=deal.owner_id,
            department=deal.department,
            workgroup=deal.workgroup,
            client_legal_entity_id=deal.client_legal_entity_id,
            our_legal_entity_id=deal.our_legal_entity_id,
            project_id=deal.project_id,
            deleted=deal.deleted,
        )
    )


# --- documents --------------------------------------------------------------------------------------


async def create_document(session: AsyncSession, context: Context, command: CreateDocument) -> Document:
    """Create a document owned by the acting user and record ``DocumentCreated``."""
    values = command.model_dump()
    document = Document(
        id=uuid.uuid4(),
        version=1,
        owner_id=context.actor.id,
        final_version_id=None,
        deleted=False,
        created_at=utcnow(),
        updated_at=utcnow(),
        **values,
    )
    document.versions, document.comments, document.sends = [], [], []
    session.add(document)
    _record_document(session, context, document, created=True, changed=sorted(DocumentState.model_fields))
    return document


async def update_document(
    session: AsyncSession, context: Context, document: Document, command: UpdateDocument
) -> Document:
    """Change the given fields and record ``DocumentUpdated`` naming them."""
    changes = command.model_dump(exclude_unset=True)
    if changes.get("kind", "") is None or changes.get("title", "") is None:
        raise ValidationFailed("kind and title cannot be cleared", field="kind" if "kind" in changes else "title")
    changed = sorted(name for name, value in changes.items() if getattr(document, name) != value)
    for name in changed:
        setattr(document, name, changes[name])
    if changed:
        _touch(session, context, document, changed)
    return document


async def delete_document(session: AsyncSession, context: Context, document: Document) -> None:
    """Mark the document deleted; its versions' contents stay in the file store."""
    if not document.deleted:
        document.deleted = True
        _touch(session, context, document, ["deleted"])


async def add_version(
    session: AsyncSession,
    context: Context,
    document: Document,
    staged: StagedUpload,
    *,
    file_name: str,
    media_type: str,
    findings: list[FindingState],
) -> DocumentVersion:
    """Add an uploaded version as a draft; the final mark stays where it was."""
    version = DocumentVersion(
        id=uuid.uuid4(),
        document_id=document.id,
        number=max((v.number for v in document.versions), default=0) + 1,
        author_id=context.actor.id,
        uploaded_at=utcnow(),
        size=staged.size,
        media_type=media_type,
        sha256=staged.sha256,
        file_name=file_name,
        findings=[finding.model_dump(mode="json") for finding in findings],
    )
    document.versions.append(version)
    _touch(session, context, document, ["versions"])
    return version


async def mark_final(session: AsyncSession, context: Context, document: Document, version: DocumentVersion) -> None:
    """Mark ``version`` final; the previous final version, if any, becomes a draft again."""
    if document.final_version_id != version.id:
        document.final_version_id = version.id
        _touch(session, context, document, ["final_version_id"])


async def unmark_final(session: AsyncSession, context: Context, document: Document) -> None:
    """Leave the document with no final version."""
    if document.final_version_id is not None:
        document.final_version_id = None
        _touch(session, context, document, ["final_version_id"])


async def add_comment(session: AsyncSession, context: Context, document: Document, command: AddComment) -> CommentState:
    """Add a staff comment and record ``DocumentUpdated``."""
    if command.version_id is not None and all(v.id != command.version_id for v in document.versions):
        raise ValidationFailed(f"version {command.version_id} is not a version of this document", field="version_id")
    comment = DocumentComment(
        id=uuid.uuid4(),
        document_id=document.id,
        version_id=command.version_id,
        author_id=context.actor.id,
        visibility=command.visibility,
        body=command.body,
        created_at=utcnow(),
    )
    document.comments.append(comment)
    _touch(session, context, document, ["comments"])
    return _comment_state(comment)


async def check_version(
    session: AsyncSession, document: Document, version: DocumentVersion, command: SendVersion
) -> list[CheckProblemState]:
    """Run the check before sending against this service's projections of CRM."""
    deal = await session.get(DealReference, document.deal_id) if document.deal_id else None
    company = await session.get(CompanyReference, document.company_id) if document.company_id else None
    recipient_company = (
        company
        if command.recipient_company_id == document.company_id
        else await session.get(CompanyReference, command.recipient_company_id)
    )
    client_entity = (
        await session.get(LegalEntityReference, document.client_legal_entity_id)
        if document.client_legal_entity_id
        else None
    )
    our_entity = (
        await session.get(LegalEntityReference, document.our_legal_entity_id) if document.our_legal_entity_id else None
    )
    facts = CheckFacts(
        document=document,
        version=version,
        recipient_company_id=command.recipient_company_id,
        recipient_email=str(command.recipient_email) if command.recipient_email else None,
        company=company,
        recipient_company=recipient_company,
        deal=deal,
        client_legal_entity=client_entity,
        our_legal_entity=our_entity,
    )
    return run_check(facts)


async def send_version(
    session: AsyncSession,
    context: Context,
    document: Document,
    version: DocumentVersion,
    command: SendVersion,
    *,
    may_override: bool,
) -> DocumentSend:
    """Record a send or a portal publication if the check passes or is overridden; raise otherwise.

    Nothing is written when the check fails, so a refused send leaves no record and no event.
    """
    problems = await check_version(session, document, version, command)
    _refuse_failed_check(version, problems, command, may_override=may_override)
    send = DocumentSend(
        id=uuid.uuid4(),
        document_id=document.id,
        version_id=version.id,
        channel="email" if command.recipient_email else "portal",
        recipient_email=str(command.recipient_email) if command.recipient_email else None,
        recipient_company_id=command.recipient_company_id,
        sent_by=context.actor.id,
        sent_at=utcnow(),
        problems=[problem.model_dump() for problem in problems],
        # A reason given to a check that passed overrides nothing, so it is not recorded as an override.
        override_reason=command.override_reason if has_errors(problems) else None,
    )
    document.sends.append(send)
    _touch(session, context, document, ["sends"] if send.channel == "email" else ["sends", "published_version_ids"])
    return send


def _refuse_failed_check(
    version: DocumentVersion, problems: list[CheckProblemState], command: SendVersion, *, may_override: bool
) -> None:
    if not has_errors(problems):
        return
    listed = [problem.model_dump() for problem in problems]
    if command.override_reason is None:
        raise CheckFailed(f"version {version.number} did not pass the check before sending", problems=listed)
    if not may_override:
        raise CheckFailed(
            f"version {version.number} did not pass the check, and you may not override it",
            problems=listed,
            reason="overriding a failed check needs the override_check right",
        )


#: Kafka brokers reject messages over 1 MiB by default, and a rejected outbox row would stall the relay.
EVENT_BUDGET_BYTES = 512 * 1024
#: Versions whose findings an over-budget event still lists in full, counted from the newest.
_VERSIONS_KEPT_WHOLE = 5
_COMMENT_CHARS_KEPT = 500


def event_state(document: Document) -> DocumentState:
    """Return the document's state for an event, trimmed to stay within ``EVENT_BUDGET_BYTES``."""
    state = document_state(document)
    if len(state.model_dump_json()) <= EVENT_BUDGET_BYTES:
        return state
    cutoff = len(state.versions) - _VERSIONS_KEPT_WHOLE
    versions = [
        version if index >= cutoff or not version.findings else _without_findings(version)
        for index, version in enumerate(state.versions)
    ]
    comments = [comment.model_copy(update={"body": comment.body[:_COMMENT_CHARS_KEPT]}) for comment in state.comments]
    # NOTE: a document with thousands of versions or sends can still exceed the budget after this.
    return state.model_copy(update={"versions": versions, "comments": comments, "trimmed": True})


def _without_findings(version: VersionState) -> VersionState:
    summary = f"{len(version.findings)} comments, tracked changes or annotations; the documents API lists them"
    return version.model_copy(update={"findings": [], "internal_findings": [summary]})


def _touch(session: AsyncSession, context: Context, document: Document, changed: list[str]) -> None:
    document.version += 1
    document.updated_at = utcnow()
    _record_document(session, context, document, created=False, changed=changed)


def _record_document(
    session: AsyncSession, context: Context, document: Document, *, created: bool, changed: list[str]
) -> None:
    event_class = DocumentCreated if created else DocumentUpdated
    record_event(
        session,
        context.settings.topic(Topic.DOCUMENTS_DOCUMENTS),
        event_class(
            producer=context.settings.service_name,
            aggregate_id=document.id,
            aggregate_version=document.version,
            correlation_id=context.correlation_id,
            actor=context.actor,
            data=DocumentChange(document=event_state(document), changed=changed),
        ),
    )


def document_state(document: Document) -> DocumentState:
    return DocumentState(
        id=document.id,
        kind=document.kind,
        title=document.title,
        number=document.number,
        company_id=document.company_id,
        client_legal_entity_id=document.client_legal_entity_id,
        our_legal_entity_id=document.our_legal_entity_id,
        deal_id=document.deal_id,
        project_id=document.project_id,
        owner_id=document.owner_id,
        department=document.department,
        workgroup=document.workgroup,
        versions=[version_state(version) for version in document.versions],
        final_version_id=document.final_version_id,
        published_version_ids=list(
            dict.fromkeys(send.version_id for send in document.sends if send.channel == "portal")
        ),
        deleted=document.deleted,
        comments=[_comment_state(comment) for comment in document.comments],
        sends=[send_state(send) for send in document.sends],
    )


def version_state(version: DocumentVersion) -> VersionState:
    findings = [FindingState.model_validate(finding) for finding in version.findings]
    return VersionState(
        id=version.id,
        number=version.number,
        author_id=version.author_id,
        uploaded_at=version.uploaded_at,
        size=version.size,
        media_type=version.media_type,
        sha256=version.sha256,
        file_name=version.file_name,
        internal_findings=[describe(finding) for finding in findings],
        findings=findings,
    )


def send_state(send: DocumentSend) -> SendState:
    return SendState(
        id=send.id,
        version_id=send.version_id,
        channel=send.channel,
        recipient_email=send.recipient_email,
        recipient_company_id=send.recipient_company_id,
        sent_by=send.sent_by,
        sent_at=send.sent_at,
        problems=[CheckProblemState.model_validate(problem) for problem in send.problems],
        override_reason=send.override_reason,
    )


def _comment_state(comment: DocumentComment) -> CommentState:
    return CommentState(
        id=comment.id,
        version_id=comment.version_id,
        author_id=comment.author_id,
        visibility=comment.visibility,
        body=comment.body,
        created_at=comment.created_at,
    )


# --- files ------------------------------------------------------------------------------------------


async def create_file(
    session: AsyncSession,
    context: Context,
    command: CreateFile,
    staged: StagedUpload,
    *,
    file_name: str,
    media_type: str,
    department: str | None,
) -> StoredFile:
    """Add a plain file to a client's space and record ``FileCreated``."""
    stored = StoredFile(
        id=uuid.uuid4(),
        version=1,
        file_name=file_name,
        size=staged.size,
        media_type=media_type,
        sha256=staged.sha256,
        owner_id=context.actor.id,
        department=department,
        deleted=False,
        created_at=utcnow(),
        **command.model_dump(),
    )
    session.add(stored)
    _record_file(session, context, stored, created=True)
    return stored


async def update_file(session: AsyncSession, context: Context, stored: StoredFile, command: UpdateFile) -> StoredFile:
    """Rename, share or unshare a file and record ``FileUpdated``."""
    if stored.deleted:
        raise Conflict(f"file {stored.id} was deleted", id=str(stored.id), status="deleted")
    changes = {name: value for name, value in command.model_dump(exclude_unset=True).items() if value is not None}
    changed = [name for name, value in changes.items() if getattr(stored, name) != value]
    for name in changed:
        setattr(stored, name, changes[name])
    if changed:
        stored.version += 1
        _record_file(session, context, stored, created=False)
    return stored


async def delete_file(session: AsyncSession, context: Context, stored: StoredFile) -> None:
    """Mark the file deleted and no longer shared."""
    if not stored.deleted:
        stored.deleted = True
        stored.shared_with_client = False
        stored.version += 1
        _record_file(session, context, stored, created=False)


def _record_file(session: AsyncSession, context: Context, stored: StoredFile, *, created: bool) -> None:
    event_class = FileCreated if created else FileUpdated
    record_event(
        session,
        context.settings.topic(Topic.DOCUMENTS_FILES),
        event_class(
            producer=context.settings.service_name,
            aggregate_id=stored.id,
            aggregate_version=stored.version,
            correlation_id=context.correlation_id,
            actor=context.actor,
            data=file_state(stored),
        ),
    )


def file_state(stored: StoredFile) -> FileState:
    return FileState(
        id=stored.id,
        file_name=stored.file_name,
        size=stored.size,
        media_type=stored.media_type,
        sha256=stored.sha256,
        company_id=stored.company_id,
        deal_id=stored.deal_id,
        project_id=stored.project_id,
        owner_id=stored.owner_id,
        department=stored.department,
        shared_with_client=stored.shared_with_client,
        deleted=stored.deleted,
    )


async def documents_of(
    session: AsyncSession, *, company_id: uuid.UUID | None, deal_id: uuid.UUID | None
) -> list[Document]:
    """Return the documents not deleted, optionally of one company or deal, newest first."""
    query = select(Document).where(Document.deleted.is_(False)).order_by(Document.created_at.desc()).limit(500)
    if company_id is not None:
        query = query.where(Document.company_id == company_id)
    if deal_id is not None:
        query = query.where(Document.deal_id == deal_id)
    return list((await session.scalars(query)).all())

"""Documents' HTTP routes: documents, versions, the check before sending, sends, comments and plain files.

Uploads are the raw request body (not a multipart form), so they stream straight into the file store's
staging file: ``Content-Type`` is the file's media type and the ``file_name`` query parameter its name.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.documents import CheckProblemState, CommentState, DocumentState, FileState, SendState, VersionState
from contracts.envelope import Actor, ActorType
from servicekit.auth import CurrentUser, Principal
from servicekit.errors import Conflict, PermissionDenied, ValidationFailed
from servicekit.logs import correlation_id
from servicekit.request_limits import own_body_limit
from services.documents import handlers
from services.documents.access import AccessPolicy, LinkedRecord, linked_record, not_found
from services.documents.errors import BlobMissing, UnsupportedMediaType, UploadTooLarge
from services.documents.handlers import (
    AddComment,
    Context,
    CreateDocument,
    CreateFile,
    SendVersion,
    UpdateDocument,
    UpdateFile,
)
from services.documents.inspection import INSPECTED_MEDIA_TYPES, InspectionLimits, check_content, inspect_file
from services.documents.settings import DocumentsSettings
from services.documents.storage import BlobStore, StagedUpload
from services.documents.tables import CompanyReference, DealReference, Document, DocumentVersion, StoredFile

logger = logging.getLogger(__name__)

router = APIRouter()

FileName = Annotated[str, Query(min_length=1, max_length=255, description="Name of the uploaded file.")]


class DocumentView(DocumentState):
    """A document with its linked deal and company as the current user may see them."""

    links: dict[str, LinkedRecord]


class FinalMark(BaseModel):
    """The version to mark final; null leaves the document with none."""

    version_id: uuid.UUID | None


class CheckResult(BaseModel):
    """Result of the check before sending; ``passed`` is false when any problem is an error."""

    passed: bool
    problems: list[CheckProblemState]


# --- plumbing ---------------------------------------------------------------------------------------


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _settings(request: Request) -> DocumentsSettings:
    settings: DocumentsSettings = _runtime(request).settings
    return settings


def _store(request: Request) -> BlobStore:
    store: BlobStore = _runtime(request).extras["store"]
    return store


def _policy(request: Request) -> AccessPolicy:
    return _settings(request).access_policy


def _context(request: Request, user: Principal) -> Context:
    return Context(
        settings=_settings(request),
        actor=Actor(type=ActorType.USER, id=user.user_id, name=user.name or None),
        correlation_id=correlation_id() or str(uuid.uuid4()),
    )


async def _document(session: AsyncSession, document_id: uuid.UUID, *, for_update: bool = False) -> Document:
    query = select(Document).where(Document.id == document_id)
    document = await session.scalar(query.with_for_update() if for_update else query)
    if document is None:
        raise not_found("document", document_id)
    return document


def _forbidden(action: str) -> PermissionDenied:
    return PermissionDenied(f"you may not {action}", status="restricted", reason=f"none of your roles may {action}")


def _live(document: Document) -> Document:
    if document.deleted:
        raise Conflict(f"document {document.id} was deleted", id=str(document.id), status="deleted")
    return document


def _version(document: Document, version_id: uuid.UUID) -> DocumentVersion:
    for version in document.versions:
        if version.id == version_id:
            return version
    raise not_found("version", version_id)


async def _stored_file(session: AsyncSession, file_id: uuid.UUID, *, for_update: bool = False) -> StoredFile:
    query = select(StoredFile).where(StoredFile.id == file_id)
    stored = await session.scalar(query.with_for_update() if for_update else query)
    if stored is None:
        raise not_found("file", file_id)
    return stored


async def _links(session: AsyncSession, request: Request, user: Principal, document: Document) -> dict[str, Any]:
    links: dict[str, LinkedRecord] = {}
    policy = _policy(request)
    if document.company_id is not None:
        company = await session.get(CompanyReference, document.company_id)
        name = company.name if company else None
        links["company"] = linked_record(
            policy, user, kind="company", record_id=document.company_id, record=company, name=name
        )
    if document.deal_id is not None:
        deal = await session.get(DealReference, document.deal_id)
        title = deal.title if deal else None
        links["deal"] = linked_record(policy, user, kind="deal", record_id=document.deal_id, record=deal, name=title)
    return links


async def _view(session: AsyncSession, request: Request, user: Principal, document: Document) -> DocumentView:
    state = handlers.document_state(document)
    return DocumentView(**state.model_dump(), links=await _links(session, request, user, document))


async def _require_visible_links(
    session: AsyncSession, request: Request, user: Principal, company_id: uuid.UUID | None, deal_id: uuid.UUID | None
) -> None:
    """Refuse to file a record under a deal or company that the user may not see."""
    policy = _policy(request)
    if company_id is not None and (company := await session.get(CompanyReference, company_id)) is not None:
        policy.require(user, "read", company, kind="company", record_id=company_id)
    if deal_id is not None and (deal := await session.get(DealReference, deal_id)) is not None:
        policy.require(user, "read", deal, kind="deal", record_id=deal_id)


# --- uploads and downloads --------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = _settings(request).allowed_media_types
    if not declared:
        raise UnsupportedMediaType("missing Content-Type: send the file's media type", media_type="", allowed=allowed)
    if declared not in allowed:
        raise UnsupportedMediaType(
            f"media type {declared} is not allowed; allowed types: {', '.join(allowed)}",
            media_type=declared,
            allowed=allowed,
        )
    return declared


def _file_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())
    if not name or any(char in name for char in '/\\"') or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValidationFailed(
            "file_name must be a plain file name without /, \\, quotes or control characters", field="file_name"
        )
    return name


async def _receive(request: Request, media_type: str, *, inspect: bool) -> tuple[StagedUpload, list[Any]]:
    """Stream the body into the store's staging area, then check (and for versions inspect) the content."""
    settings = _settings(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise UploadTooLarge(settings.max_upload_bytes)

    staged = await _store(request).stage(request.stream(), max_bytes=settings.max_upload_bytes)
    try:
        if staged.size == 0:
            raise ValidationFailed("the uploaded file is empty", field="body")
        limits = InspectionLimits(settings.max_unpacked_bytes, settings.max_archive_members)
        if inspect and media_type in INSPECTED_MEDIA_TYPES:
            findings = await asyncio.to_thread(inspect_file, staged.path, media_type, limits)
        else:
            await asyncio.to_thread(check_content, staged.path, media_type)
            findings = []
    except BaseException:
        staged.discard()
        raise
    return staged, findings


async def _keep(request: Request, staged: StagedUpload) -> None:
    # NOTE: the content is stored before the database commit, so a failed commit leaves an unreferenced
    # blob behind. It is harmless (a later upload of the same bytes reuses it) but nothing collects it.
    await _store(request).put(staged)


async def _download(request: Request, sha256: str, file_name: str, media_type: str, size: int) -> StreamingResponse:
    store = _store(request)
    if not await store.exists(sha256):
        raise BlobMissing(sha256)
    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_")
    return StreamingResponse(
        store.open(sha256, chunk_bytes=_settings(request).download_chunk_bytes),
        media_type=media_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}",
            "ETag": f'"{sha256}"',
        },
    )


# --- documents --------------------------------------------------------------------------------------


@router.post("/documents", status_code=201)
async def post_document(request: Request, body: CreateDocument, user: CurrentUser) -> DocumentView:
    """Create a document owned by the current user."""
    runtime = _runtime(request)
    policy = _policy(request)
    if policy.level(user, "create") == "none":
        raise _forbidden("create documents")
    if body.department is None:
        body = body.model_copy(update={"department": user.department})
    async with runtime.sessionmaker() as session, session.begin():
        await _require_visible_links(session, request, user, body.company_id, body.deal_id)
        document = await handlers.create_document(session, _context(request, user), body)
        view = await _view(session, request, user, document)
    runtime.relay.notify()
    return view


@router.get("/documents")
async def list_documents(
    request: Request, user: CurrentUser, company_id: uuid.UUID | None = None, deal_id: uuid.UUID | None = None
) -> dict[str, list[DocumentState]]:
    """List the documents the user may read, optionally of one company or deal."""
    policy = _policy(request)
    async with _runtime(request).sessionmaker() as session:
        documents = await handlers.documents_of(session, company_id=company_id, deal_id=deal_id)
    visible = [d for d in documents if policy.allows(user, "read", d, d.workgroup)]
    return {"items": [handlers.document_state(document) for document in visible]}


@router.get("/documents/{document_id}")
async def get_document(request: Request, document_id: uuid.UUID, user: CurrentUser) -> DocumentView:
    """Return a document; 403 names the owner to ask when the user may not read it."""
    async with _runtime(request).sessionmaker() as session:
        document = await _document(session, document_id)
        _policy(request).require(user, "read", document, kind="document", record_id=document_id)
        return await _view(session, request, user, document)


@router.patch("/documents/{document_id}")
async def patch_document(
    request: Request, document_id: uuid.UUID, body: UpdateDocument, user: CurrentUser
) -> DocumentView:
    """Change a document's title, number, kind or links."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        document = _live(await _document(session, document_id, for_update=True))
        _policy(request).require(user, "update", document, kind="document", record_id=document_id)
        changes = body.model_dump(exclude_unset=True)
        await _require_visible_links(session, request, user, changes.get("company_id"), changes.get("deal_id"))
        await handlers.update_document(session, _context(request, user), document, body)
        view = await _view(session, request, user, document)
    runtime.relay.notify()
    return view


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(request: Request, document_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a document deleted."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        document = await _document(session, document_id, for_update=True)
        _policy(request).require(user, "delete", document, kind="document", record_id=document_id)
        await handlers.delete_document(session, _context(request, user), document)
    runtime.relay.notify()
    return Response(status_code=204)


@router.post("/documents/{document_id}/versions", status_code=201)
@own_body_limit
async def post_version(
    request: Request, document_id: uuid.UUID, file_name: FileName, user: CurrentUser
) -> VersionState:
    """Upload a new version (the raw body); it is a draft until marked final."""
    runtime = _runtime(request)
    name = _file_name(file_name)
    media_type = _media_type(request)
    async with runtime.sessionmaker() as session:
        document = _live(await _document(session, document_id))
        _policy(request).require(user, "update", document, kind="document", record_id=document_id)

    staged, findings = await _receive(request, media_type, inspect=True)
    await _keep(request, staged)
    try:
        async with runtime.sessionmaker() as session, session.begin():
            document = _live(await _document(session, document_id, for_update=True))
            version = await handlers.add_version(
                session,
                _context(request, user),
                document,
                staged,
                file_name=name,
                media_type=media_type,
                findings=findings,
            )
            state = handlers.version_state(version)
    except IntegrityError as exc:
        # PostgreSQL serializes uploads through the row lock; SQLite has none, so two may pick one number.
        logger.warning("version upload to document %s collided with another: %s", document_id, exc)
        raise Conflict(
            "another version of this document was uploaded at the same time; upload again", id=str(document_id)
        ) from exc
    runtime.relay.notify()
    return state


@router.get("/documents/{document_id}/versions/{version_id}/content")
async def get_version_content(
    request: Request, document_id: uuid.UUID, version_id: uuid.UUID, user: CurrentUser
) -> StreamingResponse:
    """Stream a version's file exactly as uploaded."""
    async with _runtime(request).sessionmaker() as session:
        document = await _document(session, document_id)
        _policy(request).require(user, "read", document, kind="document", record_id=document_id)
        version = _version(_live(document), version_id)
    return await _download(request, version.sha256, version.file_name, version.media_type, version.size)


@router.get("/versions/{version_id}/content")
async def get_version_content_by_id(request: Request, version_id: uuid.UUID, user: CurrentUser) -> StreamingResponse:
    """Stream a version's file by the version's id alone, because the extranet requests published versions by id."""
    async with _runtime(request).sessionmaker() as session:
        stored = await session.get(DocumentVersion, version_id)
        if stored is None:
            raise not_found("version", version_id)
        document = await _document(session, stored.document_id)
        _policy(request).require(user, "read", document, kind="document", record_id=document.id)
        version = _version(_live(document), version_id)
    return await _download(request, version.sha256, version.file_name, version.media_type, version.size)


@router.put("/documents/{document_id}/final")
async def put_final(request: Request, document_id: uuid.UUID, body: FinalMark, user: CurrentUser) -> DocumentView:
    """Mark one version final, or none with ``version_id: null``."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        document = _live(await _document(session, document_id, for_update=True))
        _policy(request).require(user, "update", document, kind="document", record_id=document_id)
        context = _context(request, user)
        if body.version_id is None:
            await handlers.unmark_final(session, context, document)
        else:
            await handlers.mark_final(session, context, document, _version(document, body.version_id))
        view = await _view(session, request, user, document)
    runtime.relay.notify()
    return view


@router.post("/documents/{document_id}/comments", status_code=201)
async def post_comment(request: Request, document_id: uuid.UUID, body: AddComment, user: CurrentUser) -> CommentState:
    """Add an internal or external comment to a document."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        document = _live(await _document(session, document_id, for_update=True))
        _policy(request).require(user, "read", document, kind="document", record_id=document_id)
        comment = await handlers.add_comment(session, _context(request, user), document, body)
    runtime.relay.notify()
    return comment


@router.post("/documents/{document_id}/versions/{version_id}/check")
async def post_check(
    request: Request, document_id: uuid.UUID, version_id: uuid.UUID, body: SendVersion, user: CurrentUser
) -> CheckResult:
    """Run the check before sending without sending anything."""
    async with _runtime(request).sessionmaker() as session:
        document = _live(await _document(session, document_id))
        _policy(request).require(user, "read", document, kind="document", record_id=document_id)
        problems = await handlers.check_version(session, document, _version(document, version_id), body)
    return CheckResult(passed=not any(p.severity == "error" for p in problems), problems=problems)


@router.post("/documents/{document_id}/versions/{version_id}/send", status_code=201)
async def post_send(
    request: Request, document_id: uuid.UUID, version_id: uuid.UUID, body: SendVersion, user: CurrentUser
) -> SendState:
    """Record an e-mail send of a version; refused with every problem unless the check passes or is overridden."""
    if body.recipient_email is None:
        raise ValidationFailed("recipient_email is required to send by e-mail", field="recipient_email")
    return await _send(request, document_id, version_id, body, user)


@router.post("/documents/{document_id}/versions/{version_id}/publish", status_code=201)
async def post_publish(
    request: Request, document_id: uuid.UUID, version_id: uuid.UUID, body: SendVersion, user: CurrentUser
) -> SendState:
    """Publish a version to the client portal; refused like a send when the check fails."""
    if body.recipient_email is not None:
        raise ValidationFailed("a portal publication has no recipient_email; use /send", field="recipient_email")
    return await _send(request, document_id, version_id, body, user)


async def _send(
    request: Request, document_id: uuid.UUID, version_id: uuid.UUID, body: SendVersion, user: Principal
) -> SendState:
    # NOTE: e-mail delivery is not built; a send is recorded and announced in DocumentUpdated only.
    runtime = _runtime(request)
    policy = _policy(request)
    async with runtime.sessionmaker() as session, session.begin():
        document = _live(await _document(session, document_id, for_update=True))
        policy.require(user, "send", document, kind="document", record_id=document_id)
        send = await handlers.send_version(
            session,
            _context(request, user),
            document,
            _version(document, version_id),
            body,
            may_override=policy.allows(user, "override_check", document, document.workgroup),
        )
        state = handlers.send_state(send)
    if state.override_reason:
        logger.warning(
            "user %s overrode the check for document %s version %s: %s",
            user.user_id,
            document_id,
            version_id,
            [problem.code for problem in state.problems],
        )
    runtime.relay.notify()
    return state


# --- files ------------------------------------------------------------------------------------------


@router.post("/files", status_code=201)
@own_body_limit
async def post_file(
    *,
    request: Request,
    file_name: FileName,
    user: CurrentUser,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    shared_with_client: bool = False,
) -> FileState:
    """Upload a plain file (the raw body) to a client's space."""
    runtime = _runtime(request)
    name = _file_name(file_name)
    media_type = _media_type(request)
    if _policy(request).level(user, "create") == "none":
        raise _forbidden("upload files")
    command = CreateFile(
        company_id=company_id, deal_id=deal_id, project_id=project_id, shared_with_client=shared_with_client
    )
    async with runtime.sessionmaker() as session:
        await _require_visible_links(session, request, user, company_id, deal_id)

    staged, _ = await _receive(request, media_type, inspect=False)
    await _keep(request, staged)
    async with runtime.sessionmaker() as session, session.begin():
        stored = await handlers.create_file(
            session,
            _context(request, user),
            command,
            staged,
            file_name=name,
            media_type=media_type,
            department=user.department,
        )
        state = handlers.file_state(stored)
    runtime.relay.notify()
    return state


@router.get("/files/{file_id}")
async def get_file(request: Request, file_id: uuid.UUID, user: CurrentUser) -> FileState:
    """Return a file's description."""
    async with _runtime(request).sessionmaker() as session:
        stored = await _stored_file(session, file_id)
    _policy(request).require(user, "read", stored, kind="file", record_id=file_id)
    return handlers.file_state(stored)


@router.get("/files/{file_id}/content")
async def get_file_content(request: Request, file_id: uuid.UUID, user: CurrentUser) -> StreamingResponse:
    """Stream a file exactly as uploaded."""
    async with _runtime(request).sessionmaker() as session:
        stored = await _stored_file(session, file_id)
    _policy(request).require(user, "read", stored, kind="file", record_id=file_id)
    if stored.deleted:
        raise Conflict(f"file {file_id} was deleted", id=str(file_id), status="deleted")
    return await _download(request, stored.sha256, stored.file_name, stored.media_type, stored.size)


@router.patch("/files/{file_id}")
async def patch_file(request: Request, file_id: uuid.UUID, body: UpdateFile, user: CurrentUser) -> FileState:
    """Rename a file, or share it with the client or stop sharing it."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        stored = await _stored_file(session, file_id, for_update=True)
        _policy(request).require(user, "update", stored, kind="file", record_id=file_id)
        if body.file_name is not None:
            body = body.model_copy(update={"file_name": _file_name(body.file_name)})
        await handlers.update_file(session, _context(request, user), stored, body)
        state = handlers.file_state(stored)
    runtime.relay.notify()
    return state


@router.delete("/files/{file_id}", status_code=204)
async def delete_file(request: Request, file_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a file deleted."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        stored = await _stored_file(session, file_id, for_update=True)
        _policy(request).require(user, "delete", stored, kind="file", record_id=file_id)
        await handlers.delete_file(session, _context(request, user), stored)
    runtime.relay.notify()
    return Response(status_code=204)

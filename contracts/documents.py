"""Events of the documents service; they never carry file bytes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event

DocumentKind = Literal["contract", "invoice", "act", "proposal", "other"]

FindingKind = Literal[
    "comment",
    "threaded_comment",
    "insertion",
    "deletion",
    "move",
    "formatting_change",
    "revision_log",
    "annotation",
]


class FindingState(BaseModel):
    """A reviewer's mark found inside an uploaded file: a comment, a tracked change or an annotation."""

    kind: FindingKind = Field(description="What was found.")
    part: str | None = Field(
        default=None, description="Part of the OOXML package that contains it.", examples=["word/document.xml"]
    )
    location: str = Field(
        description="Where in the file: paragraph, sheet and cell, or page.",
        examples=["paragraph 3", "sheet 'Prices' cell B2", "page 2"],
    )
    page: int | None = Field(default=None, ge=1, description="Page number, for PDF annotations.")
    subtype: str | None = Field(default=None, description="PDF annotation subtype.", examples=["Highlight"])
    author: str | None = Field(default=None, description="Author recorded in the file, if any.")
    text: str | None = Field(default=None, description="Start of the comment or changed text, at most 200 characters.")


class VersionState(BaseModel):
    """One uploaded version of a document."""

    id: uuid.UUID
    number: int = Field(ge=1, description="1 for the first upload, growing by one.")
    author_id: str
    uploaded_at: datetime
    size: int = Field(ge=0, description="Size in bytes.")
    media_type: str
    sha256: str = Field(description="Content hash, hex.")
    file_name: str
    internal_findings: list[str] = Field(
        default_factory=list, description="Where the file contains comments, tracked changes or annotations."
    )
    findings: list[FindingState] = Field(
        default_factory=list, description="The same findings as ``internal_findings``, one structured entry each."
    )


class CommentState(BaseModel):
    """A staff comment on a document; internal comments are never shown to the client."""

    id: uuid.UUID
    version_id: uuid.UUID | None = Field(default=None, description="The version the comment is about, if any.")
    author_id: str
    visibility: Literal["internal", "external"]
    body: str
    created_at: datetime


class CheckProblemState(BaseModel):
    """One problem that the check before sending found."""

    code: str = Field(examples=["version_not_final"])
    severity: Literal["error", "warning"]
    message: str


class SendState(BaseModel):
    """A version sent to a client by e-mail or published to the client portal."""

    id: uuid.UUID
    version_id: uuid.UUID
    channel: Literal["email", "portal"]
    recipient_email: str | None = Field(default=None, description="Recipient address, for e-mail sends.")
    recipient_company_id: uuid.UUID | None = None
    sent_by: str = Field(description="User id of the sender.")
    sent_at: datetime
    problems: list[CheckProblemState] = Field(
        default_factory=list, description="What the check found: warnings, or the errors an override let through."
    )
    override_reason: str | None = Field(default=None, description="Why the sender overrode a failed check.")


class DocumentState(BaseModel):
    """Full state of a document."""

    id: uuid.UUID
    kind: DocumentKind
    title: str
    number: str | None = None
    company_id: uuid.UUID | None = None
    client_legal_entity_id: uuid.UUID | None = None
    our_legal_entity_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    owner_id: str | None = None
    department: str | None = None
    versions: list[VersionState] = Field(default_factory=list)
    final_version_id: uuid.UUID | None = Field(default=None, description="The version marked final, if any.")
    published_version_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Versions published to the client portal after passing the check."
    )
    deleted: bool = False
    workgroup: str | None = Field(default=None, description="Workgroup whose members may see the document.")
    comments: list[CommentState] = Field(
        default_factory=list,
        description="Staff comments; consumers must not show internal ones outside the staff services.",
    )
    sends: list[SendState] = Field(default_factory=list, description="E-mail sends and portal publications.")
    trimmed: bool = Field(
        default=False,
        description=(
            "True when this event left out the findings of older versions and shortened comment bodies to stay "
            "under Kafka's message size limit; the documents API returns them whole."
        ),
    )


class DocumentChange(BaseModel):
    document: DocumentState
    changed: list[str] = Field(default_factory=list)


class DocumentCreated(Event[DocumentChange]):
    """A document was created."""

    event_type: Literal["documents.document.created"] = "documents.document.created"
    aggregate_type: Literal["document"] = "document"


class DocumentUpdated(Event[DocumentChange]):
    """A document changed: a version uploaded, marked final, sent or published, or the document deleted."""

    event_type: Literal["documents.document.updated"] = "documents.document.updated"
    aggregate_type: Literal["document"] = "document"


DocumentEvent = Annotated[DocumentCreated | DocumentUpdated, Field(discriminator="event_type")]


class FileState(BaseModel):
    """A plain file in a client's space."""

    id: uuid.UUID
    file_name: str
    size: int = Field(ge=0)
    media_type: str
    sha256: str
    company_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    owner_id: str | None = None
    department: str | None = None
    shared_with_client: bool = False
    deleted: bool = False


class FileCreated(Event[FileState]):
    """A file was uploaded to a client's space."""

    event_type: Literal["documents.file.created"] = "documents.file.created"
    aggregate_type: Literal["file"] = "file"


class FileUpdated(Event[FileState]):
    """A file changed: shared, unshared or deleted."""

    event_type: Literal["documents.file.updated"] = "documents.file.updated"
    aggregate_type: Literal["file"] = "file"


FileEvent = Annotated[FileCreated | FileUpdated, Field(discriminator="event_type")]

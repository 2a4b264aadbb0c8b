"""Events of the documents service; they never carry file bytes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event

DocumentKind = Literal["contract", "invoice", "act", "proposal", "other"]


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

from pathlib import Path

from pydantic import Field

from servicekit.settings import ServiceSettings
from services.documents.access import DEFAULT_RIGHTS, DEFAULT_ROLE_RIGHTS, AccessPolicy, Action, Level

# Office formats and PDF, which the service inspects for reviewers' marks, plus common plain files.
DEFAULT_MEDIA_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/zip",
    "image/png",
    "image/jpeg",
    "text/plain",
    "text/csv",
)


class DocumentsSettings(ServiceSettings):
    """Settings of the documents service."""

    service_name: str = "documents"
    http_port: int = 8003

    files_dir: Path | None = Field(
        default=None, description="Folder of the content-addressed file store; unset means data_dir/files."
    )
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="Largest accepted upload, in bytes.")
    allowed_media_types: list[str] = Field(
        default=list(DEFAULT_MEDIA_TYPES), description="Media types an upload may declare in its Content-Type."
    )
    max_unpacked_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest total uncompressed size of a DOCX or XLSX that is inspected, in bytes.",
    )
    max_archive_members: int = Field(
        default=10_000, ge=1, description="Largest number of entries in a DOCX or XLSX that is inspected."
    )
    download_chunk_bytes: int = Field(default=256 * 1024, ge=1024, description="Chunk size of streamed downloads.")

    default_rights: dict[Action, Level] = Field(
        default_factory=lambda: dict(DEFAULT_RIGHTS), description="Level of each action for every staff user."
    )
    role_rights: dict[str, dict[Action, Level]] = Field(
        default_factory=lambda: {role: dict(rights) for role, rights in DEFAULT_ROLE_RIGHTS.items()},
        description="Levels that a role raises above the default ones, by role and action.",
    )

    @property
    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(default=self.default_rights, roles=self.role_rights)

    @property
    def file_store_dir(self) -> Path:
        return self.files_dir if self.files_dir is not None else self.data_dir / "files"

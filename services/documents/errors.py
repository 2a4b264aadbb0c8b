"""Exceptions of the documents service, on top of :mod:`servicekit.errors`.

ServiceError
├── UploadTooLarge          413: the upload is larger than the configured limit
├── UnsupportedMediaType    415: the declared media type is not allowed, or the content is not of that type
├── FileNotInspectable      422: a DOCX, XLSX or PDF could not be read safely to look for reviewers' marks
├── CheckFailed             409: the check before sending found errors and no override was given
└── BlobMissing             500: a stored version's content is gone from the file store
"""

from __future__ import annotations

from typing import Any

from servicekit.errors import ServiceError


def _mebibytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


class UploadTooLarge(ServiceError):
    """The upload is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"file is larger than the upload limit of {limit} bytes ({_mebibytes(limit)})",
            field="body",
            max_bytes=limit,
        )


class UnsupportedMediaType(ServiceError):
    """The declared media type is not allowed, or the content does not match it."""

    status_code = 415
    code = "unsupported_media_type"

    def __init__(self, message: str, *, media_type: str, allowed: list[str] | None = None) -> None:
        details: dict[str, Any] = {"field": "Content-Type", "media_type": media_type}
        if allowed is not None:
            details["allowed"] = allowed
        super().__init__(message, **details)


class FileNotInspectable(ServiceError):
    """The file could not be read safely, so it cannot be shown to be free of reviewers' marks."""

    status_code = 422
    code = "file_not_inspectable"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, field="body", **details)


class CheckFailed(ServiceError):
    """The check before sending found errors; ``problems`` lists every one."""

    status_code = 409
    code = "check_failed"


class BlobMissing(ServiceError):
    """The file store has no content under this hash."""

    code = "blob_missing"

    def __init__(self, sha256: str) -> None:
        super().__init__(f"stored content {sha256} is missing from the file store", sha256=sha256)

"""Content-addressed file storage: uploads are staged to a temporary file, then stored under their SHA-256.

An upload is streamed chunk by chunk into a staging file while it is hashed and counted, so no file is
held in memory whole. The staged file can be inspected before :meth:`BlobStore.put` takes it in. The
local store keeps each content once, at ``<root>/<first two hex digits>/<sha256>``; an S3-compatible
store would implement the same protocol with the hash as the object key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from services.documents.errors import BlobMissing, UploadTooLarge

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StagedUpload:
    """An upload written to a temporary file, with its hash and size."""

    path: Path
    sha256: str
    size: int

    def discard(self) -> None:
        """Remove the staging file; a no-op after the store took it."""
        self.path.unlink(missing_ok=True)


class BlobStore(Protocol):
    """Storage of file contents, addressed by their SHA-256."""

    async def stage(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StagedUpload:
        """Write ``chunks`` to a staging file; raise :class:`UploadTooLarge` past ``max_bytes``."""
        ...

    async def put(self, staged: StagedUpload) -> bool:
        """Store a staged upload under its hash; return False when that content was stored already."""
        ...

    def open(self, sha256: str, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        """Yield the stored content in chunks; raise :class:`BlobMissing` if it is not stored."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...


class LocalBlobStore:
    """Blob store in a local folder; staging files live in its ``tmp`` folder, so taking one in is a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / "tmp"

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    async def stage(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StagedUpload:
        self.staging.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.staging, prefix="upload-")
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as output:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(max_bytes)
                    digest.update(chunk)
                    await asyncio.to_thread(output.write, chunk)
                await asyncio.to_thread(_flush, output)
        except BaseException:
            _remove(path)
            raise
        return StagedUpload(path=path, sha256=digest.hexdigest(), size=size)

    async def put(self, staged: StagedUpload) -> bool:
        target = self.path_of(staged.sha256)
        if target.exists():
            staged.discard()
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        # The rename is atomic within one file system, so a reader never gets a half-written file.
        # Two uploads of the same content may both rename, which is harmless because the bytes are identical.
        os.replace(staged.path, target)
        logger.info("stored new content %s (%s bytes)", staged.sha256, staged.size)
        return True

    async def open(self, sha256: str, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise BlobMissing(sha256) from exc
        with handle:
            while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
                yield chunk

    async def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    async def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(sha256).unlink()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _flush(output: BinaryIO) -> None:
    output.flush()
    os.fsync(output.fileno())

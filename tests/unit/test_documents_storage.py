"""The local blob store: streamed staging with a size limit, content addressing, streamed reads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.documents.errors import BlobMissing, UploadTooLarge
from services.documents.storage import LocalBlobStore

pytestmark = pytest.mark.unit


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(store: LocalBlobStore, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(sha256, chunk_bytes=4096)])


async def test_staged_upload_is_hashed_and_stored(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(50_000)

    staged = await store.stage(chunks_of(data), max_bytes=100_000)
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.size == len(data)

    assert await store.put(staged) is True
    assert store.path_of(staged.sha256) == tmp_path / staged.sha256[:2] / staged.sha256
    assert await read_all(store, staged.sha256) == data
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = b"same bytes" * 100

    first = await store.stage(chunks_of(data), max_bytes=10_000)
    second = await store.stage(chunks_of(data, size=7), max_bytes=10_000)

    assert await store.put(first) is True
    assert await store.put(second) is False
    assert [path.name for path in (tmp_path / first.sha256[:2]).iterdir()] == [first.sha256]
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_oversized_upload_leaves_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    with pytest.raises(UploadTooLarge, match="upload limit of 1024 bytes"):
        await store.stage(chunks_of(b"x" * 2000, size=100), max_bytes=1024)

    assert list((tmp_path / "tmp").iterdir()) == []


async def test_missing_content_raises(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    with pytest.raises(BlobMissing):
        await read_all(store, "a" * 64)
    assert await store.exists("a" * 64) is False


def test_path_rejects_non_hash(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        LocalBlobStore(tmp_path).path_of("../../etc/passwd")

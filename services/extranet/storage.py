"""Reading shared file bytes for portal downloads.

The documents service owns the bytes and serves them at ``GET /versions/{version_id}/content``
and ``GET /files/{file_id}/content`` to a bearer token with the ``service`` role.

Most extranet tests serve the bytes from a small fake HTTP server on 127.0.0.1 with the same two
routes. tests/e2e/test_portal_download.py downloads through the real documents service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Literal, Protocol

import httpx

from servicekit.auth import issue_token
from services.extranet.errors import DownloadFailed
from services.extranet.settings import ExtranetSettings

ContentKind = Literal["versions", "files"]


class ContentReader(Protocol):
    """Reads the bytes of a document version or a file."""

    def open(self, kind: ContentKind, object_id: uuid.UUID) -> AsyncGenerator[bytes, None]:
        """Stream the bytes; raise :class:`DownloadFailed` when they cannot be read."""
        ...


class DocumentsContentReader:
    """Streams bytes from the documents service with a short-lived service token."""

    def __init__(self, settings: ExtranetSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.documents_timeout_seconds)

    def _token(self) -> str:
        return issue_token(
            self._settings.jwt_secret_key.get_secret_value(),
            f"service:{self._settings.service_name}",
            name=self._settings.service_name,
            roles=["service"],
            ttl=timedelta(minutes=5),
            issuer=self._settings.jwt_issuer,
        )

    async def open(self, kind: ContentKind, object_id: uuid.UUID) -> AsyncGenerator[bytes, None]:
        url = f"{self._settings.documents_url.rstrip('/')}/{kind}/{object_id}/content"
        async with self._stream(url) as response:
            async for chunk in response.aiter_bytes():
                yield chunk

    @asynccontextmanager
    async def _stream(self, url: str) -> AsyncIterator[httpx.Response]:
        try:
            async with self._client.stream(
                "GET", url, headers={"Authorization": f"Bearer {self._token()}"}
            ) as response:
                if response.status_code != 200:
                    raise DownloadFailed(f"documents service returned HTTP {response.status_code} for {url}")
                yield response
        except httpx.HTTPError as exc:
            raise DownloadFailed(f"documents service at {url} failed: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()

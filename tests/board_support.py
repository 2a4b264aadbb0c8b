"""A Server-Sent Events reader for the live board stream, and a real HTTP server for an in-process app.

httpx's ASGI transport returns a response only after its body has ended, so an endless stream needs a
real server: ``serve_app`` runs uvicorn on a free loopback port for an app whose lifespan already runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support import free_port


@dataclass
class SseEvent:
    kind: str
    id: str | None
    data: dict[str, Any]


@dataclass
class SseReader:
    """Reads one stream in a background task; ``raw`` keeps every line received, comments included."""

    url: str
    headers: dict[str, str]
    events: asyncio.Queue[SseEvent] = field(default_factory=asyncio.Queue)
    raw: list[str] = field(default_factory=list)
    status: int | None = None
    last_id: str | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> SseReader:
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            self.status = response.status_code
            if response.status_code != 200:
                self.raw.append((await response.aread()).decode())
                return
            kind: str = "message"
            event_id: str | None = None
            data: list[str] = []
            async for line in response.aiter_lines():
                self.raw.append(line)
                if line == "":
                    if event_id is not None:
                        self.last_id = event_id
                    if data:
                        await self.events.put(SseEvent(kind, event_id, json.loads("\n".join(data))))
                    kind, event_id, data = "message", None, []
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    async def next(self, timeout: float = 10.0) -> SseEvent:
        return await asyncio.wait_for(self.events.get(), timeout=timeout)

    async def drain(self, quiet: float = 1.0) -> list[SseEvent]:
        """Return the events that arrive until none came for ``quiet`` seconds."""
        found: list[SseEvent] = []
        while True:
            try:
                found.append(await self.next(timeout=quiet))
            except TimeoutError:
                return found

    @property
    def ended(self) -> bool:
        """Whether the server ended the response (or the request failed)."""
        return self._task is not None and self._task.done()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    def text(self) -> str:
        return "\n".join(self.raw)


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port without running its lifespan again; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)


async def open_stream(
    base_url: str, pipeline_id: str, headers: dict[str, str], last_id: str | None = None
) -> SseReader:
    extra = {"Last-Event-ID": last_id} if last_id is not None else {}
    url = f"{base_url}/pipelines/{pipeline_id}/board/stream"
    return await SseReader(url, {**headers, **extra}).start()

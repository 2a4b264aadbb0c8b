"""The live board stream: Server-Sent Events of one pipeline's board, filtered for the subscriber.

A stream starts with a ``snapshot`` event, or resumes after the ``Last-Event-ID`` it was sent. It
then sends ``update`` events, each with the latest card of every deal that changed in the last
coalescing window, the ids of deals that left the user's board, and the new totals. Each event's
``id`` is the board log position it covers, so a reconnect with that id resumes without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
import jwt
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import delete, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.auth import CurrentUser
from servicekit.db import utcnow
from servicekit.errors import NotFound, PermissionDenied
from servicekit.service import ServiceRuntime
from services.crm.access import AccessPolicy
from services.crm.board import changes_after, readable_deals, resumable, snapshot, stages_of, totals
from services.crm.boardlog import NOTIFY_CHANNEL, add_local_listener, remove_local_listener
from services.crm.guard import Guard, active_grants
from services.crm.settings import CrmSettings
from services.crm.tables import BoardChange, Pipeline

logger = logging.getLogger(__name__)

router = APIRouter()

#: Milliseconds a browser waits before it reconnects, sent as the stream's ``retry`` field.
RETRY_MS = 2000


class BoardSignals:
    """Wakes the streams of this process whose pipeline changed."""

    def __init__(self) -> None:
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    def subscribe(self, pipeline_id: uuid.UUID) -> asyncio.Event:
        waiter = asyncio.Event()
        self._waiters[pipeline_id].add(waiter)
        return waiter

    def unsubscribe(self, pipeline_id: uuid.UUID, waiter: asyncio.Event) -> None:
        self._waiters[pipeline_id].discard(waiter)
        if not self._waiters[pipeline_id]:
            del self._waiters[pipeline_id]

    def wake(self, pipeline_ids: set[uuid.UUID]) -> None:
        for pipeline_id in pipeline_ids:
            for waiter in self._waiters.get(pipeline_id, ()):
                waiter.set()


def event_id(pipeline_id: uuid.UUID, position: int) -> str:
    """Return the SSE id of a log position: the pipeline's id and the position, such as ``6f1c…0001:42``.

    Positions count per pipeline, so the pipeline in the id keeps a client from resuming one board with
    the position of another.
    """
    return f"{pipeline_id}:{position}"


def format_event(kind: str, pipeline_id: uuid.UUID, position: int, body: dict[str, Any]) -> str:
    """Return one SSE event; JSON never contains a raw newline, so ``data`` is one line."""
    data = json.dumps(body, ensure_ascii=False)
    return f"event: {kind}\nid: {event_id(pipeline_id, position)}\ndata: {data}\n\n"


def parse_last_event_id(value: str | None, pipeline_id: uuid.UUID) -> int | None:
    """Return the position of a ``Last-Event-ID`` of this pipeline; None (a snapshot) for any other value."""
    prefix, _, position = (value or "").strip().rpartition(":")
    if prefix != str(pipeline_id) or not position.isdigit():
        return None
    return int(position)


class BoardStream:
    """One subscriber's stream of one pipeline's board."""

    def __init__(
        self, runtime: ServiceRuntime, guard: Guard, pipeline: Pipeline, after: int | None, *, expires_at: float | None
    ) -> None:
        self.runtime = runtime
        self.settings: CrmSettings = runtime.settings  # type: ignore[assignment]
        self.signals: BoardSignals = runtime.extras["board_signals"]
        self.guard = guard
        self.pipeline = pipeline
        self.position = after
        self.sent_position = after
        #: Ids of the deals this connection put on the user's board.
        self.shown: set[str] = set()
        #: Unix time when the bearer token expires; the stream ends then, so the client must sign in again.
        self.expires_at = expires_at

    async def events(self) -> AsyncIterator[str]:
        waiter = self.signals.subscribe(self.pipeline.id)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            async with self.runtime.sessionmaker() as session:
                first = await self._start(session)
            if first is not None:
                yield first
            async for chunk in self._follow(waiter):
                yield chunk
        finally:
            self.signals.unsubscribe(self.pipeline.id, waiter)

    async def _start(self, session: AsyncSession) -> str | None:
        """Return the snapshot event, or None when the stream can resume after ``Last-Event-ID``."""
        if self.position is not None and await resumable(session, self.pipeline.id, self.position):
            return None
        position, body = await snapshot(session, self.guard, self.pipeline)
        self.position = self.sent_position = position
        self.shown = {card["id"] for card in body["deals"]}
        return format_event("snapshot", self.pipeline.id, position, body)

    async def _follow(self, waiter: asyncio.Event) -> AsyncIterator[str]:
        heartbeat_at = time.monotonic() + self.settings.board_heartbeat_seconds
        while self.expires_at is None or time.time() < self.expires_at:
            timeout = max(0.0, min(self.settings.board_poll_seconds, heartbeat_at - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=timeout)
                # Let the rest of a burst commit, so it goes out as one update.
                await asyncio.sleep(self.settings.board_coalesce_seconds)
            waiter.clear()
            async for update in self._updates():
                yield update
            if time.monotonic() >= heartbeat_at:
                yield self._heartbeat()
                heartbeat_at = time.monotonic() + self.settings.board_heartbeat_seconds

    async def _updates(self) -> AsyncIterator[str]:
        """Yield an update per batch of log rows until the stream has caught up with the log.

        When the user's granted access requests changed (a grant arrived or expired), the board is sent
        again as a snapshot, because deals that did not change may have come into or gone out of view.
        """
        assert self.position is not None
        async with self.runtime.sessionmaker() as session:
            grants = await active_grants(session, self.guard.user.user_id)
            if grants != self.guard.grants:
                self.guard.grants = grants
                self.position = None
                snapshot_event = await self._start(session)
                assert snapshot_event is not None
                yield snapshot_event
        assert self.position is not None
        while True:
            async with self.runtime.sessionmaker() as session:
                batch = await changes_after(session, self.guard, self.pipeline.id, self.position, self.shown)
                if batch is None:
                    return
                self.position = batch.position
                if not batch.deals and not batch.removed:
                    continue  # only deals this user may not read changed
                stages = await stages_of(session, self.pipeline.id)
                board_totals = totals(stages, await readable_deals(session, self.guard, self.pipeline.id))
            self.shown.update(card["id"] for card in batch.deals)
            self.shown.difference_update(batch.removed)
            self.sent_position = batch.position
            body = {"deals": batch.deals, "removed": batch.removed, "totals": board_totals}
            yield format_event("update", self.pipeline.id, batch.position, body)

    def _heartbeat(self) -> str:
        """Return a comment that keeps proxies from closing the stream, with the position if it moved.

        A block with an ``id`` and no ``data`` moves the client's Last-Event-ID without an event, so a
        reconnect does not reread changes that this user may not see.
        """
        if self.position is not None and self.position != self.sent_position:
            self.sent_position = self.position
            return f": heartbeat\nid: {event_id(self.pipeline.id, self.position)}\n\n"
        return ": heartbeat\n\n"


@router.get("/pipelines/{pipeline_id}/board/stream")
async def board_stream(
    request: Request,
    pipeline_id: uuid.UUID,
    user: CurrentUser,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Stream the pipeline's board as Server-Sent Events: a snapshot, then coalesced updates."""
    runtime: ServiceRuntime = request.app.state.runtime
    policy: AccessPolicy = runtime.extras["policy"]
    async with runtime.sessionmaker() as session:
        pipeline = await session.get(Pipeline, pipeline_id)
        if pipeline is None:
            raise NotFound(f"pipeline {pipeline_id} not found", id=str(pipeline_id), status="not_found")
        guard = await Guard.load(session, policy, user)
    decision = policy.check(user, "pipeline", "read", None)
    if not decision.allowed:
        raise PermissionDenied(f"you may not read pipeline {pipeline.key!r}: {decision.reason}", reason=decision.reason)
    after = parse_last_event_id(last_event_id, pipeline_id)
    if last_event_id is not None and after is None:
        logger.info("invalid Last-Event-ID %r for board %s; sending a snapshot", last_event_id[:80], pipeline_id)
    stream = BoardStream(runtime, guard, pipeline, after, expires_at=_token_expiry(request))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream.events(), media_type="text/event-stream", headers=headers)


def _token_expiry(request: Request) -> float | None:
    """Return the ``exp`` claim of the request's bearer token, which ``CurrentUser`` has already verified."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    try:
        expiry = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(expiry) if isinstance(expiry, int | float) else None


BackgroundJob = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def board_wakeup_job(settings: CrmSettings, signals: BoardSignals) -> BackgroundJob:
    """Build the job that wakes this process's streams on commits here and, on PostgreSQL, anywhere.

    Other CRM processes announce their commits with ``NOTIFY``. On SQLite only the local commits
    wake streams; changes of other processes arrive by polling every ``board_poll_seconds``.
    """

    async def run(stop: asyncio.Event) -> None:
        add_local_listener(signals.wake)
        try:
            url = make_url(settings.sqlalchemy_url)
            if url.get_backend_name() == "postgresql":
                dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
                await _listen(dsn, signals, stop)
            else:
                await stop.wait()
        finally:
            remove_local_listener(signals.wake)

    return run


async def _listen(dsn: str, signals: BoardSignals, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await _listen_once(dsn, signals, stop)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("board LISTEN connection failed: %s; streams poll until it is back; retrying in 2 s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)


async def _listen_once(dsn: str, signals: BoardSignals, stop: asyncio.Event) -> None:
    """Listen on one connection until ``stop`` is set or the connection is lost."""

    def on_notify(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            signals.wake({uuid.UUID(payload)})

    lost = asyncio.Event()
    connection = await asyncpg.connect(dsn)
    try:
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(NOTIFY_CHANNEL, on_notify)
        logger.info("listening for board changes on channel %s", NOTIFY_CHANNEL)
        await _first(stop.wait(), lost.wait())
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await connection.close()
    if lost.is_set() and not stop.is_set():
        logger.warning("board LISTEN connection lost; reconnecting in 2 s")


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def prune_board_changes(sessionmaker: async_sessionmaker[AsyncSession], retention: timedelta) -> int:
    """Delete log rows older than ``retention``; return how many. Positions keep counting."""
    async with sessionmaker() as session, session.begin():
        result = await session.execute(delete(BoardChange).where(BoardChange.created_at < utcnow() - retention))
    return int(getattr(result, "rowcount", 0) or 0)


def board_prune_job(sessionmaker: async_sessionmaker[AsyncSession], settings: CrmSettings) -> BackgroundJob:
    """Build the job that keeps the board change log to ``board_log_retention_hours``."""
    retention = timedelta(hours=settings.board_log_retention_hours)

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                pruned = await prune_board_changes(sessionmaker, retention)
                if pruned:
                    logger.info("pruned %s board changes older than %s", pruned, retention)
            except Exception:
                # A failed round (a restarting database, say) is retried at the next interval.
                logger.exception("board change pruning failed; retrying in %.0f s", settings.board_prune_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.board_prune_seconds)

    return run

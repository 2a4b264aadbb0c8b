"""Polling of Maildir mailboxes: each new message is stored like an uploaded one, then marked seen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.handlers import store_request
from services.intake.settings import IntakeSettings
from services.intake.tables import ChannelRecord

logger = logging.getLogger(__name__)


async def poll_maildirs(sessionmaker: async_sessionmaker[AsyncSession], settings: IntakeSettings) -> int:
    """Store every new message of every e-mail channel's Maildir; return how many were stored."""
    async with sessionmaker() as session:
        channels = (
            await session.scalars(
                select(ChannelRecord).where(ChannelRecord.kind == "email", ChannelRecord.enabled.is_(True))
            )
        ).all()
    stored = 0
    for channel in channels:
        path = channel.settings.get("maildir")
        if isinstance(path, str) and path:
            stored += await poll_maildir(sessionmaker, settings, channel.key, Path(path))
    return stored


async def poll_maildir(
    sessionmaker: async_sessionmaker[AsyncSession], settings: IntakeSettings, channel_key: str, path: Path
) -> int:
    """Store the new messages of one Maildir for ``channel_key``, then move each to cur/ as seen."""
    messages = await asyncio.to_thread(_new_messages, path, settings, channel_key)
    for file, raw in messages:
        # Stored first and marked seen after: a crash between the two stores the message twice,
        # and its Message-ID makes the second copy a duplicate.
        await store_request(
            sessionmaker,
            endpoint=channel_key,
            kind="email",
            content_type="message/rfc822",
            headers={"x-maildir-file": file.name},
            body=raw,
            remote_addr=None,
            idempotency_key=None,
            correlation_id=str(uuid.uuid4()),
        )
        await asyncio.to_thread(file.rename, path / "cur" / f"{file.name.split(':', 1)[0]}:2,S")
    return len(messages)


def _new_messages(path: Path, settings: IntakeSettings, channel_key: str) -> list[tuple[Path, bytes]]:
    if settings.maildir_root is not None and not path.resolve().is_relative_to(settings.maildir_root.resolve()):
        logger.warning("maildir of channel %s lies outside MAILDIR_ROOT; not polled", channel_key)
        return []
    if not (path / "new").is_dir() or not (path / "cur").is_dir():
        logger.warning("maildir of channel %s has no new/ and cur/ folders; not polled", channel_key)
        return []
    messages = []
    for file in sorted((path / "new").iterdir()):
        if file.name.startswith(".") or not file.is_file():
            continue
        if file.stat().st_size > settings.max_body_bytes:
            logger.warning("message %s of channel %s is over MAX_BODY_BYTES; left in new/", file.name, channel_key)
            continue
        messages.append((file, file.read_bytes()))
    return messages


async def run_maildir_poller(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: IntakeSettings,
    stop: asyncio.Event,
    wakeup: asyncio.Event,
) -> None:
    """Poll the mailboxes until ``stop`` is set."""
    while not stop.is_set():
        try:
            if await poll_maildirs(sessionmaker, settings):
                wakeup.set()
        except Exception:
            logger.exception("polling mailboxes failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.maildir_poll_seconds)

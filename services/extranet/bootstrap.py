"""Composition root of the extranet service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import CompanyEvent, ContactEvent, DealEvent
from contracts.documents import DocumentEvent, FileEvent
from contracts.extranet import ExtranetAccessEvent
from contracts.tasks import TaskEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.extranet.access import delete_expired_sessions
from services.extranet.handlers import (
    project_company,
    project_contact,
    project_deal,
    project_document,
    project_file,
    project_task,
)
from services.extranet.http import router as staff_router
from services.extranet.portal import router as portal_router
from services.extranet.ratelimit import SlidingWindowLimiter
from services.extranet.settings import ExtranetSettings
from services.extranet.storage import DocumentsContentReader

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = ExtranetSettings


def create_runtime(settings: ExtranetSettings | None = None) -> ServiceRuntime:
    settings = settings or ExtranetSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Client portal.")
    access_topic = runtime.use_topic(Topic.EXTRANET_ACCESS)
    runtime.broker.publisher(
        access_topic,
        title=f"{access_topic}:publish",
        description="Invitations, portal users and what portal users viewed and downloaded.",
        schema=ExtranetAccessEvent,
    )

    subscriptions: list[tuple[str, Any, Callable[[AsyncSession, Any], Awaitable[None]], str, str]] = [
        (Topic.CRM_COMPANIES, CompanyEvent, project_company, "companies", "Keeps each client company's name."),
        (Topic.CRM_CONTACTS, ContactEvent, project_contact, "contacts", "Keeps which company each contact is of."),
        (Topic.CRM_DEALS, DealEvent, project_deal, "deals", "Writes shared deals to the client view."),
        (Topic.TASKS_TASKS, TaskEvent, project_task, "tasks", "Writes tasks flagged for the client to the view."),
        (
            Topic.DOCUMENTS_DOCUMENTS,
            DocumentEvent,
            project_document,
            "documents",
            "Writes published document versions to the client view.",
        ),
        (Topic.DOCUMENTS_FILES, FileEvent, project_file, "files", "Writes files shared with the client to the view."),
    ]
    for topic, body_type, handler, projection, description in subscriptions:
        subscribe(runtime, topic, body_type, handler, projection=projection, description=description)

    runtime.background_jobs.append(lambda stop: sweep_sessions(runtime, stop))
    runtime.extras["sign_in_limiter"] = SlidingWindowLimiter(settings.sign_in_attempts_per_minute, 60.0)
    reader = DocumentsContentReader(settings)
    runtime.extras["content_reader"] = reader
    runtime.on_stop.append(reader.close)
    return runtime


async def sweep_sessions(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Delete expired portal sessions every ``SESSION_SWEEP_SECONDS`` until the service stops."""
    settings = runtime.settings
    assert isinstance(settings, ExtranetSettings)
    while not stop.is_set():
        try:
            async with runtime.sessionmaker() as session, session.begin():
                deleted = await delete_expired_sessions(session)
            if deleted:
                logger.info("deleted %s expired portal sessions", deleted)
        except SQLAlchemyError:
            logger.warning("deleting expired portal sessions failed; retrying later", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.session_sweep_seconds)


def create_app(settings: ExtranetSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="extranet", routers=[staff_router, portal_router])

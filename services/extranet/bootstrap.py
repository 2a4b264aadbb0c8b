"""Composition root of the extranet service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import CompanyEvent, ContactEvent, DealEvent
from contracts.documents import DocumentEvent, FileEvent
from contracts.extranet import ExtranetAccessEvent
from contracts.tasks import TaskEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
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
from services.extranet.settings import ExtranetSettings
from services.extranet.storage import DocumentsContentReader

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

    reader = DocumentsContentReader(settings)
    runtime.extras["content_reader"] = reader
    runtime.on_stop.append(reader.close)
    return runtime


def create_app(settings: ExtranetSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="extranet", routers=[staff_router, portal_router])

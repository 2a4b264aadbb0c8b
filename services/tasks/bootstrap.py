"""Composition root of the tasks service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import (
    CompanyEvent,
    ContactCreated,
    ContactEvent,
    ContactUpdated,
    DealCreated,
    DealEvent,
    DealUpdated,
)
from contracts.tasks import TaskEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.tasks.http import router
from services.tasks.projections import project_company, project_contact, project_deal
from services.tasks.settings import TasksSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = TasksSettings


def create_runtime(settings: TasksSettings | None = None) -> ServiceRuntime:
    settings = settings or TasksSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Tasks in client context.")
    tasks_topic = runtime.use_topic(Topic.TASKS_TASKS)
    runtime.broker.publisher(
        tasks_topic,
        title=f"{tasks_topic}:publish",
        description="Task events: every change of a task with its full state and the names of the changed fields.",
        schema=TaskEvent,
    )

    async def on_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
        await project_deal(session, settings, event)

    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        on_deal,
        projection="deals",
        description="Keeps this service's projection of CRM deals at their newest version; "
        "when a deal's client changes, its open tasks follow.",
    )

    async def on_contact(session: AsyncSession, event: ContactCreated | ContactUpdated) -> None:
        await project_contact(session, settings, event)

    subscribe(
        runtime,
        Topic.CRM_COMPANIES,
        CompanyEvent,
        project_company,
        projection="companies",
        description="Keeps this service's projection of CRM companies at their newest version.",
    )
    subscribe(
        runtime,
        Topic.CRM_CONTACTS,
        ContactEvent,
        on_contact,
        projection="contacts",
        description="Keeps this service's projection of CRM contacts at their newest version; "
        "when a contact changes company, its open tasks without a deal follow.",
    )
    return runtime


def create_app(settings: TasksSettings | None = None) -> FastAPI:
    settings = settings or TasksSettings()
    app = create_http_app(create_runtime(settings), title="tasks", routers=[router])
    # Staff pages served by CRM call this API from the browser with a bearer token, never with cookies.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.staff_page_origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Correlation-ID"],
        expose_headers=["ETag", "X-Correlation-ID"],
        max_age=600,
    )
    return app

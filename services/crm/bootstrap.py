"""Composition root of the CRM service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import CompanyEvent, ContactEvent, DealEvent, LegalEntityEvent, ProjectEvent
from contracts.documents import DocumentEvent, FileEvent
from contracts.intake import RequestAccepted
from contracts.tasks import TaskEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.crm.access import AccessPolicy
from services.crm.access_routes import router as access_router
from services.crm.handlers import create_deal_from_request
from services.crm.http import router
from services.crm.live import BoardSignals, board_prune_job, board_wakeup_job
from services.crm.live import router as live_router
from services.crm.pages import router as pages_router
from services.crm.projections import apply_document, apply_file, apply_task, marker_refresh_job
from services.crm.settings import CrmSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = CrmSettings

PUBLISHED = (
    (Topic.CRM_COMPANIES, CompanyEvent, "Company events with the company's full state."),
    (Topic.CRM_CONTACTS, ContactEvent, "Contact events with the contact's full state."),
    (Topic.CRM_LEGAL_ENTITIES, LegalEntityEvent, "Legal entity events, of clients and of our own companies."),
    (Topic.CRM_PROJECTS, ProjectEvent, "Client project events with the project's full state."),
    (Topic.CRM_DEALS, DealEvent, "Deal events with the deal's full state, links and markers."),
)


def create_runtime(settings: CrmSettings | None = None) -> ServiceRuntime:
    settings = settings or CrmSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Clients, pipelines and deals.")
    runtime.extras["policy"] = AccessPolicy(settings.access_roles, base_role=settings.base_role)

    for contract_topic, schema, description in PUBLISHED:
        topic = runtime.use_topic(contract_topic)
        runtime.broker.publisher(topic, title=f"{topic}:publish", description=description, schema=schema)

    subscribe(
        runtime,
        Topic.INTAKE_REQUESTS,
        RequestAccepted,
        lambda session, event: create_deal_from_request(session, settings, event),
        description="Creates a deal from each accepted inquiry, once per request.",
    )
    subscribe(
        runtime,
        Topic.TASKS_TASKS,
        TaskEvent,
        lambda session, event: apply_task(session, settings, event),
        description="Projects tasks for counters and markers, and adds task results to their deals' timelines.",
        projection="tasks",
    )
    subscribe(
        runtime,
        Topic.DOCUMENTS_DOCUMENTS,
        DocumentEvent,
        lambda session, event: apply_document(session, settings, event),
        description="Projects documents for the relationship card and the client workspace.",
        projection="documents",
    )
    subscribe(
        runtime,
        Topic.DOCUMENTS_FILES,
        FileEvent,
        lambda session, event: apply_file(session, settings, event),
        description="Projects client files for the relationship card and the client workspace.",
        projection="files",
    )
    runtime.background_jobs.append(
        marker_refresh_job(runtime.sessionmaker, settings, settings.marker_refresh_seconds, runtime.relay.notify)
    )
    signals = BoardSignals()
    runtime.extras["board_signals"] = signals
    runtime.background_jobs.append(board_wakeup_job(settings, signals))
    runtime.background_jobs.append(board_prune_job(runtime.sessionmaker, settings))
    return runtime


def create_app(settings: CrmSettings | None = None) -> FastAPI:
    runtime = create_runtime(settings)
    return create_http_app(runtime, title="crm", routers=[router, live_router, access_router, pages_router])

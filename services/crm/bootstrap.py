"""Composition root of the CRM service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import DealEvent
from contracts.intake import RequestAccepted
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.crm.handlers import create_deal_from_request
from services.crm.http import router
from services.crm.settings import CrmSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = CrmSettings


def create_runtime(settings: CrmSettings | None = None) -> ServiceRuntime:
    settings = settings or CrmSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Clients, pipelines and deals.")
    deals_topic = runtime.use_topic(Topic.CRM_DEALS)

    runtime.broker.publisher(
        deals_topic,
        title=f"{deals_topic}:publish",
        description="Deal events.",
        schema=DealEvent,
    )

    subscribe(
        runtime,
        Topic.INTAKE_REQUESTS,
        RequestAccepted,
        lambda session, event: create_deal_from_request(session, settings, event),
        description="Creates a deal from each accepted inquiry, once per request.",
    )
    return runtime


def create_app(settings: CrmSettings | None = None) -> FastAPI:
    runtime = create_runtime(settings)
    return create_http_app(runtime, title="crm", routers=[router])

"""Composition root of the extranet service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import DealEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.extranet.handlers import project_deal
from services.extranet.settings import ExtranetSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = ExtranetSettings


def create_runtime(settings: ExtranetSettings | None = None) -> ServiceRuntime:
    runtime = build_runtime(settings or ExtranetSettings(), MIGRATIONS, description="Client portal.")
    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        project_deal,
        projection="deals",
        description="Keeps this service's projection of CRM deals at their newest version.",
    )
    return runtime


def create_app(settings: ExtranetSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="extranet")

"""Composition root of the documents service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import DealEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.documents.handlers import project_deal
from services.documents.settings import DocumentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = DocumentsSettings


def create_runtime(settings: DocumentsSettings | None = None) -> ServiceRuntime:
    runtime = build_runtime(
        settings or DocumentsSettings(),
        MIGRATIONS,
        description="Documents and files in the client's space.",
    )
    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        project_deal,
        projection="deals",
        description="Keeps this service's projection of CRM deals at their newest version.",
    )
    return runtime


def create_app(settings: DocumentsSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="documents")

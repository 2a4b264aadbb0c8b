"""Composition root of the documents service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import CompanyEvent, DealEvent, LegalEntityEvent
from contracts.documents import DocumentEvent, FileEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.documents.handlers import project_company, project_deal, project_legal_entity
from services.documents.http import router
from services.documents.settings import DocumentsSettings
from services.documents.storage import LocalBlobStore

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = DocumentsSettings


def create_runtime(settings: DocumentsSettings | None = None) -> ServiceRuntime:
    settings = settings or DocumentsSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Documents and files in the client's space.")
    runtime.extras["store"] = LocalBlobStore(settings.file_store_dir)

    for topic, schema, description in (
        (Topic.DOCUMENTS_DOCUMENTS, DocumentEvent, "Document events with the full state: versions, final mark, sends."),
        (Topic.DOCUMENTS_FILES, FileEvent, "Events of plain files in a client's space."),
    ):
        real = runtime.use_topic(topic)
        runtime.broker.publisher(real, title=f"{real}:publish", description=description, schema=schema)

    subscribe(
        runtime,
        Topic.CRM_COMPANIES,
        CompanyEvent,
        project_company,
        projection="companies",
        description="Keeps companies' e-mail domains and owners for the check before sending and for access.",
    )
    subscribe(
        runtime,
        Topic.CRM_LEGAL_ENTITIES,
        LegalEntityEvent,
        project_legal_entity,
        projection="legal_entities",
        description="Keeps whose each legal entity is, for the check before sending.",
    )
    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        project_deal,
        projection="deals",
        description="Keeps deals' client, legal entities and owners for the check before sending and for access.",
    )
    return runtime


def create_app(settings: DocumentsSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="documents", routers=[router])

"""Composition root of the tasks service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts.crm import DealEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.tasks.handlers import project_deal
from services.tasks.settings import TasksSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = TasksSettings


def create_runtime(settings: TasksSettings | None = None) -> ServiceRuntime:
    runtime = build_runtime(settings or TasksSettings(), MIGRATIONS, description="Tasks in client context.")
    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        project_deal,
        projection="deals",
        description="Keeps this service's projection of CRM deals at their newest version.",
    )
    return runtime


def create_app(settings: TasksSettings | None = None) -> FastAPI:
    return create_http_app(create_runtime(settings), title="tasks")

"""Composition root of the intake service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI

from contracts.crm import DealEvent
from contracts.intake import IntakeEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app, subscribe
from services.intake.handlers import process_pending, record_deal
from services.intake.http import router as public_router
from services.intake.maildir import run_maildir_poller
from services.intake.settings import IntakeSettings
from services.intake.staff import router as staff_router

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: IntakeSettings | None = None) -> ServiceRuntime:
    settings = settings or IntakeSettings()
    runtime = build_runtime(
        settings,
        MIGRATIONS,
        description="Forms and channels in; accepted inquiries out.",
    )
    requests_topic = runtime.use_topic(Topic.INTAKE_REQUESTS)
    runtime.broker.publisher(
        requests_topic,
        title=f"{requests_topic}:publish",
        description="Accepted inquiries.",
        schema=IntakeEvent,
    )
    subscribe(
        runtime,
        Topic.CRM_DEALS,
        DealEvent,
        record_deal,
        projection="deals",
        description="Records which deal each request became, for the request's staff view.",
    )
    return runtime


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = create_runtime(settings)
    app = create_http_app(runtime, title="intake", routers=[public_router, staff_router])
    wakeup = asyncio.Event()
    app.state.processor_wakeup = wakeup

    async def processor(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await process_pending(runtime.sessionmaker, settings)
            except Exception:
                logger.exception("processing stored requests failed; retrying")
                handled = 0
                await asyncio.sleep(1.0)
            if handled:
                runtime.relay.notify()
                continue
            wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=settings.processor_poll_seconds)

    async def maildir_poller(stop: asyncio.Event) -> None:
        await run_maildir_poller(runtime.sessionmaker, settings, stop, wakeup)

    runtime.background_jobs.extend([processor, maildir_poller])
    return app


settings_class = IntakeSettings

"""Composition root of the search service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from faststream import AckPolicy
from opensearchpy import AsyncOpenSearch

from contracts.crm import DealEvent
from contracts.topics import Topic
from servicekit.service import ServiceRuntime, build_runtime, create_http_app
from services.search.http import router
from services.search.index import DealIndex
from services.search.settings import SearchSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = SearchSettings


def create_runtime(settings: SearchSettings | None = None) -> ServiceRuntime:
    settings = settings or SearchSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Global search over every domain topic.")
    client = AsyncOpenSearch(hosts=[settings.opensearch_url], timeout=30)
    deal_index = DealIndex(client, settings.index_prefix, refresh=settings.refresh_on_write)
    runtime.extras["deal_index"] = deal_index
    runtime.extras["opensearch"] = client
    deals_topic = runtime.use_topic(Topic.CRM_DEALS, consume=True)

    @runtime.broker.subscriber(
        deals_topic,
        group_id=settings.consumer_group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{deals_topic}:search",
        description="Indexes each deal's newest state; older versions are ignored by OpenSearch's external versioning.",
    )
    async def on_deal_event(event: DealEvent) -> None:
        await deal_index.apply(event)

    async def opensearch_ready() -> None:
        if not await client.ping():
            raise ConnectionError(f"OpenSearch at {settings.opensearch_url} did not respond to a ping")

    async def close_client() -> None:
        await client.close()

    runtime.ready_checks["opensearch"] = opensearch_ready
    runtime.before_start.append(deal_index.ensure)
    runtime.on_stop.append(close_client)
    return runtime


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    runtime = create_runtime(settings)
    app = create_http_app(runtime, title="search", routers=[router])
    app.state.deal_index = runtime.extras["deal_index"]
    return app

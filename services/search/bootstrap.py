"""Composition root of the search service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from opensearchpy import AsyncOpenSearch

from servicekit.consumers import CONSUMER_ACK_POLICY
from servicekit.service import ServiceRuntime, build_runtime, create_http_app
from services.search.documents import SOURCES, Source
from services.search.http import router
from services.search.index import SearchIndex
from services.search.settings import SearchSettings

MIGRATIONS = Path(__file__).parent / "migrations"
settings_class = SearchSettings


def create_runtime(settings: SearchSettings | None = None) -> ServiceRuntime:
    settings = settings or SearchSettings()
    runtime = build_runtime(settings, MIGRATIONS, description="Global search over every domain topic.")
    client = AsyncOpenSearch(hosts=[settings.opensearch_url], timeout=30)
    search_index = SearchIndex(client, settings.index_prefix, refresh=settings.refresh_on_write)
    runtime.extras["search_index"] = search_index
    runtime.extras["opensearch"] = client
    for source in SOURCES:
        subscribe_source(runtime, settings, search_index, source)

    async def opensearch_ready() -> None:
        if not await client.ping():
            raise ConnectionError(f"OpenSearch at {settings.opensearch_url} did not respond to a ping")

    async def close_client() -> None:
        await client.close()

    runtime.ready_checks["opensearch"] = opensearch_ready
    runtime.before_start.append(search_index.ensure)
    runtime.on_stop.append(close_client)
    return runtime


def subscribe_source(runtime: ServiceRuntime, settings: SearchSettings, index: SearchIndex, source: Source) -> None:
    """Index every event of ``source``'s topic; OpenSearch's external versioning drops older ones."""
    topic = runtime.use_topic(source.topic, consume=True)

    async def consume(event: Any) -> None:
        document = source.convert(event)
        if document is not None:
            await index.write(document)

    consume.__annotations__["event"] = source.body_type
    consume.__name__ = f"index_{source.domain.value}"
    runtime.broker.subscriber(
        topic,
        group_id=settings.consumer_group,
        ack_policy=CONSUMER_ACK_POLICY,
        auto_offset_reset="earliest",
        title=f"{topic}:search",
        description=source.description,
    )(consume)


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    runtime = create_runtime(settings)
    app = create_http_app(runtime, title="search", routers=[router])
    app.state.search_index = runtime.extras["search_index"]
    return app

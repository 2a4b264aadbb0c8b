"""Composition root of the search service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opensearchpy import AsyncOpenSearch

from servicekit.consumers import CONSUMER_ACK_POLICY
from servicekit.service import ServiceRuntime, build_runtime, create_http_app
from services.search.documents import SOURCES, SearchedEvent
from services.search.handlers import Indexer
from services.search.http import router
from services.search.index import SearchIndex
from services.search.linking import AccessStore
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
    indexer = Indexer(search_index, AccessStore(runtime.sessionmaker))
    runtime.extras["indexer"] = indexer
    subscribe_sources(runtime, settings, indexer)

    async def opensearch_ready() -> None:
        if not await client.ping():
            raise ConnectionError(f"OpenSearch at {settings.opensearch_url} did not respond to a ping")

    async def close_client() -> None:
        await client.close()

    runtime.ready_checks["opensearch"] = opensearch_ready
    runtime.before_start.append(search_index.ensure)
    runtime.on_stop.append(close_client)
    return runtime


def subscribe_sources(runtime: ServiceRuntime, settings: SearchSettings, indexer: Indexer) -> None:
    """Index every event of every domain topic; OpenSearch's external versioning drops older ones."""
    topics = [runtime.use_topic(source.topic, consume=True) for source in SOURCES]

    async def index_event(event: SearchedEvent) -> None:
        await indexer.apply(event)

    runtime.broker.subscriber(
        *topics,
        group_id=settings.consumer_group,
        ack_policy=CONSUMER_ACK_POLICY,
        auto_offset_reset="earliest",
        title="domain-topics:search",
        description="Indexes the newest state of every deal, company, contact, legal entity, task, document, "
        "file and channel conversation; deletes remove the record.",
    )(index_event)


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    runtime = create_runtime(settings)
    app = create_http_app(runtime, title="search", routers=[router])
    app.state.search_index = runtime.extras["search_index"]
    return app

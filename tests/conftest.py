"""Server wiring for every test tier.

Tests find Kafka, OpenSearch and PostgreSQL through ``KAFKA_BOOTSTRAP_SERVERS``, ``OPENSEARCH_URL`` and
``DATABASE_URL`` (a server URL without a database name). ``scripts/test`` starts the servers with
``deploy/servers up`` and sets them. Where they are unset and a Docker engine responds, testcontainers
starts them instead. Each test isolates itself with its own database, topic prefix and index prefix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine


@dataclass(frozen=True)
class Servers:
    kafka: str
    opensearch: str
    database: str


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    opensearch = os.environ.get("OPENSEARCH_URL")
    database = os.environ.get("DATABASE_URL")
    if kafka and opensearch and database:
        yield Servers(kafka, opensearch, database)
        return
    if not _docker_answers():
        pytest.fail(
            "KAFKA_BOOTSTRAP_SERVERS, OPENSEARCH_URL and DATABASE_URL are unset and no Docker engine answers; "
            "run the suite with scripts/test, which starts the servers with deploy/servers up"
        )
    # Constructing a container object contacts Docker, so these imports stay on this branch.
    from testcontainers.kafka import KafkaContainer
    from testcontainers.opensearch import OpenSearchContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka_container,
        OpenSearchContainer("opensearchproject/opensearch:2.19.3") as opensearch_container,
        PostgresContainer("postgres:15", driver="asyncpg") as postgres_container,
    ):
        url = make_url(postgres_container.get_connection_url()).set(database=None)
        yield Servers(
            kafka_container.get_bootstrap_server(),
            opensearch_container.get_config()["host"],
            url.render_as_string(hide_password=False),
        )


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def topic_space(servers: Servers) -> AsyncIterator[str]:
    """Yield a fresh topic and index prefix; its topics and indices are deleted afterwards."""
    prefix = unique_name("t") + "."
    yield prefix
    await _delete_topics(servers.kafka, prefix)
    async with httpx.AsyncClient(base_url=servers.opensearch, timeout=30) as client:
        await client.delete(f"/{prefix}*", params={"ignore_unavailable": "true", "allow_no_indices": "true"})


@pytest.fixture
async def topic_prefix(servers: Servers) -> AsyncIterator[str]:
    """A topic and index prefix of this test alone; its topics and indices are deleted afterwards."""
    async with topic_space(servers) as prefix:
        yield prefix


async def _delete_topics(bootstrap_servers: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


@asynccontextmanager
async def database_factory(servers: Servers) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Yield a function that creates fresh PostgreSQL databases; all are dropped afterwards."""
    admin = create_async_engine(make_url(servers.database).set(database="postgres"), isolation_level="AUTOCOMMIT")
    created: list[str] = []

    async def create() -> str:
        name = unique_name("test_")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(servers.database).set(database=name).render_as_string(hide_password=False)

    yield create
    async with admin.connect() as connection:
        for name in created:
            await _drop_database(connection, name)
    await admin.dispose()


@pytest.fixture
async def make_database(servers: Servers) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Create fresh PostgreSQL databases for this test; all are dropped afterwards."""
    async with database_factory(servers) as create:
        yield create


async def _drop_database(connection: AsyncConnection, name: str) -> None:
    # FORCE ends the test's leftover connections. A connection of another role (such as an
    # autovacuum worker) can make the drop fail for a moment, and a leaked database fails no test.
    for attempt in range(5):
        try:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            await asyncio.sleep(0.5 * (attempt + 1))
    warnings.warn(f"could not drop test database {name}", stacklevel=1)


@pytest.fixture
async def database_url(make_database: Callable[[], Awaitable[str]]) -> str:
    """A fresh PostgreSQL database for this test."""
    return await make_database()

"""All six services as processes on real Kafka, PostgreSQL and OpenSearch, for the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from servicekit.auth import issue_token
from services import SERVICE_NAMES
from tests.conftest import Servers
from tests.support import ServiceProcess

JWT_KEY = "e2e-test-signing-key-of-32-bytes-or-more"


def bearer(
    user: str, *, department: str | None = None, roles: list[str] | None = None, name: str = ""
) -> dict[str, str]:
    """Return the Authorization header of a staff user."""
    token = issue_token(JWT_KEY, user, name=name, department=department, roles=roles or [])
    return {"Authorization": "Bearer " + token}


@asynccontextmanager
async def running_system(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Start every service on its own database and free port, wait until all are ready, stop them after."""
    processes: dict[str, ServiceProcess] = {}
    for name in SERVICE_NAMES:
        env = {
            "DATABASE_URL": await make_database(),
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "OPENSEARCH_URL": servers.opensearch,
            "INDEX_PREFIX": topic_prefix,
            "REFRESH_ON_WRITE": "true",
            "JWT_SECRET_KEY": JWT_KEY,
            "ENVIRONMENT": "test",
        }
        processes[name] = ServiceProcess(name, env)
    # The portal streams downloads from the documents service of this same system.
    processes["extranet"].env["DOCUMENTS_URL"] = processes["documents"].url
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()

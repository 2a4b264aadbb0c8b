"""Recognize errors that mean a server is unreachable for a while rather than that the work is wrong.

A database restart, a Kafka or OpenSearch outage and a dropped connection raise errors that the same
work no longer raises once the server is back. Retry policies use :func:`is_transient` so that such an
outage neither dead-letters messages nor uses up a request's processing attempts.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import opensearchpy
from aiokafka.errors import KafkaConnectionError, KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

#: OpenSearch statuses of a node that is starting, overloaded or has no shard yet.
TRANSIENT_OPENSEARCH_STATUSES = frozenset({429, 502, 503, 504})

#: Error classes that mean the server or the connection to it is gone, whatever the message.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError: refused, reset, timed out
    KafkaConnectionError,
    OperationalError,
    InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # "the database system is starting up" or "shutting down"
    asyncpg.AdminShutdownError,  # "terminating connection due to administrator command"
    opensearchpy.ConnectionError,  # includes ConnectionTimeout
)

# At most this many errors of one chain are examined, which bounds the walk over a very long chain.
MAX_CHAIN_LENGTH = 10


def is_transient(exc: BaseException) -> bool:
    """Return whether ``exc``, or an error it was raised from, means a server is unreachable for now."""
    for error in _chain(exc):
        if isinstance(error, TRANSIENT_TYPES):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, KafkaError) and error.retriable:
            return True
        if isinstance(error, opensearchpy.TransportError) and error.status_code in TRANSIENT_OPENSEARCH_STATUSES:
            return True
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and the errors it was raised from, including a DBAPI error's original error."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < MAX_CHAIN_LENGTH:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        linked = [error.__cause__, error.__context__, getattr(error, "orig", None)]
        pending.extend(item for item in linked if isinstance(item, BaseException))

"""Which errors mean a server is unreachable for now, and so are retried without counting an attempt."""

from __future__ import annotations

import asyncpg
import opensearchpy
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, RequestTimedOutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from servicekit.transient import is_transient

pytestmark = pytest.mark.unit


def _raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as raised:
        return raised


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        KafkaConnectionError("no broker"),
        RequestTimedOutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        opensearchpy.ConnectionError("N/A", "refused", Exception("refused")),
        opensearchpy.TransportError(503, "cluster_block_exception", {}),
        _raised_from(RuntimeError("indexing failed"), ConnectionResetError()),
    ],
)
def test_outage_errors_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        ValueError("invalid amount"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        DBAPIError("SELECT 1", {}, Exception("syntax error"), connection_invalidated=False),
        opensearchpy.TransportError(400, "mapper_parsing_exception", {}),
        MessageSizeTooLargeError(),
    ],
)
def test_other_errors_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)

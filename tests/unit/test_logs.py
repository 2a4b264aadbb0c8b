import logging

import pytest

from servicekit.logs import RepeatFilter

pytestmark = pytest.mark.unit


def record(name: str, created: float) -> logging.LogRecord:
    entry = logging.LogRecord(name, logging.ERROR, __file__, 1, "connection to %s failed", ("broker",), None)
    entry.created = created
    return entry


def test_repeated_client_errors_are_limited() -> None:
    limiter = RepeatFilter(prefixes=("aiokafka",), interval=10.0)
    passed = [limiter.filter(record("aiokafka.conn", 100.0 + second)) for second in range(0, 25)]
    assert passed.count(True) == 3
    assert passed[0] and passed[10] and passed[20]


def test_dropped_count_is_reported() -> None:
    limiter = RepeatFilter(prefixes=("aiokafka",), interval=10.0)
    for second in range(10):
        limiter.filter(record("aiokafka", 100.0 + second))
    summary = record("aiokafka", 111.0)
    assert limiter.filter(summary)
    assert "repeated 9 times" in summary.getMessage()


def test_other_loggers_are_not_limited() -> None:
    limiter = RepeatFilter(prefixes=("aiokafka",), interval=10.0)
    assert all(limiter.filter(record("servicekit.relay", 100.0)) for _ in range(5))

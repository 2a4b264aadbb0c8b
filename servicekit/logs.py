"""Logging: JSON lines off a terminal, with the request and message context attached to every record."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = (
    "service",
    "correlation_id",
    "traceparent",
    "topic",
    "event_id",
    "aggregate_id",
)

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_context", default={})  # noqa: B039


def current_context() -> dict[str, str]:
    return _context.get()


def correlation_id() -> str | None:
    return _context.get().get("correlation_id")


def traceparent() -> str | None:
    return _context.get().get("traceparent")


@contextlib.contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Attach ``values`` to every log record and outgoing event inside the block."""
    merged = {
        **_context.get(),
        **{key: value for key, value in values.items() if value is not None},
    }
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def new_traceparent(parent: str | None = None) -> str:
    """Return a W3C ``traceparent`` that continues ``parent``'s trace, or starts a new one."""
    trace_id = secrets.token_hex(16)
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id = parts[1]
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the context fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, with the context fields appended."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{key}={value}" for key, value in _context.get().items() if key != "service")
        return f"{line} [{context}]" if context else line


class RepeatFilter(logging.Filter):
    """Let through at most one record per message template and logger every ``interval`` seconds.

    Only loggers under ``prefixes`` are limited; the filter sits on the handler, because a filter on a
    logger does not see the records of its child loggers.

    A client library that logs each failed reconnect (aiokafka does, at ERROR) would otherwise write
    thousands of lines a second while a broker is down. The next record let through says how many
    were dropped.
    """

    def __init__(self, prefixes: tuple[str, ...], interval: float = 10.0) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.msg)
        now = record.created
        last, dropped = self._last.get(key, (0.0, 0))
        if now - last < self.interval:
            self._last[key] = (last, dropped + 1)
            return False
        self._last[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} (repeated {dropped} times since the last line)"
        return True


def configure_logging(service: str, level: str = "INFO", json_output: bool | None = None) -> None:
    """Set up the root logger for a service process."""
    if json_output is None:
        json_output = not sys.stderr.isatty() or os.environ.get("LOG_JSON") == "1"
    handler = logging.StreamHandler(sys.stderr)
    if json_output:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR while a broker is down.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    handler.addFilter(RepeatFilter(prefixes=("aiokafka",)))
    _context.set({"service": service})

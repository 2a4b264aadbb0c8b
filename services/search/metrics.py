"""Prometheus metrics of the search service."""

from prometheus_client import Histogram

EVENT_TO_INDEXED = Histogram(
    "search_event_to_indexed_seconds",
    "Time from an event's occurred_at to the write of its document, per domain. With refresh off, "
    "the record becomes searchable up to one refresh interval (1 s) later.",
    ["domain"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

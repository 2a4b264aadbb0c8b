"""Prometheus metrics shared by every service."""

from prometheus_client import Counter, Gauge, Histogram

HANDLER_DURATION = Histogram(
    "handler_duration_seconds",
    "Time a Kafka handler took, including its transaction.",
    ["service", "topic", "outcome"],
)
EVENTS_SKIPPED = Counter(
    "events_skipped_total",
    "Events a consumer ignored as duplicates or as older than its state.",
    ["service", "topic", "reason"],
)
DEAD_LETTERED = Counter("dead_lettered_total", "Messages sent to a dead-letter topic.", ["service", "topic"])
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka.", ["service"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published.", ["service"])
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Messages behind the end of each partition, per consumer group.",
    ["group", "topic", "partition"],
)

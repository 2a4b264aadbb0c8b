"""The one error policy of every Kafka consumer: bounded retries with backoff, then a dead-letter topic.

Subscribers use ``CONSUMER_ACK_POLICY`` (manual), and this policy acknowledges: an offset is
committed only after the handler (and so its database transaction) returned. A failing message is
redelivered in place, with a growing delay, up to ``max_attempts`` times. After that it is published to
``<topic>.dlq`` with the error in its headers and counted as processed, so the partition moves on.
Errors that no retry can fix, such as a body that does not match the contract, go to the dead-letter
topic at once. Errors that mean a server is unreachable (``servicekit.transient.is_transient``: the
database restarting, OpenSearch down, a dropped connection) are retried with the same backoff but count
no attempt, so an outage of any length delays the partition instead of dead-lettering its messages.

Processed offsets are committed in the background every ``commit_interval`` seconds rather than after
each message, because a commit per message costs a round trip to the group coordinator (about 6 ms
here, see docs/benchmarks.md). A crash loses at most the commits of that interval, so those messages
are delivered again, and the idempotent consumers ignore them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from fast_depends.exceptions import ValidationError as DependencyValidationError
from faststream import AckPolicy, BaseMiddleware
from pydantic import ValidationError

from contracts.topics import dead_letter_topic
from servicekit.logs import log_context
from servicekit.metrics import DEAD_LETTERED, HANDLER_DURATION
from servicekit.transient import is_transient

if TYPE_CHECKING:
    from faststream._internal.basic_types import AsyncFuncAny
    from faststream._internal.context.repository import ContextRepo
    from faststream.kafka import KafkaBroker
    from faststream.message import StreamMessage

logger = logging.getLogger(__name__)

CONSUMER_ACK_POLICY = AckPolicy.MANUAL

NON_RETRYABLE: tuple[type[BaseException], ...] = (
    ValidationError,
    DependencyValidationError,
    json.JSONDecodeError,
)

#: Headers that the dead-letter topic adds; a replay removes them again.
DLQ_HEADER_PREFIX = "dlq_"


class OffsetCommitter:
    """Commits the offsets of processed messages in the background, per consumer and partition."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._pending: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def mark_processed(self, consumer: AIOKafkaConsumer, record: Any) -> None:
        """Schedule the commit of the offset after ``record``, whose handler has finished."""
        partition = TopicPartition(record.topic, record.partition)
        self._pending.setdefault(consumer, {})[partition] = record.offset + 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="offset-committer")

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Commit every pending offset now."""
        pending, self._pending = self._pending, {}
        for consumer, offsets in pending.items():
            try:
                await consumer.commit(offsets)
            except Exception as exc:  # a rebalance or a stopped consumer; redelivery is deduplicated
                logger.warning("committing offsets %s failed; those messages may be delivered again: %r", offsets, exc)


class ConsumerPolicy:
    """Retry and dead-letter settings of one service's consumers, installed as broker middleware."""

    def __init__(
        self,
        service: str,
        *,
        group_id: str,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
    ) -> None:
        self.service = service
        self.group_id = group_id
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.broker: KafkaBroker | None = None
        self.committer = OffsetCommitter()
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._outage_retries: dict[tuple[str, int, int], int] = {}

    def bind(self, broker: KafkaBroker) -> None:
        """Give the policy the broker it publishes dead letters through."""
        self.broker = broker

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        return _PolicyMiddleware(msg, context=context, policy=self)

    def record_failure(self, position: tuple[str, int, int]) -> int:
        attempts = self._attempts.get(position, 0) + 1
        self._attempts[position] = attempts
        return attempts

    def record_outage_retry(self, position: tuple[str, int, int]) -> int:
        retries = self._outage_retries.get(position, 0) + 1
        self._outage_retries[position] = retries
        return retries

    def forget(self, position: tuple[str, int, int]) -> None:
        self._attempts.pop(position, None)
        self._outage_retries.pop(position, None)

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_max_seconds))


class _PolicyMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, policy: ConsumerPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
        record = msg.raw_message
        if isinstance(record, tuple):  # batch subscribers handle their own errors
            return await call_next(msg)

        position = (record.topic, record.partition, record.offset)
        headers = msg.headers
        key = record.key.decode(errors="replace") if record.key else None
        with log_context(
            correlation_id=headers.get("correlation_id"),
            traceparent=headers.get("traceparent"),
            topic=record.topic,
            event_id=headers.get("event_id"),
            aggregate_id=key,
        ):
            started = time.perf_counter()
            try:
                result = await call_next(msg)
            except Exception as exc:
                HANDLER_DURATION.labels(self.policy.service, record.topic, "error").observe(
                    time.perf_counter() - started
                )
                await self._on_failure(exc, msg, position)
                return None
            HANDLER_DURATION.labels(self.policy.service, record.topic, "ok").observe(time.perf_counter() - started)
            self.policy.forget(position)
            self._mark_processed(msg)
            return result

    def _mark_processed(self, msg: StreamMessage[Any]) -> None:
        consumer = getattr(msg, "consumer", None)
        if isinstance(consumer, AIOKafkaConsumer):
            self.policy.committer.mark_processed(consumer, msg.raw_message)

    async def _on_failure(self, exc: Exception, msg: StreamMessage[Any], position: tuple[str, int, int]) -> None:
        record = msg.raw_message
        if is_transient(exc):
            # NOTE: a handler bug that raises a connection error (OSError included) also lands here and
            # blocks its partition until fixed, where other errors would be dead-lettered.
            delay = self.policy.backoff(self.policy.record_outage_retry(position))
            logger.warning(
                "handler failed at %s[%s]@%s because a server is unreachable; retrying in %.2f s "
                "without counting an attempt: %r",
                *position,
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            await msg.nack()
            return

        attempts = self.policy.record_failure(position)
        retryable = not isinstance(exc, NON_RETRYABLE)
        if retryable and attempts < self.policy.max_attempts:
            delay = self.policy.backoff(attempts)
            logger.warning(
                "handler failed at %s[%s]@%s, attempt %s of %s; retrying in %.2f s: %r",
                *position,
                attempts,
                self.policy.max_attempts,
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            # Rewinds the partition to this message, so the consumer's next fetch redelivers it.
            await msg.nack()
            return

        await self._dead_letter(exc, record, attempts)
        self.policy.forget(position)
        self._mark_processed(msg)

    async def _dead_letter(self, exc: Exception, record: Any, attempts: int) -> None:
        broker = self.policy.broker
        if broker is None:
            raise RuntimeError("ConsumerPolicy.bind(broker) was not called") from exc
        target = dead_letter_topic(record.topic)
        headers = {name: value.decode(errors="replace") for name, value in record.headers}
        headers.update(
            {
                "dlq_original_topic": record.topic,
                "dlq_original_partition": str(record.partition),
                "dlq_original_offset": str(record.offset),
                "dlq_consumer_group": self.policy.group_id,
                "dlq_attempts": str(attempts),
                "dlq_error_type": type(exc).__name__,
                "dlq_error": str(exc)[:2000],
                "dlq_failed_at": datetime.now(UTC).isoformat(),
            }
        )
        await broker.publish(record.value, topic=target, key=record.key, headers=headers)
        DEAD_LETTERED.labels(self.policy.service, record.topic).inc()
        logger.error(
            "dead-lettered %s[%s]@%s to %s after %s attempt(s): %s: %s",
            record.topic,
            record.partition,
            record.offset,
            target,
            attempts,
            type(exc).__name__,
            exc,
        )

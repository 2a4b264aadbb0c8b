"""The one error policy of every Kafka consumer: bounded retries with backoff, then a dead-letter topic.

Subscribers use ``AckPolicy.NACK_ON_ERROR``, so an offset is committed only after the handler (and
its database transaction) returned. A failing message is redelivered in place, with a growing delay,
up to ``max_attempts`` times. After that it is published to ``<topic>.dlq`` with the error in its
headers and acknowledged, so the partition moves on. Errors that no retry can fix, such as a body that does
not match the contract, go to the dead-letter topic at once.

NOTE: committing after every message costs one round trip to the group coordinator, which caps one
consumer at a few hundred messages a second (see docs/benchmarks.md). Committing processed offsets
in the background every few milliseconds would lift that without giving up commit-after-processing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fast_depends.exceptions import ValidationError as DependencyValidationError
from faststream import BaseMiddleware
from pydantic import ValidationError

from contracts.topics import dead_letter_topic
from servicekit.logs import log_context
from servicekit.metrics import DEAD_LETTERED, HANDLER_DURATION

if TYPE_CHECKING:
    from faststream._internal.basic_types import AsyncFuncAny
    from faststream._internal.context.repository import ContextRepo
    from faststream.kafka import KafkaBroker
    from faststream.message import StreamMessage

logger = logging.getLogger(__name__)

NON_RETRYABLE: tuple[type[BaseException], ...] = (
    ValidationError,
    DependencyValidationError,
    json.JSONDecodeError,
)

#: Headers that the dead-letter topic adds; a replay removes them again.
DLQ_HEADER_PREFIX = "dlq_"


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
        self._attempts: dict[tuple[str, int, int], int] = {}

    def bind(self, broker: KafkaBroker) -> None:
        """Give the policy the broker it publishes dead letters through."""
        self.broker = broker

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        return _PolicyMiddleware(msg, context=context, policy=self)

    def record_failure(self, position: tuple[str, int, int]) -> int:
        attempts = self._attempts.get(position, 0) + 1
        self._attempts[position] = attempts
        return attempts

    def forget(self, position: tuple[str, int, int]) -> None:
        self._attempts.pop(position, None)

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
                return await self._on_failure(exc, record, position)
            HANDLER_DURATION.labels(self.policy.service, record.topic, "ok").observe(time.perf_counter() - started)
            self.policy.forget(position)
            return result

    async def _on_failure(self, exc: Exception, record: Any, position: tuple[str, int, int]) -> None:
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
            raise exc

        await self._dead_letter(exc, record, attempts)
        self.policy.forget(position)

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

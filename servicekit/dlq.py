"""Replay of a dead-letter topic: each message goes back to the topic it failed on, with its key."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import DEAD_LETTER_SUFFIX
from servicekit.consumers import DLQ_HEADER_PREFIX
from servicekit.kafka import topic_partitions

logger = logging.getLogger(__name__)


async def replay_dead_letters(bootstrap_servers: str, dlq_topic: str, *, limit: int | None = None) -> int:
    """Republish the messages of ``dlq_topic`` added since the last replay; return how many were replayed.

    Progress is committed under the consumer group ``dlq-replay.<topic>``, so a second run replays only
    messages that were dead-lettered after the first one.
    """
    if not dlq_topic.endswith(DEAD_LETTER_SUFFIX):
        raise ValueError(f"{dlq_topic!r} is not a dead-letter topic; its name must end with {DEAD_LETTER_SUFFIX!r}")

    partitions = await topic_partitions(bootstrap_servers, [dlq_topic])
    if not partitions:
        logger.info("dead-letter topic %s does not exist", dlq_topic)
        return 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=f"dlq-replay.{dlq_topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all")
    await consumer.start()
    await producer.start()
    try:
        consumer.assign(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        ends = await consumer.end_offsets(partitions)
        return await _replay_until(consumer, producer, ends, dlq_topic, limit)
    finally:
        await producer.stop()
        await consumer.stop()


async def _replay_until(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    ends: dict[TopicPartition, int],
    dlq_topic: str,
    limit: int | None,
) -> int:
    replayed = 0
    while await _behind(consumer, ends):
        if limit is not None and replayed >= limit:
            break
        batches = await consumer.getmany(timeout_ms=1000)
        for tp, records in batches.items():
            last_offset = None
            for record in records:
                if record.offset >= ends[tp] or (limit is not None and replayed >= limit):
                    break
                headers = dict(record.headers)
                original_topic = headers.get("dlq_original_topic", b"").decode()
                if not original_topic:
                    original_topic = dlq_topic.removesuffix(DEAD_LETTER_SUFFIX)
                original_headers = [
                    (name, value) for name, value in record.headers if not name.startswith(DLQ_HEADER_PREFIX)
                ]
                original_headers.append(("replayed_from", dlq_topic.encode()))
                await producer.send_and_wait(original_topic, record.value, key=record.key, headers=original_headers)
                logger.info(
                    "replayed %s[%s]@%s to %s",
                    tp.topic,
                    tp.partition,
                    record.offset,
                    original_topic,
                )
                replayed += 1
                last_offset = record.offset
            if last_offset is not None:
                await consumer.commit({tp: last_offset + 1})
    return replayed


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False

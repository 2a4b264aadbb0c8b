"""Kafka wiring: the broker of a service, the relay's send function, topic creation and lag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiokafka
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream._internal.parser import DefaultCodec
from faststream.kafka import KafkaBroker

from servicekit.consumers import ConsumerPolicy
from servicekit.db import OutboxMessage
from servicekit.settings import ServiceSettings

logger = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


def create_broker(settings: ServiceSettings, policy: ConsumerPolicy, *, description: str | None = None) -> KafkaBroker:
    """Create the service's broker: idempotent producer with ``acks=all`` and the consumer error policy."""
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        enable_idempotence=True,
        acks="all",
        middlewares=[policy],
        description=description,
        logger=logging.getLogger(f"faststream.{settings.service_name}"),
        # FastStream logs "Received" and "Processed" for every message at this level; INFO would
        # write two lines per event. Retries and dead letters are logged by ConsumerPolicy.
        log_level=logging.DEBUG,
    )
    policy.bind(broker)
    return broker


def make_sender(broker: KafkaBroker) -> Any:
    """Return the outbox relay's send function, publishing through ``broker``."""

    async def send(row: OutboxMessage) -> asyncio.Future[Any]:
        headers = {**row.headers, "content-type": "application/json"}
        future = await broker.publish(
            row.payload.encode(),
            topic=row.topic,
            key=row.key.encode(),
            headers=headers,
            correlation_id=headers.get("correlation_id"),
            no_confirm=True,
        )
        return future

    return send


async def reset_producer(broker: KafkaBroker) -> None:
    """Replace ``broker``'s producer with a new one, which gets a new producer id and fresh sequence numbers."""
    # NOTE: FastStream 0.7 has no public call for this, so it uses the broker's connection settings and
    # producer wrapper as its own start does (faststream/kafka/configs/broker.py).
    config = broker.config.broker_config
    await config.producer.disconnect()
    await config.producer.connect(
        aiokafka.AIOKafkaProducer(**broker._connection_kwargs),
        serializer=config.fd_config._serializer,
        codec=config.broker_codec or DefaultCodec(),
    )
    logger.warning("replaced the Kafka producer of %s", broker.config.broker_config.client_id)


async def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create ``topics`` (and their dead-letter topics) when missing, so consumers never race their producers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in missing]
                )
            logger.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    """Return every partition of ``topics``; a topic that does not exist has none."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]


async def consumer_lag(bootstrap_servers: str, group_id: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """Return the lag of ``group_id`` on each partition of ``topics``."""
    partitions = await topic_partitions(bootstrap_servers, topics)
    if not partitions:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        ends = await consumer.end_offsets(partitions)
        lag = {}
        for tp in partitions:
            offset = committed.get(tp)
            position = offset.offset if offset is not None and offset.offset >= 0 else 0
            lag[(tp.topic, tp.partition)] = max(ends[tp] - position, 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()

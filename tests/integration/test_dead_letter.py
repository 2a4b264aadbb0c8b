"""The consumer error policy on real Kafka: bounded retries, the dead-letter topic and its replay."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from contracts.topics import dead_letter_topic
from servicekit.consumers import CONSUMER_ACK_POLICY, ConsumerPolicy
from servicekit.kafka import create_broker, ensure_topics
from servicekit.settings import ServiceSettings
from tests.conftest import Servers
from tests.support import ROOT, eventually, read_topic

pytestmark = pytest.mark.integration


class Order(BaseModel):
    number: int


async def test_failing_message_goes_to_dlq_and_replays(servers: Servers, topic_prefix: str) -> None:
    settings = ServiceSettings(
        service_name="dlqtest",
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=topic_prefix,
        consumer_max_attempts=3,
        consumer_backoff_seconds=0.05,
    )
    topic = settings.topic("orders")
    await ensure_topics(servers.kafka, [topic, dead_letter_topic(topic)], partitions=1)
    policy = ConsumerPolicy("dlqtest", group_id=settings.consumer_group, max_attempts=3, backoff_seconds=0.05)
    broker = create_broker(settings, policy)
    attempts: dict[int, int] = {}
    processed: list[int] = []
    broken = {1}

    @broker.subscriber(
        topic, group_id=settings.consumer_group, ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest"
    )
    async def handle(order: Order) -> None:
        attempts[order.number] = attempts.get(order.number, 0) + 1
        if order.number in broken:
            raise RuntimeError(f"order {order.number} cannot be handled")
        processed.append(order.number)

    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka)
    await producer.start()
    for number in (1, 2):
        await producer.send_and_wait(topic, Order(number=number).model_dump_json().encode(), key=b"k")
    await producer.stop()

    await broker.start()
    try:
        await eventually(lambda: asyncio.sleep(0, result=2 in processed), timeout=30)
        assert attempts[1] == 3
        assert processed == [2]

        [dead] = await read_topic(servers.kafka, dead_letter_topic(topic), expected=1)
        headers = {name: value.decode() for name, value in dead.headers}
        assert headers["dlq_error_type"] == "RuntimeError"
        assert headers["dlq_error"] == "order 1 cannot be handled"
        assert headers["dlq_attempts"] == "3"
        assert headers["dlq_original_topic"] == topic
        assert dead.key == b"k"

        broken.clear()
        replay = subprocess.run(
            [sys.executable, "-m", "servicekit.cli", "dlq-replay", dead_letter_topic(topic)],
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": servers.kafka},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 1 message(s)" in replay.stdout

        await eventually(lambda: asyncio.sleep(0, result=1 in processed), timeout=30)
        assert processed == [2, 1]
    finally:
        await broker.stop()


async def test_contract_violation_is_dead_lettered_at_once(servers: Servers, topic_prefix: str) -> None:
    settings = ServiceSettings(
        service_name="dlqtest", kafka_bootstrap_servers=servers.kafka, kafka_topic_prefix=topic_prefix
    )
    topic = settings.topic("orders")
    await ensure_topics(servers.kafka, [topic, dead_letter_topic(topic)], partitions=1)
    policy = ConsumerPolicy("dlqtest", group_id=settings.consumer_group, max_attempts=5, backoff_seconds=1.0)
    broker = create_broker(settings, policy)
    processed: list[int] = []

    @broker.subscriber(
        topic, group_id=settings.consumer_group, ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest"
    )
    async def handle(order: Order) -> None:
        processed.append(order.number)

    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka)
    await producer.start()
    await producer.send_and_wait(topic, b'{"number": "not a number"}')
    await producer.send_and_wait(topic, b'{"number": 7}')
    await producer.stop()

    await broker.start()
    try:
        await eventually(lambda: asyncio.sleep(0, result=processed == [7]), timeout=20)
        [dead] = await read_topic(servers.kafka, dead_letter_topic(topic), expected=1)
        headers = {name: value.decode() for name, value in dead.headers}
        assert headers["dlq_attempts"] == "1"
        assert "number" in headers["dlq_error"]
    finally:
        await broker.stop()


async def test_outage_error_retries_past_max_attempts(servers: Servers, topic_prefix: str) -> None:
    settings = ServiceSettings(
        service_name="dlqtest", kafka_bootstrap_servers=servers.kafka, kafka_topic_prefix=topic_prefix
    )
    topic = settings.topic("orders")
    await ensure_topics(servers.kafka, [topic, dead_letter_topic(topic)], partitions=1)
    policy = ConsumerPolicy(
        "dlqtest", group_id=settings.consumer_group, max_attempts=2, backoff_seconds=0.05, backoff_max_seconds=0.1
    )
    broker = create_broker(settings, policy)
    attempts: list[int] = []
    processed: list[int] = []

    @broker.subscriber(
        topic, group_id=settings.consumer_group, ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest"
    )
    async def handle(order: Order) -> None:
        attempts.append(order.number)
        # The first five deliveries find the database down, as during a restart.
        if len(attempts) <= 5:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        processed.append(order.number)

    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka)
    await producer.start()
    await producer.send_and_wait(topic, b'{"number": 3}')
    await producer.stop()

    await broker.start()
    try:
        await eventually(lambda: asyncio.sleep(0, result=processed == [3]), timeout=30)
        assert len(attempts) == 6
        assert await read_topic(servers.kafka, dead_letter_topic(topic), expected=1, timeout=2) == []
    finally:
        await broker.stop()

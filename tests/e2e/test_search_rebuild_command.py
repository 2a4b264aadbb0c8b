"""``python -m services.search.rebuild`` as an operator runs it: progress on stderr, aliases swapped."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import pytest
from opensearchpy import AsyncOpenSearch

from contracts.topics import Topic
from servicekit.kafka import ensure_topics
from services.search.documents import Domain
from tests.conftest import Servers
from tests.search_support import JWT_KEY, deal, drop_indices, publish
from tests.support import ROOT

pytestmark = pytest.mark.e2e


async def test_rebuild_command_loads_topics(servers: Servers, database_url: str, topic_prefix: str) -> None:
    marker = uuid.uuid4().hex[:8]
    topic = topic_prefix + Topic.CRM_DEALS
    await ensure_topics(servers.kafka, [topic])
    deal_id = uuid.uuid4()
    events = [deal(f"Command {marker} {number}") for number in range(30)]
    events += [deal(f"Renamed {marker}", deal_id=deal_id, version=2), deal(f"First {marker}", deal_id=deal_id)]
    await publish(servers.kafka, topic, events)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "OPENSEARCH_URL": servers.opensearch,
        "INDEX_PREFIX": topic_prefix,
        "JWT_SECRET_KEY": JWT_KEY,
        "ENVIRONMENT": "test",
    }
    client = AsyncOpenSearch(hosts=[servers.opensearch])
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.search.rebuild",
            "--drop-after",
            "0",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        alias = topic_prefix + Domain.DEAL.alias_suffix
        await client.indices.refresh(index=alias)
        count = await client.count(index=alias)
        renamed = await client.get(index=alias, id=str(deal_id))
    finally:
        await drop_indices(client, topic_prefix)
        await client.close()

    assert process.returncode == 0, stderr.decode()
    assert "rebuild [" in stderr.decode()
    assert "100%" in stderr.decode()
    assert "rebuilt from 32 events" in stdout.decode()
    assert count["count"] == 31
    assert renamed["_source"]["title"] == f"Renamed {marker}"
    assert renamed["_version"] == 2

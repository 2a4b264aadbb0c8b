"""Rebuild every search index from the topics, then swap the aliases; search keeps serving queries throughout.

Run it with ``python -m services.search.rebuild`` and the service's settings in the environment. It
reads each domain topic from its beginning into new indices (bulk writes, refresh off), then reads
what arrived meanwhile and swaps all aliases in one atomic request. Last, it reads once more from the
offsets it reached, so nothing the running service wrote to the old indices during the load is lost.
The writes keep the external versions, so replaying an event twice or out of order changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from opensearchpy import AsyncOpenSearch
from pydantic import ValidationError

from servicekit.db import create_engine, create_sessionmaker
from servicekit.kafka import topic_partitions
from servicekit.logs import configure_logging
from servicekit.migrations import migrate
from services.search.bootstrap import MIGRATIONS
from services.search.documents import SOURCES, Domain, SearchDocument, Source
from services.search.handlers import Indexer, linked_targets
from services.search.index import SearchIndex
from services.search.linking import AccessStore
from services.search.mappings import REFRESH_INTERVAL, index_body
from services.search.settings import SearchSettings

logger = logging.getLogger(__name__)

#: Bulk responses use 409 for a version conflict (an older event) and 404 for deleting a missing record.
EXPECTED_BULK_STATUSES = {409, 404}


class RebuildFailed(Exception):
    """OpenSearch rejected documents of a bulk write for a reason other than their version."""


@dataclass
class RebuildReport:
    """Counts, durations and index names of one rebuild."""

    events: int = 0
    written: int = 0
    skipped: int = 0
    invalid: int = 0
    seconds: float = 0.0
    #: Time of the first pass alone: reading every topic, bulk writes and the closing refresh.
    load_seconds: float = 0.0
    indices: dict[Domain, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn at most every ``interval`` seconds."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30, interval: float = 0.2) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.interval = interval
        self.started = time.perf_counter()
        self._drawn_at = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        share = min(done / self.total, 1.0)
        filled = int(share * self.width)
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rrebuild [{bar}] {share:4.0%} {done:,}/{self.total:,} events {rate:,.0f}/s")
        self.stream.flush()

    def finish(self, done: int) -> None:
        self.update(done, force=True)
        self.stream.write("\n")
        self.stream.flush()


class Rebuild:
    """One rebuild of all domain indices of an index prefix."""

    def __init__(
        self,
        settings: SearchSettings,
        client: AsyncOpenSearch,
        *,
        access: AccessStore,
        batch_size: int = 1000,
        progress: Callable[[int], ProgressBar] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.index = SearchIndex(client, settings.index_prefix)
        # Only the running service stores the access of deals and companies; the rebuild reads it.
        # NOTE: a rebuild with a fresh database therefore gives linked records no readers from their
        # deal or company until that parent changes again.
        self.indexer = Indexer(self.index, access)
        self.batch_size = batch_size
        self.progress = progress
        self.sources = {settings.topic(source.topic): source for source in SOURCES}
        self.report = RebuildReport()

    async def run(self, drop_after: float = 5.0) -> RebuildReport:
        """Load new indices from the topics, swap the aliases to them, and drop the old indices."""
        started = time.perf_counter()
        await self.index.ensure()
        self.report.indices = {domain: self.index.new_index_name(domain) for domain in Domain}
        consumer = await self._consumer()
        try:
            old = await self._load_and_swap(consumer)
            await self._load(consumer, self._target_alias, relink=True)
        finally:
            await consumer.stop()

        self.report.seconds = time.perf_counter() - started
        if old:
            # In-flight queries resolved the alias to the old indices; let them finish first.
            await asyncio.sleep(drop_after)
            await self.client.indices.delete(index=",".join(old))
            self.report.dropped = old
        logger.info(
            "rebuilt %s indices from %s events in %.1f s; dropped %s",
            len(self.report.indices),
            self.report.events,
            self.report.seconds,
            ", ".join(old) or "nothing",
        )
        return self.report

    async def _load_and_swap(self, consumer: AIOKafkaConsumer) -> list[str]:
        """Fill the new indices, swap the aliases to them, and return the old indices."""
        new_indices = ",".join(self.report.indices.values())
        try:
            for name in self.report.indices.values():
                await self.client.indices.create(index=name, body=index_body(loading=True))
            load_started = time.perf_counter()
            ends = await self._load(consumer, self._target_new, show_progress=True)
            await self._finish_load()
            self.report.load_seconds = time.perf_counter() - load_started
            await self._load(consumer, self._target_new, since=ends, relink=True)
            return await self._swap_aliases()
        except BaseException:
            # No alias points at the new indices yet, so removing them leaves search as it was.
            logger.error("rebuild failed before the alias swap; deleting %s", new_indices)
            await self.client.indices.delete(index=new_indices, ignore_unavailable=True)
            raise

    def _target_new(self, domain: Domain) -> str:
        return self.report.indices[domain]

    def _target_alias(self, domain: Domain) -> str:
        return self.index.alias(domain)

    async def _consumer(self) -> AIOKafkaConsumer:
        bootstrap = self.settings.kafka_bootstrap_servers
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        await consumer.start()
        partitions = await topic_partitions(bootstrap, list(self.sources))
        consumer.assign(partitions)
        if partitions:
            await consumer.seek_to_beginning(*partitions)
        return consumer

    async def _load(
        self,
        consumer: AIOKafkaConsumer,
        target: Callable[[Domain], str],
        *,
        since: dict[TopicPartition, int] | None = None,
        show_progress: bool = False,
        relink: bool = False,
    ) -> dict[TopicPartition, int]:
        """Write every message up to the current end offsets to ``target``; return those offsets.

        With ``relink``, a deal or company event also passes its stored readers on to its linked
        records in ``target``. The running service did that in the indices the aliases pointed at, which
        may be the old ones.
        """
        partitions = list(consumer.assignment())
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions) if partitions else {}
        starts = since or (await consumer.beginning_offsets(partitions) if partitions else {})
        total = sum(max(ends[tp] - starts.get(tp, 0), 0) for tp in partitions)
        bar = self.progress(total) if show_progress and self.progress else None
        done = 0
        while await _behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
            records: list[Any] = []
            for tp, batch in batches.items():
                records.extend(record for record in batch if record.offset < ends[tp])
                if batch and batch[-1].offset >= ends[tp]:
                    # Messages past the end offset belong to the next pass; fetch them again then.
                    consumer.seek(tp, ends[tp])
            events = self._events(records)
            await self._write(await self._documents(events), target)
            if relink:
                await self._relink(events, target)
            done += len(records)
            if bar:
                bar.update(done)
        if bar:
            bar.finish(done)
        return ends

    def _events(self, records: list[Any]) -> list[Any]:
        events = []
        for record in records:
            source: Source = self.sources[record.topic]
            self.report.events += 1
            try:
                events.append(source.parse(record.value))
            except ValidationError as exc:
                # The running service dead-letters such a message; the rebuild only counts it.
                self.report.invalid += 1
                logger.warning(
                    "skipped invalid event at %s[%s]@%s: %s", record.topic, record.partition, record.offset, exc
                )
        return events

    async def _documents(self, events: list[Any]) -> list[SearchDocument]:
        documents = []
        for event in events:
            document = await self.indexer.document_for(event)
            if document is not None:
                documents.append(document)
        return documents

    async def _relink(self, events: list[Any], target: Callable[[Domain], str]) -> None:
        for event in events:
            targets = linked_targets(event)
            if not targets:
                continue
            fields = (await self.indexer.access.get(event.aggregate_id)).fields()
            for domain, related in targets:
                await self.index.relink(domain, related, fields, index=target(domain))

    async def _write(self, documents: list[SearchDocument], target: Callable[[Domain], str]) -> None:
        if not documents:
            return
        response = await self.client.bulk(body=bulk_lines(documents, target))
        failures = []
        for item in response["items"]:
            outcome = next(iter(item.values()))
            if outcome["status"] < 300:
                self.report.written += 1
            elif outcome["status"] in EXPECTED_BULK_STATUSES:
                self.report.skipped += 1
            else:
                failures.append(f"{outcome['_index']}/{outcome['_id']}: {outcome.get('error')}")
        if failures:
            raise RebuildFailed(
                f"OpenSearch rejected {len(failures)} document(s), the first {failures[0]}; "
                "the aliases still point at the old indices"
            )

    async def _finish_load(self) -> None:
        names = ",".join(self.report.indices.values())
        await self.client.indices.put_settings(index=names, body={"index": {"refresh_interval": REFRESH_INTERVAL}})
        await self.client.indices.refresh(index=names)

    async def _swap_aliases(self) -> list[str]:
        """Point every alias at its new index in one request; return the indices the aliases left."""
        actions: list[dict[str, Any]] = []
        old: list[str] = []
        for domain, new in self.report.indices.items():
            alias = self.index.alias(domain)
            current = await self.client.indices.get_alias(name=alias)
            for name in current:
                actions.append({"remove": {"index": name, "alias": alias}})
                old.append(name)
            actions.append({"add": {"index": new, "alias": alias}})
        await self.client.indices.update_aliases(body={"actions": actions})
        return old


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


def bulk_lines(documents: list[SearchDocument], target: Callable[[Domain], str]) -> list[dict[str, Any]]:
    """Return the bulk request lines that write ``documents`` at their external versions."""
    lines: list[dict[str, Any]] = []
    for document in documents:
        meta = {
            "_index": target(document.domain),
            "_id": document.id,
            "version": document.version,
            "version_type": "external",
        }
        if document.deleted:
            lines.append({"delete": meta})
        else:
            lines.append({"index": meta})
            lines.append(document.source)
    return lines


async def main(argv: list[str] | None = None) -> RebuildReport:
    parser = argparse.ArgumentParser(description="Rebuild the search indices from the topics and swap the aliases.")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per bulk request")
    parser.add_argument("--drop-after", type=float, default=5.0, help="seconds to keep the old indices after the swap")
    args = parser.parse_args(argv)
    settings = SearchSettings()
    configure_logging("search-rebuild", settings.log_level, settings.log_json)
    client = AsyncOpenSearch(hosts=[settings.opensearch_url], timeout=60)
    engine = create_engine(settings.sqlalchemy_url)
    try:
        await migrate(engine, MIGRATIONS)
        access = AccessStore(create_sessionmaker(engine))
        rebuild = Rebuild(settings, client, access=access, batch_size=args.batch_size, progress=ProgressBar)
        return await rebuild.run(drop_after=args.drop_after)
    finally:
        await client.close()
        await engine.dispose()


if __name__ == "__main__":
    report = asyncio.run(main())
    print(
        f"rebuilt from {report.events} events: {report.written} written, {report.skipped} older or missing, "
        f"{report.invalid} invalid, in {report.seconds:.1f} s"
    )

"""OpenSearch adapter: one index per domain behind an alias, versioned writes and filtered queries.

Writes carry the event's ``aggregate_version`` as an external version, so OpenSearch itself rejects
an event older than what it holds, including one older than a delete (for ``gc_deletes``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError, TransportError

from servicekit.auth import Principal
from servicekit.errors import ServiceError
from services.search.documents import Domain, SearchDocument
from services.search.mappings import MAPPING, index_body
from services.search.metrics import EVENT_TO_INDEXED
from services.search.query import encode_cursor, search_body, suggest_body

logger = logging.getLogger(__name__)

RELINK_PAGE_SIZE = 500


class SearchUnavailable(ServiceError):
    """OpenSearch was unreachable, timed out or failed a query; the request may be retried."""

    status_code = 503
    code = "search_unavailable"


class SearchIndex:
    """The domain indices of one index prefix, reached through their aliases."""

    def __init__(self, client: AsyncOpenSearch, prefix: str = "", *, refresh: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self._refresh = refresh

    def alias(self, domain: Domain) -> str:
        return f"{self.prefix}{domain.alias_suffix}"

    def new_index_name(self, domain: Domain) -> str:
        """Return a fresh concrete index name for ``domain``; the timestamp orders generations."""
        return f"{self.alias(domain)}-{time.strftime('%Y%m%d%H%M%S')}-{time.perf_counter_ns() % 10**6:06d}"

    async def ensure(self) -> None:
        """Create the index behind each alias that is missing or whose index has an outdated mapping.

        An outdated index (from an earlier version of the mapping) would reject every new document, so
        the alias moves to a new empty index at once. ``python -m services.search.rebuild`` refills it.
        """
        for domain in Domain:
            alias = self.alias(domain)
            current: list[str] = []
            if await self.client.indices.exists_alias(name=alias):
                current = list(await self.client.indices.get_alias(name=alias))
                if await self._mapping_is_current(current):
                    continue
                logger.warning(
                    "index %s behind alias %s has an outdated mapping; moving the alias to a new index, "
                    "run 'python -m services.search.rebuild' to refill it",
                    ", ".join(current),
                    alias,
                )
            index = self.new_index_name(domain)
            await self.client.indices.create(index=index, body=index_body())
            actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": alias}} for old in current]
            actions.append({"add": {"index": index, "alias": alias}})
            await self.client.indices.update_aliases(body={"actions": actions})
            logger.info("created index %s behind alias %s", index, alias)

    async def _mapping_is_current(self, indices: list[str]) -> bool:
        expected = set(MAPPING["properties"])
        mappings = await self.client.indices.get_mapping(index=",".join(indices))
        return all(set(entry["mappings"].get("properties", {})) >= expected for entry in mappings.values())

    async def write(self, document: SearchDocument, *, rewrite: bool = False) -> bool:
        """Index or delete ``document`` at its version; return False when a newer version is indexed.

        ``rewrite`` also replaces a document of the same version, to change its linked access.
        """
        # "true" rather than "wait_for": waiting for the next scheduled refresh costs up to 1 s per event.
        refresh = "true" if self._refresh else "false"
        common = {
            "index": self.alias(document.domain),
            "id": document.id,
            "version": document.version,
            "version_type": "external_gte" if rewrite else "external",
            "refresh": refresh,
        }
        try:
            if document.deleted:
                await self.client.delete(**common)
            else:
                await self.client.index(body=document.source, **common)
        except ConflictError:
            logger.info(
                "%s %s already indexed at a version >= %s; event ignored",
                document.domain,
                document.id,
                document.version,
            )
            return False
        except NotFoundError:
            # Deleting a record never indexed still stores the version, so an older event stays out.
            pass
        EVENT_TO_INDEXED.labels(document.domain.value).observe(
            (datetime.now(UTC) - document.occurred_at).total_seconds()
        )
        return True

    async def relink(self, domain: Domain, related: str, fields: dict[str, Any], *, index: str | None = None) -> int:
        """Set ``fields`` on every ``domain`` document related to ``related``; return how many were set.

        Each document keeps its version. One that a newer event replaced meanwhile is skipped, because
        the writer of that event checks the linked access again after its write. ``index`` names a
        concrete index to use instead of the domain's alias, such as one that a rebuild is filling.
        """
        alias = index or self.alias(domain)
        # A refresh makes every write acknowledged so far visible to the search below.
        await self.client.indices.refresh(index=alias)
        relinked = 0
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"term": {"related": related}},
                "size": RELINK_PAGE_SIZE,
                "sort": [{"uid": "asc"}],
                "version": True,
            }
            if after is not None:
                body["search_after"] = after
            hits = (await self.client.search(index=alias, body=body))["hits"]["hits"]
            for hit in hits:
                relinked += await self._rewrite(hit, fields)
            if len(hits) < RELINK_PAGE_SIZE:
                return relinked
            after = hits[-1]["sort"]

    async def _rewrite(self, hit: dict[str, Any], fields: dict[str, Any]) -> int:
        try:
            await self.client.index(
                index=hit["_index"],
                id=hit["_id"],
                body={**hit["_source"], **fields},
                version=hit["_version"],
                version_type="external_gte",
                refresh="true" if self._refresh else "false",
            )
        except ConflictError:
            return 0
        return 1

    async def search(
        self, user: Principal, text: str, domains: list[Domain], limit: int, cursor: list[Any] | None
    ) -> dict[str, Any]:
        """Return one page of readable hits with highlights, links, totals and counts per type."""
        response = await self._query(domains, search_body(user, text, limit, cursor))
        hits = response["hits"]["hits"]
        result: dict[str, Any] = {
            "total": response["hits"]["total"]["value"],
            "items": [_item(hit, with_highlight=True) for hit in hits],
        }
        counts = {bucket["key"]: bucket["doc_count"] for bucket in response["aggregations"]["types"]["buckets"]}
        # NOTE: empty counts and the last page's cursor are left out rather than sent as {} and null,
        # so an empty result reads {"total": 0, "items": []}, the shape existing clients compare with.
        if counts:
            result["counts"] = counts
        if len(hits) == limit:
            result["next_cursor"] = encode_cursor(hits[-1]["sort"])
        return result

    async def _query(self, domains: list[Domain], body: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = await self.client.search(
                index=",".join(self.alias(domain) for domain in domains), body=body
            )
        except TransportError as exc:  # connection failures and timeouts are TransportErrors too
            logger.error("search query failed: %r", exc)
            raise SearchUnavailable("search is unavailable: OpenSearch failed the query; retry shortly") from exc
        return response

    async def suggest(self, user: Principal, text: str, domains: list[Domain], limit: int) -> list[dict[str, Any]]:
        """Return titles of readable records whose titles or names start with the words of ``text``."""
        response = await self._query(domains, suggest_body(user, text, limit))
        return [_item(hit, with_highlight=False) for hit in response["hits"]["hits"]]


def _item(hit: dict[str, Any], *, with_highlight: bool) -> dict[str, Any]:
    source = hit["_source"]
    item = {
        "type": source["type"],
        "id": source["id"],
        "title": source["title"],
        "link": source["link"],
    }
    if with_highlight:
        item["status"] = source.get("status")
        item["highlight"] = hit.get("highlight", {})
    return item

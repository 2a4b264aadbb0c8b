"""OpenSearch adapter: the deals index behind its alias, versioned writes and permission-filtered queries."""

from __future__ import annotations

import logging
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConflictError

from contracts.crm import DealCreated, DealUpdated
from servicekit.auth import Principal

logger = logging.getLogger(__name__)

DEALS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "type": {"type": "keyword"},
        "title": {
            "type": "text",
            "fields": {"raw": {"type": "keyword", "ignore_above": 256}},
        },
        "stage_name": {"type": "keyword"},
        "pipeline_id": {"type": "keyword"},
        "owner_id": {"type": "keyword"},
        "department": {"type": "keyword"},
        "contact_name": {"type": "text"},
        "contact_phone": {"type": "keyword"},
        "contact_email": {"type": "keyword", "normalizer": "lowercase"},
        "amount": {"type": "double"},
        "currency": {"type": "keyword"},
        "indexed_at": {"type": "date"},
        "occurred_at": {"type": "date"},
    },
}

INDEX_SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    "analysis": {"normalizer": {"lowercase": {"type": "custom", "filter": ["lowercase"]}}},
}


class DealIndex:
    """The deals index; writes carry the event's ``aggregate_version`` as an external version."""

    def __init__(self, client: AsyncOpenSearch, prefix: str = "", *, refresh: bool = False) -> None:
        self._client = client
        self.alias = f"{prefix}deals"
        self._refresh = refresh

    async def ensure(self) -> None:
        """Create the first index behind the alias when the alias does not exist yet."""
        if await self._client.indices.exists_alias(name=self.alias):
            return
        index = f"{self.alias}-v1"
        if not await self._client.indices.exists(index=index):
            await self._client.indices.create(
                index=index,
                body={"settings": INDEX_SETTINGS, "mappings": DEALS_MAPPING},
            )
        await self._client.indices.put_alias(index=index, name=self.alias)
        logger.info("created index %s behind alias %s", index, self.alias)

    async def apply(self, event: DealCreated | DealUpdated) -> bool:
        """Index the deal's state; return False when a newer version is already indexed."""
        deal = event.data.deal
        document = {
            "type": "deal",
            "title": deal.title,
            "stage_name": deal.stage_name,
            "pipeline_id": str(deal.pipeline_id),
            "owner_id": deal.owner_id,
            "department": deal.department,
            "contact_name": deal.contact_name,
            "contact_phone": deal.contact_phone,
            "contact_email": deal.contact_email,
            "amount": float(deal.amount) if deal.amount is not None else None,
            "currency": deal.currency,
            "occurred_at": event.occurred_at.isoformat(),
        }
        try:
            await self._client.index(
                index=self.alias,
                id=str(deal.id),
                body=document,
                version=event.aggregate_version,
                version_type="external",
                refresh="wait_for" if self._refresh else "false",
            )
        except ConflictError:
            logger.info(
                "deal %s already indexed at a version >= %s",
                deal.id,
                event.aggregate_version,
            )
            return False
        return True

    async def search(self, user: Principal, text: str, limit: int = 20) -> dict[str, Any]:
        """Find deals matching ``text`` among those ``user`` may read."""
        query: dict[str, Any] = {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": text,
                            "fields": [
                                "title^3",
                                "contact_name^2",
                                "contact_email",
                                "contact_phone",
                            ],
                        }
                    }
                ],
                "filter": [access_filter(user)],
            }
        }
        response = await self._client.search(
            index=self.alias,
            body={
                "query": query,
                "size": limit,
                "highlight": {"fields": {"title": {}, "contact_name": {}}},
            },
        )
        hits = response["hits"]["hits"]
        return {
            "total": response["hits"]["total"]["value"],
            "items": [
                {
                    "type": "deal",
                    "id": hit["_id"],
                    "title": hit["_source"]["title"],
                    "stage_name": hit["_source"].get("stage_name"),
                    "highlight": hit.get("highlight", {}),
                    "link": {"service": "crm", "path": f"/deals/{hit['_id']}"},
                }
                for hit in hits
            ],
        }


def access_filter(user: Principal) -> dict[str, Any]:
    """Restrict a query to the records ``user`` may read: own, own department's, or all for an admin."""
    if user.is_admin:
        return {"match_all": {}}
    allowed: list[dict[str, Any]] = [{"term": {"owner_id": user.user_id}}]
    if user.department:
        allowed.append({"term": {"department": user.department}})
    return {"bool": {"should": allowed, "minimum_should_match": 1}}

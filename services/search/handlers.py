"""Use cases of search: turn each event into a document write, keeping linked deal access current."""

from __future__ import annotations

import logging
from typing import Any

from contracts.crm import DealCreated, DealUpdated
from contracts.intake import RequestAccepted
from contracts.tasks import TaskCreated, TaskUpdated
from services.search.documents import (
    SOURCE_OF_EVENT,
    Domain,
    SearchDocument,
    conversation_document,
    task_document,
)
from services.search.index import SearchIndex
from services.search.linking import DealAccessStore, LinkedAccess

logger = logging.getLogger(__name__)

LinkedEvent = TaskCreated | TaskUpdated | RequestAccepted


class Indexer:
    """Applies domain events to the search indices."""

    def __init__(self, index: SearchIndex, deal_access: DealAccessStore) -> None:
        self.index = index
        self.deal_access = deal_access

    async def document_for(self, event: Any) -> SearchDocument | None:
        """Build the document of ``event``, with the current readers of a task's or a request's deal."""
        if isinstance(event, LinkedEvent):
            return self._linked_document(event, await self._deal_access_of(event))
        return SOURCE_OF_EVENT[type(event)].convert(event)

    async def apply(self, event: Any) -> None:
        """Write the event's document; a deal whose readers changed passes them on to linked records."""
        if isinstance(event, LinkedEvent):
            await self._apply_linked(event)
            return
        document = await self.document_for(event)
        if document is not None:
            await self.index.write(document)
        if isinstance(event, DealCreated | DealUpdated):
            await self._pass_on_deal_access(event)

    async def _deal_access_of(self, event: LinkedEvent) -> LinkedAccess:
        if isinstance(event, RequestAccepted):
            return await self.deal_access.get_for_request(event.data.id)
        return await self.deal_access.get(event.data.task.client.deal_id)

    @staticmethod
    def _linked_document(event: LinkedEvent, access: LinkedAccess) -> SearchDocument | None:
        if isinstance(event, RequestAccepted):
            return conversation_document(event, access)
        return task_document(event, access)

    async def _apply_linked(self, event: LinkedEvent) -> None:
        read = await self._deal_access_of(event)
        document = self._linked_document(event, read)
        if document is None or not await self.index.write(document):
            return
        current = await self._deal_access_of(event)
        rewritten = self._linked_document(event, current)
        if current != read and rewritten is not None:
            # The deal's readers changed during this write. The deal's pass over its linked records
            # may have read this one before the write, so write it again with the new readers.
            await self.index.write(rewritten, rewrite=True)

    async def _pass_on_deal_access(self, event: DealCreated | DealUpdated) -> None:
        deal = event.data.deal
        if not await self.deal_access.save(deal, event.aggregate_version):
            return
        fields = (await self.deal_access.get(deal.id)).fields()
        relinked = await self.index.relink(Domain.TASK, f"deal:{deal.id}", fields)
        if deal.source.request_id is not None:
            relinked += await self.index.relink(Domain.CONVERSATION, f"request:{deal.source.request_id}", fields)
        logger.info("deal %s readers changed; updated %s linked record(s)", deal.id, relinked)

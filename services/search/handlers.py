"""Use cases of search: turn each event into a document write, keeping tasks' deal access current."""

from __future__ import annotations

import logging
from typing import Any

from contracts.crm import DealCreated, DealUpdated
from contracts.tasks import TaskCreated, TaskUpdated
from services.search.documents import SOURCE_OF_EVENT, Domain, SearchDocument, task_document
from services.search.index import SearchIndex
from services.search.linking import DealAccessStore

logger = logging.getLogger(__name__)


class Indexer:
    """Applies domain events to the search indices."""

    def __init__(self, index: SearchIndex, deal_access: DealAccessStore) -> None:
        self.index = index
        self.deal_access = deal_access

    async def document_for(self, event: Any) -> SearchDocument | None:
        """Build the document of ``event``, with the current readers of a task's deal."""
        if isinstance(event, TaskCreated | TaskUpdated):
            return task_document(event, await self.deal_access.get(event.data.task.client.deal_id))
        return SOURCE_OF_EVENT[type(event)].convert(event)

    async def apply(self, event: Any) -> None:
        """Write the event's document; a deal whose readers changed passes them on to its tasks."""
        if isinstance(event, TaskCreated | TaskUpdated):
            await self._apply_task(event)
            return
        document = await self.document_for(event)
        if document is not None:
            await self.index.write(document)
        if isinstance(event, DealCreated | DealUpdated):
            await self._pass_on_deal_access(event)

    async def _apply_task(self, event: TaskCreated | TaskUpdated) -> None:
        deal_id = event.data.task.client.deal_id
        read = await self.deal_access.get(deal_id)
        if not await self.index.write(task_document(event, read)):
            return
        current = await self.deal_access.get(deal_id)
        if current != read:
            # The deal's readers changed while this task was written. The deal's pass over its tasks
            # may have read the task before this write, so write it again with the new readers.
            await self.index.write(task_document(event, current), rewrite=True)

    async def _pass_on_deal_access(self, event: DealCreated | DealUpdated) -> None:
        deal = event.data.deal
        if not await self.deal_access.save(deal, event.aggregate_version):
            return
        access = await self.deal_access.get(deal.id)
        relinked = await self.index.relink(Domain.TASK, f"deal:{deal.id}", access.fields())
        logger.info("deal %s readers changed; updated %s linked task(s)", deal.id, relinked)

"""Use cases of search: turn each event into a document write, keeping linked access current."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from contracts.crm import (
    CompanyCreated,
    CompanyUpdated,
    DealCreated,
    DealUpdated,
    LegalEntityCreated,
    LegalEntityUpdated,
)
from contracts.intake import RequestAccepted
from contracts.tasks import TaskCreated, TaskUpdated
from services.search.documents import (
    SOURCE_OF_EVENT,
    Domain,
    SearchDocument,
    conversation_document,
    legal_entity_document,
    task_document,
)
from services.search.index import SearchIndex
from services.search.linking import NO_LINKED_ACCESS, AccessStore, LinkedAccess, ParentKind

logger = logging.getLogger(__name__)

#: Events of records that the readers of a parent record may read too.
LinkedEvent = TaskCreated | TaskUpdated | RequestAccepted | LegalEntityCreated | LegalEntityUpdated


class Indexer:
    """Applies domain events to the search indices."""

    def __init__(self, index: SearchIndex, access: AccessStore) -> None:
        self.index = index
        self.access = access

    async def document_for(self, event: Any) -> SearchDocument | None:
        """Build the document of ``event``, with the current readers of its parent deal or company."""
        if isinstance(event, LinkedEvent):
            return _linked_document(event, await self._parent_access(event))
        return SOURCE_OF_EVENT[type(event)].convert(event)

    async def apply(self, event: Any) -> None:
        """Write the event's document; a parent whose readers changed passes them on to linked records."""
        if isinstance(event, LinkedEvent):
            await self._apply_linked(event)
            return
        document = await self.document_for(event)
        if document is not None:
            await self.index.write(document)
        if isinstance(event, DealCreated | DealUpdated):
            await self._pass_on_deal_access(event)
        elif isinstance(event, CompanyCreated | CompanyUpdated):
            await self._pass_on_company_access(event)

    async def _parent_access(self, event: LinkedEvent) -> LinkedAccess:
        if isinstance(event, RequestAccepted):
            return await self.access.get_for_request(event.data.id)
        if isinstance(event, LegalEntityCreated | LegalEntityUpdated):
            return await self.access.get(event.data.company_id)
        return await self.access.get(event.data.task.client.deal_id)

    async def _apply_linked(self, event: LinkedEvent) -> None:
        read = await self._parent_access(event)
        document = _linked_document(event, read)
        if document is None or not await self.index.write(document):
            return
        current = await self._parent_access(event)
        rewritten = _linked_document(event, current)
        if current != read and rewritten is not None:
            # The parent's readers changed during this write. The parent's pass over its linked
            # records may have read this one before the write, so write it again with the new readers.
            await self.index.write(rewritten, rewrite=True)

    async def _pass_on_deal_access(self, event: DealCreated | DealUpdated) -> None:
        deal = event.data.deal
        access = NO_LINKED_ACCESS if deal.deleted else LinkedAccess(deal.owner_id, deal.department, deal.workgroup)
        await self._pass_on(
            "deal",
            deal.id,
            event.aggregate_version,
            access,
            targets=linked_targets(event),
            request_id=deal.source.request_id,
        )

    async def _pass_on_company_access(self, event: CompanyCreated | CompanyUpdated) -> None:
        company = event.data
        access = (
            NO_LINKED_ACCESS
            if company.deleted
            else LinkedAccess(company.owner_id, company.department, company.workgroup)
        )
        await self._pass_on("company", company.id, event.aggregate_version, access, targets=linked_targets(event))

    async def _pass_on(
        self,
        kind: ParentKind,
        record_id: uuid.UUID,
        version: int,
        access: LinkedAccess,
        *,
        targets: list[tuple[Domain, str]],
        request_id: uuid.UUID | None = None,
    ) -> None:
        if not await self.access.save(kind, record_id, version, access, request_id=request_id):
            return
        fields = (await self.access.get(record_id)).fields()
        relinked = 0
        for domain, related in targets:
            relinked += await self.index.relink(domain, related, fields)
        logger.info("%s %s readers changed; updated %s linked record(s)", kind, record_id, relinked)


def linked_targets(event: Any) -> list[tuple[Domain, str]]:
    """Return the linked records of a deal or company event, as (domain, ``related`` value) pairs."""
    if isinstance(event, DealCreated | DealUpdated):
        deal = event.data.deal
        targets = [(Domain.TASK, f"deal:{deal.id}")]
        if deal.source.request_id is not None:
            targets.append((Domain.CONVERSATION, f"request:{deal.source.request_id}"))
        return targets
    if isinstance(event, CompanyCreated | CompanyUpdated):
        return [(Domain.LEGAL_ENTITY, f"company:{event.data.id}")]
    return []


def _linked_document(event: LinkedEvent, access: LinkedAccess) -> SearchDocument | None:
    if isinstance(event, RequestAccepted):
        return conversation_document(event, access)
    if isinstance(event, LegalEntityCreated | LegalEntityUpdated):
        return legal_entity_document(event, access)
    return task_document(event, access)

"""Readers of a deal, stored by search so that the tasks linked to the deal carry them too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.crm import DealState
from services.search.tables import DealAccess


@dataclass(frozen=True)
class LinkedAccess:
    """Readers of a linked deal: its owner, department and workgroup."""

    owner_id: str | None = None
    department: str | None = None
    workgroup: str | None = None

    def fields(self) -> dict[str, Any]:
        """Return the search document fields that grant these readers access."""
        return {
            "linked_users": [self.owner_id] if self.owner_id else [],
            "linked_department": self.department,
            "linked_workgroups": [self.workgroup] if self.workgroup else [],
        }


NO_LINKED_ACCESS = LinkedAccess()


class DealAccessStore:
    """Newest known access of each deal, in the search service's database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get(self, deal_id: uuid.UUID | None) -> LinkedAccess:
        """Return the readers of ``deal_id``; no extra readers for no deal or an unknown one."""
        if deal_id is None:
            return NO_LINKED_ACCESS
        async with self._sessionmaker() as session:
            row = await session.get(DealAccess, deal_id)
        if row is None:
            return NO_LINKED_ACCESS
        return LinkedAccess(row.owner_id, row.department, row.workgroup)

    async def get_for_request(self, request_id: uuid.UUID) -> LinkedAccess:
        """Return the readers of the deal made from intake request ``request_id``, if there is one."""
        async with self._sessionmaker() as session:
            row = await session.scalar(select(DealAccess).where(DealAccess.request_id == request_id).limit(1))
        if row is None:
            return NO_LINKED_ACCESS
        return LinkedAccess(row.owner_id, row.department, row.workgroup)

    async def save(self, deal: DealState, version: int) -> bool:
        """Store the deal's readers at ``version``; return True when a newer version changed them."""
        access = NO_LINKED_ACCESS if deal.deleted else LinkedAccess(deal.owner_id, deal.department, deal.workgroup)
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(DealAccess, deal.id, with_for_update=True)
            if row is None:
                session.add(
                    DealAccess(deal_id=deal.id, version=version, request_id=deal.source.request_id, **access.__dict__)
                )
                return access != NO_LINKED_ACCESS
            if row.version >= version:
                return False
            changed = LinkedAccess(row.owner_id, row.department, row.workgroup) != access
            row.version = version
            row.request_id = deal.source.request_id
            row.owner_id, row.department, row.workgroup = access.owner_id, access.department, access.workgroup
            return changed

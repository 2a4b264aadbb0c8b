"""Readers of deals and companies, stored by search so that the records linked to them carry them too.

A task or a conversation may be read by the readers of its deal, and a client's legal entity by the
readers of its company. Search keeps each such parent's newest access in its database, copies it
into the linked documents, and rewrites them when it changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search.tables import RecordAccess

ParentKind = Literal["deal", "company"]


@dataclass(frozen=True)
class LinkedAccess:
    """Readers of a parent record: its owner, department and workgroup."""

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


class AccessStore:
    """Newest known access of each deal and company, in the search service's database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get(self, record_id: uuid.UUID | None) -> LinkedAccess:
        """Return the readers of ``record_id``; no extra readers for no record or an unknown one."""
        if record_id is None:
            return NO_LINKED_ACCESS
        async with self._sessionmaker() as session:
            row = await session.get(RecordAccess, record_id)
        return _access(row)

    async def get_for_request(self, request_id: uuid.UUID) -> LinkedAccess:
        """Return the readers of the deal made from intake request ``request_id``, if there is one."""
        async with self._sessionmaker() as session:
            row = await session.scalar(select(RecordAccess).where(RecordAccess.request_id == request_id).limit(1))
        return _access(row)

    async def save(
        self,
        kind: ParentKind,
        record_id: uuid.UUID,
        version: int,
        access: LinkedAccess,
        *,
        request_id: uuid.UUID | None = None,
    ) -> bool:
        """Store a record's readers at ``version``; return True when a newer version changed them."""
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(RecordAccess, record_id, with_for_update=True)
            if row is None:
                session.add(
                    RecordAccess(
                        record_id=record_id, kind=kind, version=version, request_id=request_id, **access.__dict__
                    )
                )
                return access != NO_LINKED_ACCESS
            if row.version >= version:
                return False
            changed = _access(row) != access
            row.version = version
            row.request_id = request_id
            row.owner_id, row.department, row.workgroup = access.owner_id, access.department, access.workgroup
            return changed


def _access(row: RecordAccess | None) -> LinkedAccess:
    if row is None:
        return NO_LINKED_ACCESS
    return LinkedAccess(row.owner_id, row.department, row.workgroup)

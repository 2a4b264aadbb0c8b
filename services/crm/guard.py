"""Access checks of one request: decisions, 403 errors and references to linked records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.db import utcnow
from servicekit.errors import NotFound, PermissionDenied
from services.crm.access import AccessPolicy, Action, Decision, Level
from services.crm.common import Deleted
from services.crm.tables import AccessRequest, Company, Deal, LegalEntity, Pipeline

Reference = dict[str, Any]


@dataclass
class _Shared:
    """A record without owner or department, such as our own legal entities."""

    owner_id: str | None = None
    department: str | None = None


class Guard:
    """Applies the access policy for one user; ``pipeline_keys`` maps pipeline ids to keys for deal rights.

    ``grants`` maps an entity type to the ids of records that owners let this user read for a while
    (granted access requests that had not expired when the guard was loaded).
    """

    def __init__(
        self,
        policy: AccessPolicy,
        user: Principal,
        pipeline_keys: dict[uuid.UUID, str],
        grants: dict[str, set[uuid.UUID]] | None = None,
    ) -> None:
        self.policy = policy
        self.user = user
        self.pipeline_keys = pipeline_keys
        self.grants = grants or {}

    @classmethod
    async def load(cls, session: AsyncSession, policy: AccessPolicy, user: Principal) -> Guard:
        rows = await session.execute(select(Pipeline.id, Pipeline.key))
        return cls(policy, user, {row.id: row.key for row in rows}, await active_grants(session, user.user_id))

    def granted_ids(self, entity: str) -> set[uuid.UUID]:
        """Return the ids of records of ``entity`` that a grant lets the user read."""
        return self.grants.get(entity, set())

    async def decide(self, session: AsyncSession, entity: str, action: Action, row: Any) -> Decision:
        """Decide ``action`` on a stored record; a grant adds read access where the policy gives none."""
        decision = await self._decide_by_policy(session, entity, action, row)
        if decision.allowed or action != "read":
            return decision
        if row.id in self.granted_ids(entity):
            return Decision(True)
        # A client's legal entity follows its company, so a grant on the company reaches it too.
        if entity == "legal_entity" and getattr(row, "company_id", None) in self.granted_ids("company"):
            return Decision(True)
        return decision

    async def _decide_by_policy(self, session: AsyncSession, entity: str, action: Action, row: Any) -> Decision:
        """Decide ``action`` by the roles alone; a client's legal entity follows its company's owner."""
        if entity == "legal_entity":
            return await self._decide_legal_entity(session, action, row)
        pipeline_key = self.pipeline_keys.get(row.pipeline_id) if isinstance(row, Deal) else None
        return self.policy.check(
            self.user, entity, action, row, workgroup=getattr(row, "workgroup", None), pipeline_key=pipeline_key
        )

    async def _decide_legal_entity(self, session: AsyncSession, action: Action, row: LegalEntity) -> Decision:
        if row.is_own:
            # Our own legal entities are shared by every employee; changing them takes level ``all``.
            if action == "read":
                return self.policy.check(self.user, "legal_entity", "read", None)
            if self.policy.level(self.user, "legal_entity", action) == Level.ALL:
                return Decision(True)
            return Decision(False, f"only users whose roles grant {action} on all legal entities may change ours")
        company = await session.get(Company, row.company_id) if row.company_id else None
        owner = company if company is not None else _Shared()
        return self.policy.check(
            self.user, "legal_entity", action, owner, workgroup=getattr(company, "workgroup", None)
        )

    async def require(self, session: AsyncSession, entity: str, action: Action, row: Any) -> None:
        """Raise 403 with the owner to ask unless the user may do ``action`` on ``row``."""
        decision = await self.decide(session, entity, action, row)
        if not decision.allowed:
            owner = await self.owner_of(session, entity, row)
            # Admins see every access request, so they decide those for records without an owner.
            ask = "its owner" if owner["id"] is not None else "an administrator"
            raise PermissionDenied(
                f"{entity} {row.id} is restricted: {decision.reason}; ask {ask} for access",
                id=str(row.id),
                status="restricted",
                reason=decision.reason,
                owner=owner,
            )

    def require_create(self, entity: str, values: Any, *, pipeline_key: str | None = None) -> None:
        """Raise 403 unless the user may create a record with these owner fields."""
        decision = self.policy.check(self.user, entity, "create", None, pipeline_key=pipeline_key)
        if decision.allowed:
            level = self.policy.level(self.user, entity, "create", pipeline_key=pipeline_key)
            decision = _create_scope(self.user, level, values)
        if not decision.allowed:
            raise PermissionDenied(f"you may not create this {entity}: {decision.reason}", reason=decision.reason)

    async def owner_of(self, session: AsyncSession, entity: str, row: Any) -> dict[str, Any]:
        if entity == "legal_entity" and row.company_id is not None:
            company = await session.get(Company, row.company_id)
            if company is not None:
                return {"id": company.owner_id, "department": company.department}
        return {"id": getattr(row, "owner_id", None), "department": getattr(row, "department", None)}

    async def reference(
        self, session: AsyncSession, entity: str, record_id: uuid.UUID | None, row: Any, content: BaseModel | None
    ) -> Reference | None:
        """Return a linked record as ``ok`` with its content, or as ``restricted``, ``not_found`` or ``deleted``."""
        if record_id is None:
            return None
        if row is None:
            return {"id": str(record_id), "type": entity, "status": "not_found"}
        if getattr(row, "deleted", False):
            return {"id": str(record_id), "type": entity, "status": "deleted"}
        decision = await self.decide(session, entity, "read", row)
        if not decision.allowed:
            return {
                "id": str(record_id),
                "type": entity,
                "status": "restricted",
                "reason": decision.reason,
                "owner": await self.owner_of(session, entity, row),
            }
        body = content.model_dump(mode="json") if content is not None else {}
        return {"id": str(record_id), "type": entity, "status": "ok", "record": body}

    async def readable(self, session: AsyncSession, entity: str, row: Any, record_id: uuid.UUID) -> Any:
        """Return ``row`` if the user may read it; raise 404, 410 or 403 (with the owner) otherwise."""
        if row is None:
            raise NotFound(f"{entity} {record_id} not found", id=str(record_id), status="not_found")
        if getattr(row, "deleted", False):
            raise Deleted(f"{entity} {record_id} was deleted", id=str(record_id), status="deleted")
        await self.require(session, entity, "read", row)
        return row


async def active_grants(session: AsyncSession, user_id: str) -> dict[str, set[uuid.UUID]]:
    """Return the records that granted access requests let ``user_id`` read now, by entity type.

    Expiry is compared with the current time on every load, so access ends without a background job.
    """
    query = select(AccessRequest.record_type, AccessRequest.record_id).where(
        AccessRequest.requester_id == user_id,
        AccessRequest.status == "granted",
        AccessRequest.expires_at > utcnow(),
    )
    grants: dict[str, set[uuid.UUID]] = {}
    for row in await session.execute(query):
        grants.setdefault(row.record_type, set()).add(row.record_id)
    return grants


def _create_scope(user: Principal, level: Level, values: Any) -> Decision:
    """Limit creation to records the user owns (level ``own``) or of their department (level ``department``)."""
    owner_id = getattr(values, "owner_id", None)
    department = getattr(values, "department", None)
    if level == Level.ALL:
        return Decision(True)
    if level == Level.OWN and owner_id not in (None, user.user_id):
        return Decision(False, "your roles let you create only records that you own")
    if department not in (None, user.department):
        return Decision(False, "your roles let you create records only in your own department")
    return Decision(True)

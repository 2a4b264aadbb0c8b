"""Access rules for documents and files, and the restricted view of linked CRM records.

Rights are given per role and action, each at a level: ``none``, ``own`` (records the user owns),
``department`` (also records of the user's department) or ``all``. A user's level for an action is the
highest that any of their roles grants. A record scoped to a workgroup is readable by the workgroup's
members, and at the ``department`` level only by them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from servicekit.auth import Principal
from servicekit.errors import NotFound, PermissionDenied

Level = Literal["none", "own", "department", "all"]
Action = Literal["read", "create", "update", "delete", "send", "override_check"]

_RANK: dict[Level, int] = {"none": 0, "own": 1, "department": 2, "all": 3}

#: Rights of every authenticated staff user, whatever their roles.
DEFAULT_RIGHTS: dict[Action, Level] = {
    "read": "department",
    "create": "all",
    "update": "department",
    "delete": "own",
    "send": "department",
    "override_check": "none",
}

#: Rights that roles add to the default ones.
DEFAULT_ROLE_RIGHTS: dict[str, dict[Action, Level]] = {
    "admin": dict.fromkeys(DEFAULT_RIGHTS, "all"),
    "lawyer": {"read": "all", "update": "all", "send": "all", "override_check": "all"},
    "head": {"read": "department", "delete": "department", "override_check": "department"},
    # Given only to tokens that services issue each other (the extranet reads published versions
    # and shared files for portal downloads, and decides itself what a portal user may get).
    "service": {"read": "all"},
}


class Owned(Protocol):
    owner_id: Any
    department: Any


@dataclass(frozen=True)
class AccessPolicy:
    """Levels per role and action, from the service's settings."""

    default: dict[Action, Level]
    roles: dict[str, dict[Action, Level]]

    def level(self, user: Principal, action: Action) -> Level:
        levels = [self.default.get(action, "none")]
        levels += [self.roles[role].get(action, "none") for role in user.roles if role in self.roles]
        return max(levels, key=lambda level: _RANK[level])

    def allows(self, user: Principal, action: Action, record: Owned, workgroup: str | None = None) -> bool:
        """Tell whether ``user`` may do ``action`` to ``record`` (owner, department and workgroup)."""
        level = self.level(user, action)
        if level == "none":
            return False
        if level == "all" or (record.owner_id is not None and record.owner_id == user.user_id):
            return True
        if workgroup is not None and workgroup in user.workgroups:
            return True
        same_department = record.department is not None and record.department == user.department
        return level == "department" and same_department and workgroup is None

    def require(self, user: Principal, action: Action, record: Owned, *, kind: str, record_id: uuid.UUID) -> None:
        """Raise 403 with the owner to ask unless ``user`` may do ``action`` to ``record``."""
        workgroup = getattr(record, "workgroup", None)
        if not self.allows(user, action, record, workgroup):
            raise PermissionDenied(
                f"you may not {action.replace('_', ' ')} {kind} {record_id}; ask its owner for access",
                id=str(record_id),
                status="restricted",
                reason=_reason(action, kind, record),
                owner=record.owner_id,
            )


def _reason(action: Action, kind: str, record: Owned) -> str:
    if action == "override_check":
        return "overriding a failed check needs the override_check right"
    if record.department:
        return f"the {kind} belongs to another owner in department {record.department}"
    return f"the {kind} belongs to another owner"


def not_found(kind: str, record_id: uuid.UUID) -> NotFound:
    return NotFound(f"{kind} {record_id} not found", id=str(record_id), status="not_found")


class LinkedRecord(BaseModel):
    """A CRM record that a document or file links to, as the current user may see it."""

    id: uuid.UUID
    status: Literal["ok", "restricted", "not_found", "deleted"] = Field(
        description="not_found: documents has not received the record from CRM (yet)."
    )
    name: str | None = Field(default=None, description="Title or name; only with status ok.")
    reason: str | None = Field(default=None, description="Why the record is restricted.")
    owner: str | None = Field(default=None, description="Whom to ask for access, when restricted.")


def linked_record(
    policy: AccessPolicy, user: Principal, *, kind: str, record_id: uuid.UUID, record: Any, name: str | None
) -> LinkedRecord:
    """Describe a linked deal or company without revealing it to a user who may not read it."""
    if record is None:
        return LinkedRecord(id=record_id, status="not_found")
    if record.deleted:
        return LinkedRecord(id=record_id, status="deleted")
    if not policy.allows(user, "read", record, record.workgroup):
        return LinkedRecord(
            id=record_id, status="restricted", reason=_reason("read", kind, record), owner=record.owner_id
        )
    return LinkedRecord(id=record_id, status="ok", name=name)

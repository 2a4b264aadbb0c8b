"""Access policy: rights per role and entity type, each action with a level none, own, department or all.

A user's level for an action is the highest that any of their roles grants. Deals can have rights per
pipeline under the entity ``deal:<pipeline key>``, which win over the plain ``deal`` entry of the same
role. A record scoped to a workgroup also needs membership in it, except for its owner and for level
``all``. The ``admin`` role may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, and_, false, or_, true

from servicekit.auth import Principal

Action = Literal["read", "create", "update", "delete"]
ACTIONS: tuple[Action, ...] = ("read", "create", "update", "delete")
ENTITY_TYPES = ("company", "contact", "legal_entity", "project", "deal", "pipeline")


class Level(IntEnum):
    """How far a right reaches, from nothing to every record."""

    NONE = 0
    OWN = 1
    DEPARTMENT = 2
    ALL = 3

    @classmethod
    def parse(cls, value: str) -> Level:
        return cls[value.upper()]


#: Rights of a role: entity type (or ``deal:<pipeline key>``) to action to level name.
RoleRights = dict[str, dict[str, str]]

#: Rights that every staff user has through the ``employee`` role: the behaviour of the first CRM
#: version, where a user reads and edits what they own or what their department owns.
DEFAULT_ROLES: dict[str, RoleRights] = {
    "employee": {
        "company": {"read": "department", "create": "all", "update": "department", "delete": "own"},
        "contact": {"read": "department", "create": "all", "update": "department", "delete": "own"},
        "legal_entity": {"read": "department", "create": "all", "update": "department", "delete": "own"},
        "project": {"read": "department", "create": "all", "update": "department", "delete": "own"},
        "deal": {"read": "department", "create": "all", "update": "department", "delete": "own"},
        "pipeline": {"read": "all", "create": "none", "update": "none", "delete": "none"},
    },
    "head": {
        entity: {"read": "all", "create": "all", "update": "department", "delete": "department"}
        for entity in ENTITY_TYPES
    },
}


class Owned(Protocol):
    """The fields of a record that the policy reads."""

    @property
    def owner_id(self) -> str | None: ...

    @property
    def department(self) -> str | None: ...


@dataclass(frozen=True)
class Decision:
    """Outcome of a check, with the reason for a denial."""

    allowed: bool
    reason: str = ""


class AccessPolicy:
    """Decides what a principal may do to a record, from the configured roles."""

    def __init__(self, roles: dict[str, RoleRights], *, base_role: str = "employee") -> None:
        self._roles = roles
        self._base_role = base_role

    def level(self, user: Principal, entity: str, action: Action, *, pipeline_key: str | None = None) -> Level:
        """Return the highest level of ``action`` on ``entity`` that any of the user's roles grants."""
        if user.is_admin:
            return Level.ALL
        best = Level.NONE
        for role in {self._base_role, *user.roles}:
            rights = self._roles.get(role, {})
            entry = rights.get(f"{entity}:{pipeline_key}") if pipeline_key else None
            entry = entry if entry is not None else rights.get(entity, {})
            best = max(best, Level.parse(entry.get(action, "none")))
        return best

    def check(  # noqa: PLR0911 - one early return per rule reads clearer than a combined condition
        self,
        user: Principal,
        entity: str,
        action: Action,
        record: Owned | None = None,
        *,
        workgroup: str | None = None,
        pipeline_key: str | None = None,
    ) -> Decision:
        """Decide whether ``user`` may do ``action`` on ``record`` (or create one, when it is None)."""
        level = self.level(user, entity, action, pipeline_key=pipeline_key)
        if level == Level.NONE:
            return Decision(False, f"your roles grant no right to {action} {_plural(entity)}")
        if record is None or level == Level.ALL:
            return Decision(True)

        is_owner = record.owner_id is not None and record.owner_id == user.user_id
        if workgroup is not None and not is_owner and workgroup not in user.workgroups:
            return Decision(False, f"the record belongs to workgroup {workgroup!r}, which you are not a member of")
        if is_owner:
            return Decision(True)
        if level == Level.DEPARTMENT and record.department is not None and record.department == user.department:
            return Decision(True)
        if record.owner_id is None and record.department is None:
            return Decision(False, "the record has no owner or department")
        if level == Level.DEPARTMENT and record.department is None:
            return Decision(False, "the record has no department and you are not its owner")
        if level == Level.DEPARTMENT:
            return Decision(False, "the record belongs to another department")
        return Decision(False, f"you may {action} only records you own")

    def condition(
        self,
        user: Principal,
        entity: str,
        action: Action,
        table: Any,
        *,
        pipeline_keys: dict[Any, str] | None = None,
    ) -> ColumnElement[bool]:
        """Return the SQL condition that selects the rows ``check`` allows, so lists filter before LIMIT.

        For deals with ``pipeline_keys`` (pipeline id to key) each pipeline gets its own level.
        """
        if pipeline_keys is not None:
            per_pipeline = [
                and_(
                    table.pipeline_id == pipeline_id,
                    self._level_condition(self.level(user, entity, action, pipeline_key=key), user, table),
                )
                for pipeline_id, key in pipeline_keys.items()
            ]
            return or_(*per_pipeline) if per_pipeline else false()
        return self._level_condition(self.level(user, entity, action), user, table)

    @staticmethod
    def _level_condition(level: Level, user: Principal, table: Any) -> ColumnElement[bool]:
        if level == Level.ALL:
            return true()
        if level == Level.NONE:
            return false()
        is_owner = and_(table.owner_id.is_not(None), table.owner_id == user.user_id)
        if level == Level.OWN or not user.department:
            return is_owner
        same_department = and_(table.department.is_not(None), table.department == user.department)
        if hasattr(table, "workgroup"):
            member = or_(table.workgroup.is_(None), table.workgroup.in_(user.workgroups or [""]))
            same_department = and_(same_department, member)
        return or_(is_owner, same_department)


def _plural(entity: str) -> str:
    return {"company": "companies", "legal_entity": "legal entities"}.get(entity, entity + "s")


def owner_reference(record: Owned) -> dict[str, Any]:
    """Return the owner to ask for access to ``record``."""
    return {"id": record.owner_id, "department": record.department}


def validate_roles(roles: dict[str, RoleRights]) -> None:
    """Raise ``ValueError`` naming the first entry that is not a known entity, action or level."""
    for role, rights in roles.items():
        for entity, actions in rights.items():
            if entity.partition(":")[0] not in ENTITY_TYPES:
                raise ValueError(f"role {role!r}: unknown entity type {entity!r}; use one of {ENTITY_TYPES}")
            for action, level in actions.items():
                if action not in ACTIONS:
                    raise ValueError(f"role {role!r}, {entity}: unknown action {action!r}; use one of {ACTIONS}")
                if level.upper() not in Level.__members__:
                    raise ValueError(f"role {role!r}, {entity}.{action}: unknown level {level!r}")

"""Task rules that need no I/O: the status machine, the result rule, the client reference and who may see a task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from contracts.tasks import ClientReference, TaskResult, TaskStatus
from servicekit.auth import Principal
from services.tasks.errors import ClientMismatch, InvalidTransition, ResultRequired

TaskAction = Literal["start", "complete", "accept", "return", "cancel"]
#: The status names, for query parameters; the same values as :data:`contracts.tasks.TaskStatus`.
TaskStatusName = TaskStatus
TaskRole = Literal["creator", "owner", "admin"]

#: Statuses from which each action may be taken, and the status it leads to.
TRANSITIONS: dict[TaskAction, tuple[frozenset[TaskStatus], TaskStatus]] = {
    "start": (frozenset({"new", "returned"}), "in_progress"),
    "complete": (frozenset({"new", "in_progress", "returned"}), "done"),
    "accept": (frozenset({"done"}), "accepted"),
    "return": (frozenset({"done"}), "returned"),
    "cancel": (frozenset({"new", "in_progress", "done", "returned"}), "cancelled"),
}

#: Roles that may take each action. The owner does the work, the creator accepts it, and admins may do both.
ACTION_ROLES: dict[TaskAction, frozenset[TaskRole]] = {
    "start": frozenset({"owner", "admin"}),
    "complete": frozenset({"owner", "admin"}),
    "accept": frozenset({"creator", "admin"}),
    "return": frozenset({"creator", "admin"}),
    "cancel": frozenset({"creator", "admin"}),
}

#: Not yet accepted or cancelled: the task still counts in a client's, deal's or owner's open tasks.
OPEN_STATUSES: tuple[TaskStatus, ...] = ("new", "in_progress", "done", "returned")
#: The owner still owes work; only these statuses can be overdue.
PENDING_STATUSES: tuple[TaskStatus, ...] = ("new", "in_progress", "returned")
#: Done by the owner and waiting for the creator to accept or return it.
WAITING_STATUS: TaskStatus = "done"


def allowed_actions(status: TaskStatus) -> list[TaskAction]:
    """Return the actions that the status machine allows from ``status``."""
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def next_status(current: TaskStatus, action: TaskAction) -> TaskStatus:
    """Return the status that ``action`` leads to from ``current``; raise :class:`InvalidTransition` if none."""
    sources, target = TRANSITIONS[action]
    if current not in sources:
        allowed = allowed_actions(current)
        raise InvalidTransition(
            f"cannot {action} a task whose current status is {current!r}; "
            f"allowed actions: {', '.join(allowed) if allowed else 'none, the task is closed'}",
            status=current,
            action=action,
            allowed_actions=allowed,
        )
    return target


def check_result(
    task_id: uuid.UUID, deal_id: uuid.UUID | None, result_required: bool, result: TaskResult | None
) -> None:
    """Raise :class:`ResultRequired` if the task needs a result and ``result`` has neither text nor files."""
    if not result_required or has_content(result):
        return
    origin = f"was created from deal {deal_id} and " if deal_id is not None else ""
    raise ResultRequired(
        f"task {task_id} {origin}needs a result to be completed: send result.text or result.file_ids, "
        "or ask the task's creator to turn off result_required",
        field="result",
        task_id=str(task_id),
    )


def has_content(result: TaskResult | None) -> bool:
    return result is not None and (bool(result.text.strip()) or bool(result.file_ids))


@dataclass(frozen=True)
class DealClient:
    """Client of a deal, as stored in this service's deal projection."""

    deal_id: uuid.UUID
    company_id: uuid.UUID | None
    primary_contact_id: uuid.UUID | None
    contact_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    project_id: uuid.UUID | None = None

    def has_contact(self, contact_id: uuid.UUID) -> bool:
        return contact_id == self.primary_contact_id or contact_id in self.contact_ids


def resolve_client(
    requested: ClientReference,
    *,
    deal: DealClient | None = None,
    contact_company_id: uuid.UUID | None = None,
) -> ClientReference:
    """Fill the client reference from the deal and the contact's company; raise :class:`ClientMismatch` on conflict.

    ``contact_company_id`` is the company of ``requested.contact_id`` from the contact projection.
    """
    company_id = requested.company_id
    if requested.contact_id is not None and contact_company_id is not None:
        if company_id is not None and company_id != contact_company_id:
            raise ClientMismatch(
                f"contact {requested.contact_id} belongs to company {contact_company_id}, not to company {company_id}",
                field="client.company_id",
                contact_id=str(requested.contact_id),
                contact_company_id=str(contact_company_id),
                company_id=str(company_id),
            )
        company_id = contact_company_id

    if deal is None:
        return ClientReference(company_id=company_id, contact_id=requested.contact_id, project_id=requested.project_id)
    return _resolve_with_deal(requested, deal, company_id)


def _resolve_with_deal(requested: ClientReference, deal: DealClient, company_id: uuid.UUID | None) -> ClientReference:
    if deal.company_id is not None and company_id is not None and company_id != deal.company_id:
        raise ClientMismatch(
            f"deal {deal.deal_id} belongs to company {deal.company_id}, but the request names company {company_id}",
            field="client.company_id",
            deal_id=str(deal.deal_id),
            deal_company_id=str(deal.company_id),
            company_id=str(company_id),
        )

    contact_id = requested.contact_id
    deal_has_contacts = deal.primary_contact_id is not None or bool(deal.contact_ids)
    if contact_id is not None and deal_has_contacts and not deal.has_contact(contact_id):
        raise ClientMismatch(
            f"contact {contact_id} is not a contact of deal {deal.deal_id}"
            + (f", whose primary contact is {deal.primary_contact_id}" if deal.primary_contact_id else ""),
            field="client.contact_id",
            deal_id=str(deal.deal_id),
            deal_contact_id=str(deal.primary_contact_id) if deal.primary_contact_id else None,
            contact_id=str(contact_id),
        )

    project_id = requested.project_id
    if deal.project_id is not None and project_id is not None and project_id != deal.project_id:
        raise ClientMismatch(
            f"deal {deal.deal_id} belongs to project {deal.project_id}, but the request names project {project_id}",
            field="client.project_id",
            deal_id=str(deal.deal_id),
            deal_project_id=str(deal.project_id),
            project_id=str(project_id),
        )

    return ClientReference(
        company_id=deal.company_id or company_id,
        contact_id=contact_id if contact_id is not None else deal.primary_contact_id,
        project_id=deal.project_id or project_id,
        deal_id=deal.deal_id,
    )


def follow_deal(current: ClientReference, deal: DealClient) -> ClientReference:
    """Return the client reference of an open task after its deal's client changed.

    The task keeps its contact while that person is still one of the deal's contacts.
    """
    keep_contact = current.contact_id is not None and deal.has_contact(current.contact_id)
    return ClientReference(
        company_id=deal.company_id,
        contact_id=current.contact_id if keep_contact else deal.primary_contact_id,
        project_id=deal.project_id,
        deal_id=deal.deal_id,
    )


def may_read_record(user: Principal, owner_id: str | None, department: str | None, workgroup: str | None) -> bool:
    """Return whether ``user`` may read a CRM record, deciding as CRM does under its default roles.

    Admins and the owner may read it, and so may the members of its department, but when the record
    has a workgroup only those department members who also belong to that workgroup. Membership of the
    workgroup alone grants nothing.

    NOTE: the tasks service reads only the role names in the token, not CRM's configured ``ACCESS_ROLES``, so this is
    the default ``employee`` read level (``department``). Users whose roles reach further in CRM (the
    default ``head`` role reads ``all``) see less here, and a narrower configured level sees more.
    """
    if user.is_admin or (owner_id is not None and owner_id == user.user_id):
        return True
    same_department = department is not None and department == user.department
    return same_department and (workgroup is None or workgroup in user.workgroups)


def roles_of(user: Principal, creator_id: str, owner_id: str) -> set[TaskRole]:
    """Return the roles ``user`` has on a task, which decide the actions they may take."""
    roles: set[TaskRole] = set()
    if user.user_id == creator_id:
        roles.add("creator")
    if user.user_id == owner_id:
        roles.add("owner")
    if user.is_admin:
        roles.add("admin")
    return roles


@dataclass(frozen=True)
class TaskAudience:
    """The people a task names, and the deal it is linked to, as far as access is concerned."""

    creator_id: str
    owner_id: str
    observer_ids: frozenset[str]
    workgroup: str | None
    deal_readable: bool


def visibility_grant(user: Principal, audience: TaskAudience) -> str | None:
    """Return why ``user`` may see the task (the first rule that applies), or None if no rule does."""
    rules: list[tuple[str, bool]] = [
        ("admin", user.is_admin),
        ("creator", user.user_id == audience.creator_id),
        ("owner", user.user_id == audience.owner_id),
        ("observer", user.user_id in audience.observer_ids),
        ("workgroup", audience.workgroup is not None and audience.workgroup in user.workgroups),
        ("deal", audience.deal_readable),
    ]
    return next((name for name, applies in rules if applies), None)

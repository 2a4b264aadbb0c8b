"""Errors of the tasks service, each a :class:`servicekit.errors.ServiceError` that maps to one HTTP status.

ServiceError
├── PermissionDenied
│   ├── TaskRestricted       the user may not see the task (403, ``status: restricted``)
│   └── ActionNotAllowed     the user sees the task but may not do this to it (403)
├── NotFound
│   ├── TaskNotFound         no task has this id (404, ``status: not_found``)
│   └── TaskDeleted          the task was deleted (410, ``status: deleted``)
├── Conflict
│   ├── InvalidTransition    the task's current status does not allow the action (409)
│   └── VersionMismatch      ``If-Match`` names a version that is no longer current (409)
└── ValidationFailed
    ├── UnknownReference     the deal, company or contact is not in this service's projection (422)
    ├── ClientMismatch       the deal and the client given with it disagree (422)
    └── ResultRequired       completing needs a result that was not sent (422)
"""

from __future__ import annotations

from typing import Any

from servicekit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class TaskRestricted(PermissionDenied):
    """The user may not see the task; the body names the reason and the owner to ask."""


class ActionNotAllowed(PermissionDenied):
    """The user sees the task but their role on it does not allow this action."""

    code = "action_not_allowed"


class TaskNotFound(NotFound):
    """No task has this id."""


class TaskDeleted(NotFound):
    """The task was deleted; its id stays known, so the response differs from ``not_found``."""

    status_code = 410
    code = "deleted"


class InvalidTransition(Conflict):
    """The task's current status does not allow the requested action."""

    code = "invalid_transition"


class VersionMismatch(Conflict):
    """The request was made against an older version of the task."""

    code = "version_mismatch"


class IdempotencyKeyReused(ValidationFailed):
    """An Idempotency-Key already used by this creator for a create request with another body."""

    code = "idempotency_key_reused"


class UnknownReference(ValidationFailed):
    """A deal, company or contact that this service has not received from CRM (yet), or that was deleted."""

    def __init__(self, message: str, *, code: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class ClientMismatch(ValidationFailed):
    """A deal and the company, contact or project sent with it belong to different clients."""

    code = "client_mismatch"


class ResultRequired(ValidationFailed):
    """Completing the task needs a result text or file."""

    code = "result_required"

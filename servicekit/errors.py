"""Exceptions of the shared runtime.

ServiceError
├── ConfigurationError    settings or wiring are invalid; raised at start-up
├── AuthenticationError   a bearer token is missing, malformed, expired or has a bad signature
├── PermissionDenied      the principal may not do this to this record
├── NotFound              the record does not exist
├── Conflict              the request contradicts the current state (duplicate, stale version)
└── ValidationFailed      the input is well-formed but breaks a business rule
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error that a service raises on purpose."""

    status_code = 500
    code = "service_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ConfigurationError(ServiceError):
    """Settings or wiring are invalid."""

    code = "configuration_error"


class AuthenticationError(ServiceError):
    """A bearer token is missing or invalid."""

    status_code = 401
    code = "unauthenticated"


class PermissionDenied(ServiceError):
    """The principal may not perform this action on this record."""

    status_code = 403
    code = "forbidden"


class NotFound(ServiceError):
    """The requested record does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    """The request contradicts the current state."""

    status_code = 409
    code = "conflict"


class ValidationFailed(ServiceError):
    """The input breaks a business rule; ``details`` name the field and the reason."""

    status_code = 422
    code = "validation_failed"

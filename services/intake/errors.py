"""Exceptions of the intake service.

ServiceError (servicekit.errors)
├── NotFound
│   ├── UnknownForm             no form has this key (404)
│   └── UnknownChannel          no channel connection has this key, or it is disabled (404)
├── AuthenticationError
│   └── SenderNotVerified       a signature, secret token or application token is missing or wrong (401)
├── PayloadTooLarge             the body is over the configured limit (413)
├── RateLimited                 too many submissions from one address to one form (429)
├── InvalidSubmission           required fields are missing or fields are invalid (422)
└── NotReplayable               a rejected request was never authenticated, so it cannot be replayed (409)
UnparseableRequest (ValueError)  a stored body cannot be read as what it claims to be; the request fails
"""

from __future__ import annotations

from servicekit.errors import AuthenticationError, Conflict, NotFound, ServiceError, ValidationFailed


class UnknownForm(NotFound):
    """No form has this key."""

    code = "unknown_form"


class UnknownChannel(NotFound):
    """No enabled channel connection has this key."""

    code = "unknown_channel"


class SenderNotVerified(AuthenticationError):
    """The request does not carry the signature or token its channel requires."""

    code = "sender_not_verified"


class PayloadTooLarge(ServiceError):
    """The request body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(ServiceError):
    """Too many submissions from one address to one form within a minute."""

    status_code = 429
    code = "rate_limited"


class InvalidSubmission(ValidationFailed):
    """Required fields are missing or fields are invalid; ``errors`` names each one."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        summary = "; ".join(f"{error['field']}: {error['reason']}" for error in errors)
        super().__init__(f"invalid submission: {summary}", errors=errors)
        self.errors = errors


class NotReplayable(Conflict):
    """The request cannot be processed again."""

    code = "not_replayable"


class UnparseableRequest(ValueError):
    """The body cannot be read as the content type it declares."""

"""Exceptions of the extranet service, on top of servicekit's.

ServiceError
├── InvitationRejected   an invitation token is unknown, altered, used, revoked or expired (400)
├── SignInFailed         wrong e-mail or password, or a revoked user (401)
├── SignInLocked         too many wrong passwords in a row; retry after the lockout (429)
├── CsrfRejected         a state-changing portal request lacks the session's CSRF token (403)
└── DownloadFailed       the documents service did not deliver the bytes (502)
"""

from __future__ import annotations

from servicekit.errors import ServiceError


class InvitationRejected(ServiceError):
    """The invitation token cannot be accepted."""

    status_code = 400
    code = "invitation_rejected"


class SignInFailed(ServiceError):
    """The e-mail and password do not match an active portal user."""

    status_code = 401
    code = "sign_in_failed"


class SignInLocked(ServiceError):
    """The account is locked after repeated wrong passwords."""

    status_code = 429
    code = "sign_in_locked"


class CsrfRejected(ServiceError):
    """The request carries no valid CSRF token of the session."""

    status_code = 403
    code = "csrf_rejected"


class DownloadFailed(ServiceError):
    """The documents service did not deliver a file."""

    status_code = 502
    code = "download_failed"

from pydantic import Field

from servicekit.settings import ServiceSettings


class ExtranetSettings(ServiceSettings):
    """Settings of the extranet service."""

    service_name: str = "extranet"
    http_port: int = 8006

    documents_url: str = Field(
        default="http://127.0.0.1:8003", description="Base URL of the documents service, which serves file bytes."
    )
    portal_base_url: str | None = Field(
        default=None,
        description="Public base URL of the portal for invitation links; unset means the URL of the staff request.",
        examples=["https://portal.example.com"],
    )
    documents_timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one download from documents.")
    invitation_ttl_hours: float = Field(default=72.0, gt=0, description="How long an invitation can be accepted.")
    session_ttl_hours: float = Field(default=12.0, gt=0, description="Lifetime of a portal session.")
    session_sweep_seconds: float = Field(
        default=3600.0, gt=0, description="Interval between deletions of expired sessions."
    )
    cookie_secure: bool = Field(
        default=True, description="Mark the session cookie Secure; browsers still send it to http://127.0.0.1."
    )
    password_min_length: int = Field(default=10, ge=8, description="Minimum length of a portal password.")
    sign_in_max_failures: int = Field(
        default=5, ge=1, description="Wrong passwords in a row from one address before that address is locked out."
    )
    sign_in_account_max_failures: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords in a row from all addresses together before the whole account is locked.",
    )
    sign_in_lockout_seconds: float = Field(default=900.0, gt=0, description="Lockout after too many wrong passwords.")
    sign_in_attempts_per_minute: int = Field(
        default=30, ge=1, description="Sign-in and invitation attempts per client address and minute, per process."
    )
    sign_in_delay_seconds: float = Field(
        default=0.5, ge=0, description="Delay of a failed sign-in per earlier failure in a row, at most 5 s."
    )

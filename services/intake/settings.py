from pathlib import Path

from pydantic import Field

from servicekit.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    service_name: str = "intake"
    http_port: int = 8004
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest accepted request body, in bytes.",
    )
    processor_poll_seconds: float = Field(default=0.2, gt=0, description="Pause of the processor when idle.")
    processor_max_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts at processing one stored request before it is marked failed; replay starts again.",
    )
    default_phone_region: str = Field(
        default="RU",
        min_length=2,
        max_length=2,
        description="ISO country whose national format (such as a leading 8 in Russia) phones without + are read in.",
    )
    duplicate_window_seconds: float = Field(
        default=600,
        ge=0,
        description="An identical body posted to the same endpoint within this time is a double submit.",
    )
    webhook_timestamp_tolerance_seconds: float = Field(
        default=300,
        gt=0,
        description="Largest age of a signed webhook timestamp (Webflow) before it is taken as a replay attack.",
    )
    maildir_poll_seconds: float = Field(default=5.0, gt=0, description="Pause between looks into polled mailboxes.")
    maildir_root: Path | None = Field(
        default=None,
        description="Folder that polled Maildir paths of e-mail channels must lie under; unset allows any path.",
    )

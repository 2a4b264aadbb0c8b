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

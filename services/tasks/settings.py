from urllib.parse import urlsplit

from pydantic import Field, field_validator

from servicekit.settings import ServiceSettings


class TasksSettings(ServiceSettings):
    """Settings of the tasks service."""

    service_name: str = "tasks"
    http_port: int = 8002
    staff_page_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8001", "http://localhost:8001"],
        description=(
            "Origins (scheme, host and port, as a JSON list) of the staff pages that may call this API from a "
            "browser with a bearer token. The defaults are CRM's development addresses; an empty list turns "
            "cross-origin calls off."
        ),
    )

    @field_validator("staff_page_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin; use scheme://host[:port] without a path")
        return origins

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from servicekit.settings import ServiceSettings
from services.crm.access import DEFAULT_ROLES, RoleRights, validate_roles


class CrmSettings(ServiceSettings):
    """Settings of the CRM service."""

    service_name: str = "crm"
    http_port: int = 8001
    default_pipeline_key: str = Field(default="sales", description="Pipeline of deals whose request names none.")
    inquiry_department: str | None = Field(
        default="sales",
        max_length=255,
        description=(
            "Department of deals made from intake requests whose routing names none, so that its members "
            "may read them under the default roles. Empty leaves such deals without a department."
        ),
    )
    access_roles: dict[str, RoleRights] = Field(
        default_factory=lambda: DEFAULT_ROLES,
        description=(
            "Rights per role as JSON: role to entity type (or deal:<pipeline key>) to action "
            "(read, create, update, delete) to level (none, own, department, all). Every user has the "
            "base role; admin may do everything."
        ),
    )
    base_role: str = Field(default="employee", description="Role that every staff user has besides their own.")
    marker_refresh_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between recomputations of the time-based deal markers."
    )

    board_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between board stream reads when no change woke it (changes by other processes on SQLite).",
    )
    board_coalesce_seconds: float = Field(
        default=0.2, ge=0, description="Seconds a board stream collects a burst of changes before it sends one update."
    )
    board_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeat comments on an idle board stream."
    )
    board_log_retention_hours: float = Field(
        default=24.0, gt=0, description="Hours the board change log keeps a change; older resumes get a snapshot."
    )
    board_prune_seconds: float = Field(
        default=3600.0, gt=0, description="Seconds between deletions of board changes older than the retention."
    )

    tasks_public_url: str = Field(
        default="http://127.0.0.1:8002",
        description=(
            "Address of the tasks service as browsers reach it; staff pages create tasks there, and the pages' "
            "Content-Security-Policy allows connections to its origin."
        ),
    )

    @field_validator("tasks_public_url")
    @classmethod
    def _check_tasks_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) address such as http://127.0.0.1:8002")
        return url.rstrip("/")

    @field_validator("inquiry_department")
    @classmethod
    def _empty_department_is_none(cls, department: str | None) -> str | None:
        return department.strip() or None if department is not None else None

    @field_validator("access_roles")
    @classmethod
    def _check_roles(cls, roles: dict[str, RoleRights]) -> dict[str, RoleRights]:
        validate_roles(roles)
        return roles

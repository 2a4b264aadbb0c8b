from pydantic import Field

from servicekit.settings import ServiceSettings


class CrmSettings(ServiceSettings):
    """Settings of the CRM service."""

    service_name: str = "crm"
    http_port: int = 8001
    default_pipeline_key: str = Field(default="sales", description="Pipeline of deals whose request names none.")

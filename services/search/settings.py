from pydantic import Field

from servicekit.settings import ServiceSettings


class SearchSettings(ServiceSettings):
    """Settings of the search service."""

    service_name: str = "search"
    http_port: int = 8005
    opensearch_url: str = Field(default="http://127.0.0.1:19200")
    index_prefix: str = Field(default="", description="Prefix of every index and alias name.")
    refresh_on_write: bool = Field(
        default=False,
        description="Refresh the index after each write, so a test sees it at once; not for load.",
    )

from servicekit.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    """Settings of the documents service."""

    service_name: str = "documents"
    http_port: int = 8003

from servicekit.settings import ServiceSettings


class ExtranetSettings(ServiceSettings):
    """Settings of the extranet service."""

    service_name: str = "extranet"
    http_port: int = 8006

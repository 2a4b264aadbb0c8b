from servicekit.settings import ServiceSettings


class TasksSettings(ServiceSettings):
    """Settings of the tasks service."""

    service_name: str = "tasks"
    http_port: int = 8002

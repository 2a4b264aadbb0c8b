"""The six services; each starts with ``clientwork run NAME``."""

SERVICE_NAMES = ("crm", "tasks", "documents", "intake", "search", "extranet")

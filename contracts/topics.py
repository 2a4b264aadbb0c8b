"""Topic names: ``<service>.<aggregate plural>``, keyed by aggregate id."""

from enum import StrEnum

DEAD_LETTER_SUFFIX = ".dlq"


class Topic(StrEnum):
    """Every topic of the public contract."""

    CRM_COMPANIES = "crm.companies"
    CRM_CONTACTS = "crm.contacts"
    CRM_LEGAL_ENTITIES = "crm.legal_entities"
    CRM_PIPELINES = "crm.pipelines"
    CRM_PROJECTS = "crm.projects"
    CRM_DEALS = "crm.deals"
    TASKS_TASKS = "tasks.tasks"
    DOCUMENTS_DOCUMENTS = "documents.documents"
    DOCUMENTS_FILES = "documents.files"
    INTAKE_REQUESTS = "intake.requests"
    EXTRANET_ACCESS = "extranet.access"


def dead_letter_topic(topic: str) -> str:
    """Return the dead-letter topic of ``topic``."""
    return topic + DEAD_LETTER_SUFFIX

"""Demo step: the client company, its legal entity, one of our own and a deal, reused by later runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servicekit.demo.api import Api, find_by

COMPANY_NAME = "ООО «Демо Клиент»"
CLIENT_LEGAL_NAME = "ООО «Демо Клиент»"
OUR_LEGAL_NAME = "Clientwork Agency LLC"
DEAL_TITLE = "Website relaunch for Демо Клиент 🚀"


@dataclass
class Client:
    """The demo client's records in CRM and which of them existed before this run."""

    company: dict[str, Any]
    client_entity: dict[str, Any]
    our_entity: dict[str, Any]
    deal: dict[str, Any]
    existed: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def note(self, label: str, existed: bool) -> None:
        (self.existed if existed else self.created).append(label)


def ensure_client(api: Api) -> Client:
    """Find the demo client's records in CRM, creating the missing ones."""
    notes: list[tuple[str, bool]] = []
    company, existed = _find_or_create(
        api, "/companies", {}, {"name": COMPANY_NAME}, {"email_domains": ["demo-client.example"]}
    )
    notes.append(("company", existed))
    entity_filter = {"company_id": company["id"]}
    client_entity, existed = _find_or_create(
        api, "/legal-entities", entity_filter, {"legal_name": CLIENT_LEGAL_NAME, **entity_filter}
    )
    notes.append(("client legal entity", existed))
    our_entity, existed = _find_or_create(
        api, "/legal-entities", {"is_own": "true"}, {"legal_name": OUR_LEGAL_NAME, "is_own": True}
    )
    notes.append(("our legal entity", existed))
    links = {"client_legal_entity_id": client_entity["id"], "our_legal_entity_id": our_entity["id"]}
    deal, existed = _find_or_create(api, "/deals", entity_filter, {"title": DEAL_TITLE, **entity_filter}, links)
    notes.append(("deal", existed))

    client = Client(company, client_entity, our_entity, deal)
    for label, was_there in notes:
        client.note(label, was_there)
    return client


def _find_or_create(
    api: Api, path: str, params: dict[str, str], identity: dict[str, Any], extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], bool]:
    """Return the record at ``path`` with the ``identity`` fields, creating it with ``extra`` when missing."""
    existing = find_by(api.get("crm", path, params=params)["items"], **identity)
    if existing is not None:
        return existing, True
    created: dict[str, Any] = api.post("crm", path, {**identity, **(extra or {})})
    return created, False

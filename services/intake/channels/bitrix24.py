"""Bitrix24 outbound webhooks, for teams moving over: PHP-style nested keys and an application token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.intake.channels.base import Incoming, Inquiry, NotInquiry, Parsed, Source, Stored, same
from services.intake.errors import SenderNotVerified, UnparseableRequest
from services.intake.parsing import php_nested, urlencoded_pairs

#: Events that announce a new inquiry; the rest (updates, deletions) are not inquiries.
INQUIRY_EVENTS = {"ONCRMLEADADD": "lead", "ONCRMDEALADD": "deal"}


def _nested(body: bytes) -> dict[str, Any]:
    try:
        return php_nested(urlencoded_pairs(body))
    except UnparseableRequest:
        return {}


def _branch(tree: dict[str, Any], key: str) -> dict[str, Any]:
    value = tree.get(key)
    return value if isinstance(value, dict) else {}


class Bitrix24Adapter:
    """Outbound webhook of a Bitrix24 portal; ``auth[application_token]`` identifies the portal's handler."""

    kind = "bitrix24"
    source: Source = "import"

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        token = _branch(_nested(incoming.body), "auth").get("application_token")
        if not isinstance(token, str):
            raise SenderNotVerified("missing auth[application_token] in the Bitrix24 webhook body")
        if not same(token, secret):
            raise SenderNotVerified("auth[application_token] does not match the channel's application token")

    def parse(self, stored: Stored) -> Parsed:
        data = _nested(stored.body)
        event = str(data.get("event") or "").upper()
        if not event:
            raise UnparseableRequest("Bitrix24 webhook has no event")
        domain = str(_branch(data, "auth").get("domain") or "")
        entity_id = str(_branch(_branch(data, "data"), "FIELDS").get("ID") or "")
        delivery_id = f"{domain}:{event}:{entity_id}" if entity_id else None
        entity = INQUIRY_EVENTS.get(event)
        if entity is None:
            return NotInquiry("not_an_inquiry", f"Bitrix24 event {event} does not announce a new inquiry", delivery_id)
        if not entity_id:
            raise UnparseableRequest(f"Bitrix24 {event} has no data[FIELDS][ID]")
        # NOTE: the webhook names only the id; reading the lead's fields needs the portal's REST
        # access (crm.lead.get), which a channel does not have yet, so the deal starts from the id.
        fields = {"bitrix24.portal": domain, f"bitrix24.{entity}_id": entity_id, "bitrix24.event": event}
        return Inquiry(
            fields=fields,
            subject=f"Bitrix24 {entity} {entity_id}" + (f" ({domain})" if domain else ""),
            delivery_id=delivery_id,
        )

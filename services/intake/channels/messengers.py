"""Messengers: Telegram bot updates and WhatsApp Cloud API notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.intake.channels.base import (
    Incoming,
    Inquiry,
    NotInquiry,
    Parsed,
    Source,
    Stored,
    hmac_sha256,
    require_signature,
    same,
)
from services.intake.errors import SenderNotVerified, UnparseableRequest
from services.intake.parsing import parse_json_object

TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name, not a secret

# Telegram updates that carry no message from a person to the bot.
_TELEGRAM_MESSAGE_KEYS = ("message", "business_message")


class TelegramAdapter:
    """Telegram's webhook: one update per request, authenticated only by the secret token header."""

    kind = "telegram"
    source: Source = "channel"

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        given = incoming.headers.get(TELEGRAM_SECRET_HEADER)
        if given is None:
            raise SenderNotVerified("missing X-Telegram-Bot-Api-Secret-Token header (set secret_token in setWebhook)")
        if not same(given, secret):
            raise SenderNotVerified("X-Telegram-Bot-Api-Secret-Token does not match the channel's secret")

    def parse(self, stored: Stored) -> Parsed:
        update = parse_json_object(stored.body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            raise UnparseableRequest("Telegram update has no update_id")
        delivery_id = str(update_id)
        message = next((update[key] for key in _TELEGRAM_MESSAGE_KEYS if isinstance(update.get(key), dict)), None)
        if message is None:
            kinds = ", ".join(sorted(key for key in update if key != "update_id")) or "nothing"
            return NotInquiry("not_an_inquiry", f"Telegram update carries {kinds}, not a new message", delivery_id)

        sender = message.get("from") or {}
        chat = message.get("chat") or {}
        if sender.get("is_bot"):
            return NotInquiry("not_an_inquiry", "message from a bot", delivery_id)
        if chat.get("type") not in (None, "private"):
            return NotInquiry("not_an_inquiry", f"message in a {chat.get('type')} chat, not to the bot", delivery_id)

        return _telegram_inquiry(message, sender, chat, delivery_id)


def _telegram_inquiry(
    message: dict[str, Any], sender: dict[str, Any], chat: dict[str, Any], delivery_id: str
) -> Parsed:
    name = " ".join(part for part in (sender.get("first_name"), sender.get("last_name")) if part) or None
    fields = {"telegram.chat_id": str(chat.get("id", "")), "telegram.user_id": str(sender.get("id", ""))}
    if sender.get("username"):
        fields["telegram.username"] = "@" + str(sender["username"])
    contact = message.get("contact")
    if isinstance(contact, dict):
        # A contact card is an inquiry only when users share their own number (the "share my
        # phone" button); a card forwarded on someone else's behalf has another or no user_id.
        if contact.get("user_id") is None or contact.get("user_id") != sender.get("id"):
            return NotInquiry("forwarded_contact", "a contact card shared on someone else's behalf", delivery_id)
        return Inquiry(
            fields=fields,
            name=name,
            phone=str(contact.get("phone_number") or "") or None,
            phone_is_international=True,
            message="Shared their phone number",
            delivery_id=delivery_id,
        )
    text = message.get("text") or message.get("caption")
    if not text:
        return NotInquiry("not_an_inquiry", "message without text or contact", delivery_id)
    return Inquiry(fields=fields, name=name, message=str(text), delivery_id=delivery_id)


class WhatsAppAdapter:
    """WhatsApp Cloud API: a GET handshake, then notifications signed with ``X-Hub-Signature-256``."""

    kind = "whatsapp"
    source: Source = "channel"

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        # Meta signs the raw bytes, \\uXXXX escapes included, so the body is never re-serialized.
        require_signature(
            incoming.headers.get("x-hub-signature-256"),
            hmac_sha256(secret, incoming.body),
            header="X-Hub-Signature-256",
            encoding="hex",
        )

    def parse(self, stored: Stored) -> Parsed:
        data = parse_json_object(stored.body)
        if data.get("object") != "whatsapp_business_account":
            return NotInquiry("not_an_inquiry", f"notification for {data.get('object')!r}, not WhatsApp")
        values = [
            change.get("value") or {}
            for entry in data.get("entry") or []
            for change in (entry.get("changes") or [])
            if isinstance(change, dict) and change.get("field") == "messages"
        ]
        messages = [message for value in values for message in value.get("messages") or []]
        if not messages:
            statuses = [status.get("status") for value in values for status in value.get("statuses") or []]
            if statuses:
                return NotInquiry("receipt", "delivery or read receipt: " + ", ".join(map(str, statuses)))
            return NotInquiry("not_an_inquiry", "notification without messages")

        # NOTE: Meta batches at most a few messages of one sender; they become one inquiry together.
        first = messages[0]
        sender = str(first.get("from") or "")
        own = [message for message in messages if message.get("from") == sender]
        if all(message.get("type") == "contacts" for message in own):
            return NotInquiry("forwarded_contact", "a contact card shared on someone else's behalf", first.get("id"))
        texts = [_whatsapp_text(message) for message in own]
        profiles = {
            str(contact.get("wa_id")): (contact.get("profile") or {}).get("name")
            for value in values
            for contact in value.get("contacts") or []
        }
        return Inquiry(
            fields={"whatsapp.wa_id": sender, "whatsapp.message_ids": ", ".join(str(m.get("id")) for m in own)},
            name=profiles.get(sender),
            phone=sender or None,
            phone_is_international=True,
            message="\n".join(text for text in texts if text) or None,
            delivery_id=str(first.get("id") or "") or None,
        )


def _whatsapp_text(message: dict[str, Any]) -> str:
    kind = message.get("type")
    body = message.get(kind) if isinstance(kind, str) else None
    if kind == "text" and isinstance(body, dict):
        return str(body.get("body") or "")
    if kind == "button" and isinstance(body, dict):
        return str(body.get("text") or "")
    if kind == "interactive" and isinstance(body, dict):
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return str(reply.get("title") or "")
    if isinstance(body, dict) and body.get("caption"):
        return str(body["caption"])
    return f"[{kind}]"


def whatsapp_handshake(query: Mapping[str, str], verify_token: str | None) -> str | None:
    """Return the challenge to echo when the GET handshake names the channel's verify token, else None."""
    if verify_token is None or query.get("hub.mode") != "subscribe":
        return None
    if not same(query.get("hub.verify_token"), verify_token):
        return None
    return query.get("hub.challenge", "")

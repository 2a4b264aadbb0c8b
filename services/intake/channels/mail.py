"""E-mail: a raw RFC 822 message, uploaded or taken from a polled Maildir."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

from contracts.intake import InquiryAttachment
from services.intake.channels.base import Inquiry, NotInquiry, Parsed, Source, Stored, TokenVerified
from services.intake.errors import UnparseableRequest

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_HTML_TAG = re.compile(r"<[^>]+>")


class EmailAdapter(TokenVerified):
    """Reads the sender, subject, text and attachments of a message; replies name what they answer."""

    kind = "email"
    source: Source = "email"

    def parse(self, stored: Stored) -> Parsed:
        try:
            message = BytesParser(policy=policy.default).parsebytes(stored.body)
        except Exception as exc:  # the parser raises many kinds on broken input
            raise UnparseableRequest(f"not an RFC 822 message: {exc}") from exc
        if not isinstance(message, EmailMessage) or not message.keys():
            raise UnparseableRequest("not an RFC 822 message: no headers")

        message_id = str(message.get("message-id") or "").strip() or None
        if _is_automatic(message):
            return NotInquiry("receipt", "automatic message (delivery report, auto-reply)", message_id)
        senders = getaddresses([str(message.get("reply-to") or message.get("from") or "")])
        name, address = senders[0] if senders else ("", "")
        if not address:
            raise UnparseableRequest("message has no From address")

        subject = str(message.get("subject") or "").strip() or None
        fields = {"email.from": address}
        if subject:
            fields["email.subject"] = subject
        if message.get("cc"):
            fields["email.cc"] = ", ".join(addr for _name, addr in getaddresses([str(message["cc"])]) if addr)
        references = _MESSAGE_ID.findall(str(message.get("references") or ""))
        references += _MESSAGE_ID.findall(str(message.get("in-reply-to") or ""))
        return Inquiry(
            fields=fields,
            name=name or None,
            email=address,
            subject=subject,
            message=_text(message),
            delivery_id=message_id,
            attachments=_attachments(message),
            references=references,
        )


def _is_automatic(message: EmailMessage) -> bool:
    auto = str(message.get("auto-submitted") or "no").strip().lower()
    return auto != "no" or message.get_content_type() == "multipart/report"


def _text(message: EmailMessage) -> str | None:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return None
    try:
        content = body.get_content()
    except (LookupError, UnicodeDecodeError):
        payload = body.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return None
    if body.get_content_type() == "text/html":
        content = _HTML_TAG.sub(" ", content).replace("&nbsp;", " ")
    return content.replace("\r\n", "\n").strip() or None


def _attachments(message: EmailMessage) -> list[InquiryAttachment]:
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        found.append(
            InquiryAttachment(
                # The policy decodes RFC 2231 names and the encoded words that many mailers use instead.
                name=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    return found

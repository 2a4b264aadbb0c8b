"""What every channel adapter is: how it checks its sender, and how it reads a stored body."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from contracts.intake import InquiryAttachment
from services.intake.errors import SenderNotVerified

Source = Literal["form", "channel", "email", "import"]

#: Query parameter and header that carry a channel's secret token for senders that cannot sign.
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "x-intake-token"  # noqa: S105 - a header name, not a secret


@dataclass(frozen=True)
class Incoming:
    """A request as it arrived, for verification: lower-case header names, query parameters, raw body."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    now: float


@dataclass(frozen=True)
class Stored:
    """A stored request, as adapters read it."""

    content_type: str
    body: bytes
    headers: Mapping[str, str]


@dataclass
class Inquiry:
    """An inquiry read from a request, before normalization and routing."""

    fields: dict[str, str]
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    company_name: str | None = None
    message: str | None = None
    subject: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    delivery_id: str | None = None
    attachments: list[InquiryAttachment] = field(default_factory=list)
    #: Message ids this one answers (e-mail In-Reply-To and References), newest last.
    references: list[str] = field(default_factory=list)
    #: The phone in ``phone`` is international even without a leading + (Telegram, WhatsApp).
    phone_is_international: bool = False


@dataclass(frozen=True)
class NotInquiry:
    """A delivery that is not an inquiry (a ping, a receipt, a forwarded contact) and why."""

    reason: str
    detail: str
    delivery_id: str | None = None


Parsed = Inquiry | NotInquiry


class ChannelAdapter(Protocol):
    """Reads one sender's format."""

    kind: str
    source: Source

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        """Raise SenderNotVerified unless the request carries the channel's signature or token."""

    def parse(self, stored: Stored) -> Parsed:
        """Read a stored body; raise UnparseableRequest when it is not what it claims to be."""


def same(given: str | None, expected: str) -> bool:
    """Compare a credential in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def require_token(incoming: Incoming, secret: str) -> None:
    """Check the channel's secret token, sent as ``?token=`` in the webhook URL or an X-Intake-Token header."""
    given = incoming.headers.get(TOKEN_HEADER) or incoming.query.get(TOKEN_PARAM)
    if given is None:
        raise SenderNotVerified(
            f"missing token: add ?{TOKEN_PARAM}=<channel secret> to the webhook URL or send X-Intake-Token"
        )
    if not same(given, secret):
        raise SenderNotVerified("token does not match the channel's secret")


def require_signature(given: str | None, expected: bytes, *, header: str, encoding: Literal["hex", "base64"]) -> None:
    """Check a ``sha256=``-prefixed HMAC signature header against the expected digest."""
    if not given:
        raise SenderNotVerified(f"missing {header} header: the channel requires a signed body")
    value = given.strip()
    if value.lower().startswith("sha256="):
        value = value[len("sha256=") :]
    wanted = expected.hex() if encoding == "hex" else base64.b64encode(expected).decode("ascii")
    if not same(value, wanted):
        raise SenderNotVerified(f"{header} does not match the body: it was changed or signed with another secret")


class TokenVerified:
    """Mixin for senders that cannot sign: the secret token comes in the URL or a header."""

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        require_token(incoming, secret)

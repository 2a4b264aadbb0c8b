"""Channel adapters by kind: each checks its sender and reads its format."""

from __future__ import annotations

from services.intake.channels.base import ChannelAdapter
from services.intake.channels.bitrix24 import Bitrix24Adapter
from services.intake.channels.forms import (
    GenericFormAdapter,
    GoogleFormsAdapter,
    JotformAdapter,
    TildaAdapter,
    WebflowAdapter,
)
from services.intake.channels.mail import EmailAdapter
from services.intake.channels.messengers import TelegramAdapter, WhatsAppAdapter
from services.intake.channels.typeform import TypeformAdapter

ADAPTERS: dict[str, ChannelAdapter] = {
    adapter.kind: adapter
    for adapter in (
        TypeformAdapter(),
        TildaAdapter(),
        GoogleFormsAdapter(),
        JotformAdapter(),
        WebflowAdapter(),
        TelegramAdapter(),
        WhatsAppAdapter(),
        EmailAdapter(),
        Bitrix24Adapter(),
    )
}

#: Kinds a channel connection can have; ``form`` is the generic endpoint and has no connection.
CHANNEL_KINDS = tuple(sorted(ADAPTERS))

__all__ = ["ADAPTERS", "CHANNEL_KINDS", "ChannelAdapter", "GenericFormAdapter"]

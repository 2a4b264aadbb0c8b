"""Intake's samples for tests, their channels, and an in-process intake against real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from servicekit.auth import issue_token
from servicekit.migrations import migrate
from servicekit.service import ServiceRuntime
from services.intake.bootstrap import MIGRATIONS, create_app
from services.intake.samples import (
    BITRIX_TOKEN,
    CHANNELS,
    DEFAULT_SAMPLES_DIR,
    DEMO_FORM,
    TELEGRAM_SECRET,
    TYPEFORM_SECRET,
    URL_TOKEN,
    WEBFLOW_SECRET,
    WHATSAPP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
    Sample,
    jotform_body,
    load_samples,
    webflow_body,
    whatsapp_signature,
)
from services.intake.settings import IntakeSettings

__all__ = [
    "BITRIX_TOKEN",
    "CHANNELS",
    "DEMO_FORM",
    "JWT_KEY",
    "TELEGRAM_SECRET",
    "TYPEFORM_SECRET",
    "URL_TOKEN",
    "WEBFLOW_SECRET",
    "WHATSAPP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "Intake",
    "Sample",
    "bearer",
    "configure",
    "in_process_intake",
    "jotform_body",
    "samples",
    "telegram_forwarded_contact",
    "webflow_body",
    "whatsapp_read_receipt",
    "whatsapp_signature",
]

JWT_KEY = "intake-test-signing-key-of-32-bytes-or-more"
SAMPLES = DEFAULT_SAMPLES_DIR


def require_samples() -> None:
    """Skip the calling test when the shared sample folder is not beside the repository."""
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared intake samples are not at {SAMPLES}; they ship beside the repository in ../shared")


def samples() -> dict[str, Sample]:
    """Every sample file with the path and headers it is posted with."""
    require_samples()
    return load_samples(SAMPLES)


def telegram_forwarded_contact() -> bytes:
    """The own-contact sample turned into a card forwarded on someone else's behalf."""
    require_samples()
    update = json.loads((SAMPLES / "RI-05_telegram_update_contact_own.json").read_bytes())
    update["update_id"] = 900000003
    update["message"]["contact"] = {"phone_number": "+15550100", "first_name": "Someone", "user_id": 7000000099}
    return json.dumps(update, ensure_ascii=False).encode()


def whatsapp_read_receipt() -> bytes:
    """A WhatsApp status notification: the business's message was read."""
    status = {"id": "wamid.FAKE0000000000000000000000000002", "status": "read", "recipient_id": "79990000008"}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "110000000000001"}, "statuses": [status]}
    entry = {"id": "100000000000001", "changes": [{"value": value, "field": "messages"}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def bearer(user: str = "u-admin", roles: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(JWT_KEY, user, roles=list(roles))}


async def configure(client: httpx.AsyncClient, base: str = "") -> None:
    """Create the demo form and every sample's channel through the staff API."""
    admin = bearer()
    answer = await client.put(f"{base}/staff/forms/demo-requests", json=DEMO_FORM, headers=admin)
    assert answer.status_code == 200, answer.text
    for key, channel in CHANNELS.items():
        answer = await client.put(f"{base}/staff/channels/{key}", json=channel, headers=admin)
        assert answer.status_code == 200, answer.text


@dataclass
class Intake:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: IntakeSettings


async def in_process_intake(database_url: str, topic_prefix: str, **overrides: Any) -> AsyncIterator[Intake]:
    """Intake's HTTP app in this process on a fresh database, its processor driven by the test.

    Kafka is unreachable on purpose: storing and answering never need it.
    """
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:9",
        kafka_topic_prefix=topic_prefix,
        jwt_secret_key=JWT_KEY,
        environment="test",
        **overrides,
    )
    app = create_app(settings)
    runtime: ServiceRuntime = app.state.runtime
    await migrate(runtime.engine, MIGRATIONS)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield Intake(client, runtime, settings)
    await runtime.engine.dispose()

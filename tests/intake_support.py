"""Intake's samples (shared/samples/intake), their channels, and an in-process intake against real PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.auth import issue_token
from servicekit.migrations import migrate
from servicekit.service import ServiceRuntime
from services.intake.bootstrap import MIGRATIONS, create_app
from services.intake.settings import IntakeSettings

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "intake"
JWT_KEY = "intake-test-signing-key-of-32-bytes-or-more"

# The fake secrets that the samples' header files and README name.
TYPEFORM_SECRET = "FAKE-typeform-secret-do-not-use"
TELEGRAM_SECRET = "FAKE_tg_secret_token_123"
WHATSAPP_SECRET = "FAKE-meta-app-secret"
BITRIX_TOKEN = "FAKEapplicationtoken000000000001"
URL_TOKEN = "FAKE-url-token-for-tests"
WHATSAPP_VERIFY_TOKEN = "FAKE-verify-token"

#: Channel connections the samples arrive at, by channel key.
CHANNELS: dict[str, dict[str, Any]] = {
    "typeform": {"kind": "typeform", "secret": TYPEFORM_SECRET, "form_key": "demo-requests"},
    "tilda": {"kind": "tilda", "secret": URL_TOKEN},
    "google-forms": {"kind": "google_forms", "secret": URL_TOKEN},
    "telegram": {"kind": "telegram", "secret": TELEGRAM_SECRET},
    "whatsapp": {"kind": "whatsapp", "secret": WHATSAPP_SECRET, "verify_token": WHATSAPP_VERIFY_TOKEN},
    "email": {"kind": "email", "secret": URL_TOKEN},
    "bitrix24": {"kind": "bitrix24", "secret": BITRIX_TOKEN},
}

#: A form for Typeform's demo requests: its hidden "pipeline" field routes B2B inquiries.
DEMO_FORM: dict[str, Any] = {
    "title": "Demo requests",
    "pipeline_key": "sales",
    "owner": {"mode": "round_robin", "group": ["u-anna", "u-boris"]},
    "rules": [
        {
            "name": "b2b by hidden field",
            "when": [{"on": "field", "key": "hidden.pipeline", "op": "equals", "value": "b2b"}],
            "pipeline_key": "b2b",
            "stage_key": "Qualification",
        }
    ],
}


@dataclass(frozen=True)
class Sample:
    """One sample file and how it is posted: path, content type and headers."""

    file: str
    path: str
    content_type: str
    headers: dict[str, str]

    @property
    def body(self) -> bytes:
        return (SAMPLES / self.file).read_bytes()


def header_file(name: str) -> tuple[str, dict[str, str]]:
    """Read a sample's header file: the request path and the headers (comments left out)."""
    lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
    path = lines[0].split()[1]
    headers = {}
    for line in lines[1:]:
        if not line.strip():
            break
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return path, headers


def require_samples() -> None:
    """Skip the calling test when the shared sample folder is not beside the repository."""
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared intake samples are not at {SAMPLES}; they ship beside the repository in ../shared")


def samples() -> dict[str, Sample]:
    """Every sample file with the path and headers it is posted with."""
    require_samples()
    typeform_path, typeform_headers = header_file("RI-01_typeform_headers.txt")
    telegram_path, telegram_headers = header_file("RI-05_telegram_headers.txt")
    whatsapp_path, whatsapp_headers = header_file("RI-05_whatsapp_headers.txt")
    form = "application/x-www-form-urlencoded"
    token = f"?token={URL_TOKEN}"
    return {
        "RI-01": Sample("RI-01_typeform_form_response.json", typeform_path, "application/json", typeform_headers),
        "RI-02": Sample("RI-02_tilda_submission.urlencoded", "/intake/tilda" + token, form, {}),
        "RI-02-ping": Sample("RI-02_tilda_test_ping.urlencoded", "/intake/tilda" + token, form, {}),
        "RI-03": Sample("RI-03_google_forms_formapp.json", "/intake/google-forms" + token, "application/json", {}),
        "RI-05-text": Sample("RI-05_telegram_update_text.json", telegram_path, "application/json", telegram_headers),
        "RI-05-contact": Sample(
            "RI-05_telegram_update_contact_own.json", telegram_path, "application/json", telegram_headers
        ),
        "RI-05-whatsapp": Sample(
            "RI-05_whatsapp_text_message.json", whatsapp_path, "application/json", whatsapp_headers
        ),
        "RI-06": Sample("RI-06_email_multipart_cyrillic.eml", "/intake/email" + token, "message/rfc822", {}),
        "RI-07": Sample("RI-07_bitrix24_ONCRMLEADADD.urlencoded", "/intake/bitrix24", form, {}),
        "RI-08": Sample("RI-08_html_form_utf8.urlencoded", "/forms/website-contact", form, {}),
    }


WEBFLOW_SECRET = "FAKE-webflow-secret"


def jotform_body(boundary: str = "FAKEboundary0001") -> tuple[str, bytes]:
    """A Jotform webhook: multipart with the answers as JSON in rawRequest, as Jotform posts it."""
    raw_request = {
        "slug": "submit/240000000000001",
        "q3_name": {"first": "Тест", "last": "Джотформов"},
        "q4_email": "Jot.Test@Example.com",
        "q5_phoneNumber": {"full": "+1 555 0105"},
        "q6_message": "Need a quote",
        "event_id": "1700000000000_240000000000001_FAKE",
    }
    fields = {
        "action": "",
        "formID": "240000000000001",
        "type": "WEB",
        "formTitle": "Contact (Jotform)",
        "submissionID": "5900000000000000001",
        "rawRequest": json.dumps(raw_request, ensure_ascii=False),
        "pretty": "Name:Тест Джотформов, E-mail:Jot.Test@Example.com",
        "ip": "192.0.2.10",
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8")
    return f"multipart/form-data; boundary={boundary}", body


def webflow_body() -> bytes:
    payload = {
        "name": "Contact Us",
        "siteId": "65427cf400e02b306eafake",
        "data": {"First Name": "Webflow", "Last Name": "Tester", "email": "wf.test@example.org", "Phone": 15550107},
        "submittedAt": "2025-03-03T10:00:00.000Z",
        "id": "6321ca84df3949bfc67fake",
        "formId": "65429eadebe8a9f3a30fake",
    }
    return json.dumps({"triggerType": "form_submission", "payload": payload}).encode()


def whatsapp_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(WHATSAPP_SECRET.encode(), body, hashlib.sha256).hexdigest()


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

"""Vendor payloads for intake: the sample folder's files, how each vendor posts them, and what each becomes.

The demo replays these through intake's public endpoints and the tests check the same outcomes, so the
endpoint, content type, channel secret and expected outcome of each sample live here once. The sample
folder ships beside the repository (``../shared/samples/intake`` from the repository root).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "samples" / "intake"

# The fake secrets that the samples' header files and README name.
TYPEFORM_SECRET = "FAKE-typeform-secret-do-not-use"
TELEGRAM_SECRET = "FAKE_tg_secret_token_123"
WHATSAPP_SECRET = "FAKE-meta-app-secret"
BITRIX_TOKEN = "FAKEapplicationtoken000000000001"
URL_TOKEN = "FAKE-url-token-for-tests"
WHATSAPP_VERIFY_TOKEN = "FAKE-verify-token"
WEBFLOW_SECRET = "FAKE-webflow-secret"

#: Channel connections the samples arrive at, by channel key. Bitrix24 sends its token inside the body,
#: so that channel's secret must equal the sample's token.
CHANNELS: dict[str, dict[str, Any]] = {
    "typeform": {"kind": "typeform", "secret": TYPEFORM_SECRET, "form_key": "demo-requests"},
    "tilda": {"kind": "tilda", "secret": URL_TOKEN},
    "google-forms": {"kind": "google_forms", "secret": URL_TOKEN},
    "telegram": {"kind": "telegram", "secret": TELEGRAM_SECRET},
    "whatsapp": {"kind": "whatsapp", "secret": WHATSAPP_SECRET, "verify_token": WHATSAPP_VERIFY_TOKEN},
    "email": {"kind": "email", "secret": URL_TOKEN},
    "bitrix24": {"kind": "bitrix24", "secret": BITRIX_TOKEN},
}

#: Channels for the payloads that this module builds itself (no sample file exists for them).
BUILT_CHANNELS: dict[str, dict[str, Any]] = {
    "jotform": {"kind": "jotform", "secret": URL_TOKEN},
    "webflow": {"kind": "webflow", "secret": WEBFLOW_SECRET},
}

#: A form for Typeform's demo requests: its hidden "pipeline" field routes B2B inquiries.
DEMO_FORM: dict[str, Any] = {
    "title": "Demo requests",
    "pipeline_key": "sales",
    "department": "sales",
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

#: Expected outcome of each sample: status, reason and the normalized contact (for accepted ones).
EXPECTED: dict[str, dict[str, Any]] = {
    "RI-01": {
        "status": "accepted",
        "contact": {
            "name": "Тестов Тест Тестович",
            "phone": "+79990000001",
            "email": "lead.test+typeform@example.com",
            "email_as_entered": "Lead.Test+typeform@Example.COM",
        },
        "routing": {"pipeline_key": "b2b", "stage_key": "Qualification", "owner_id": "u-anna", "department": "sales"},
    },
    "RI-02": {
        "status": "accepted",
        "contact": {"name": "Иванова Тестовая", "phone": "+79990000002", "email": "test.tilda@example.com"},
    },
    "RI-02-ping": {"status": "ignored", "reason": "ping"},
    "RI-03": {
        "status": "accepted",
        "contact": {"name": "Тест Гуглов", "phone": "+79990000004", "email": "g.o.o.g.l.e.test@gmail.com"},
    },
    "RI-05-text": {"status": "accepted", "contact": {"name": "Тест Телеграмов", "phone": "+79990000006"}},
    "RI-05-contact": {"status": "accepted", "contact": {"name": "Тест Телеграмов", "phone": "+79990000006"}},
    "RI-05-whatsapp": {"status": "accepted", "contact": {"name": "Тест Ватсапов", "phone": "+79990000008"}},
    "RI-06": {
        "status": "accepted",
        "contact": {"name": "Тестовый Клиент", "phone": "+79990000010", "email": "client.test@example.com"},
        "attachments": ["ТЗ на внедрение.pdf", "контакты.csv"],
    },
    "RI-07": {"status": "accepted", "title_has": "Bitrix24 lead 2211"},
    "RI-08": {
        "status": "accepted",
        "contact": {"name": "Пётр Тестов-Щукин", "phone": "+79990000009", "email": "petr.test@example.com"},
    },
}

FORM_URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Sample:
    """One payload and how its vendor posts it: path, content type, headers and the channel it uses."""

    file: str
    path: str
    content_type: str
    headers: dict[str, str]
    channel: str
    directory: Path = DEFAULT_SAMPLES_DIR
    content: bytes | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        if self.content is not None:
            return self.content
        return (self.directory / self.file).read_bytes()


def header_file(directory: Path, name: str) -> tuple[str, dict[str, str]]:
    """Read a sample's header file: the request path and the headers (comments left out)."""
    lines = (directory / name).read_text(encoding="utf-8").splitlines()
    path = lines[0].split()[1]
    headers = {}
    for line in lines[1:]:
        if not line.strip():
            break
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return path, headers


def load_samples(directory: Path = DEFAULT_SAMPLES_DIR) -> dict[str, Sample]:
    """Return every sample file with the path and headers its vendor posts it with.

    Raises ``FileNotFoundError`` when the folder or one of its files is missing.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"the intake samples folder {directory} does not exist")
    typeform_path, typeform_headers = header_file(directory, "RI-01_typeform_headers.txt")
    telegram_path, telegram_headers = header_file(directory, "RI-05_telegram_headers.txt")
    whatsapp_path, whatsapp_headers = header_file(directory, "RI-05_whatsapp_headers.txt")
    token = f"?token={URL_TOKEN}"
    json_type = "application/json"

    def sample(file: str, path: str, content_type: str, headers: dict[str, str], channel: str) -> Sample:
        return Sample(file, path, content_type, headers, channel, directory)

    return {
        "RI-01": sample("RI-01_typeform_form_response.json", typeform_path, json_type, typeform_headers, "typeform"),
        "RI-02": sample("RI-02_tilda_submission.urlencoded", "/intake/tilda" + token, FORM_URLENCODED, {}, "tilda"),
        "RI-02-ping": sample("RI-02_tilda_test_ping.urlencoded", "/intake/tilda" + token, FORM_URLENCODED, {}, "tilda"),
        "RI-03": sample(
            "RI-03_google_forms_formapp.json", "/intake/google-forms" + token, json_type, {}, "google-forms"
        ),
        "RI-05-text": sample("RI-05_telegram_update_text.json", telegram_path, json_type, telegram_headers, "telegram"),
        "RI-05-contact": sample(
            "RI-05_telegram_update_contact_own.json", telegram_path, json_type, telegram_headers, "telegram"
        ),
        "RI-05-whatsapp": sample(
            "RI-05_whatsapp_text_message.json", whatsapp_path, json_type, whatsapp_headers, "whatsapp"
        ),
        "RI-06": sample("RI-06_email_multipart_cyrillic.eml", "/intake/email" + token, "message/rfc822", {}, "email"),
        "RI-07": sample("RI-07_bitrix24_ONCRMLEADADD.urlencoded", "/intake/bitrix24", FORM_URLENCODED, {}, "bitrix24"),
        "RI-08": sample("RI-08_html_form_utf8.urlencoded", "/forms/website-contact", FORM_URLENCODED, {}, "form"),
    }


def built_payloads() -> dict[str, Sample]:
    """Return the Jotform and Webflow payloads, which no sample file holds, unsigned."""
    jotform_type, jotform = jotform_body()
    return {
        "jotform": Sample(
            "(built) Jotform webhook",
            f"/intake/jotform?token={URL_TOKEN}",
            jotform_type,
            {},
            "jotform",
            content=jotform,
        ),
        "webflow": Sample(
            "(built) Webflow form_submission",
            "/intake/webflow",
            "application/json",
            {},
            "webflow",
            content=webflow_body(),
        ),
    }


def signed_headers(sample: Sample, secrets: dict[str, str]) -> dict[str, str]:
    """Compute the headers a vendor sends with ``sample``, signing with the channel's configured secret."""
    body, secret = sample.body, secrets.get(sample.channel, "")
    headers = {"Content-Type": sample.content_type}
    if sample.channel == "typeform":
        headers["Typeform-Signature"] = typeform_signature(secret, body)
    elif sample.channel == "whatsapp":
        headers["X-Hub-Signature-256"] = whatsapp_signature(body, secret)
    elif sample.channel == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    elif sample.channel == "webflow":
        headers.update(webflow_headers(body, secret))
    return headers


def typeform_signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def whatsapp_signature(body: bytes, secret: str = WHATSAPP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webflow_headers(body: bytes, secret: str, timestamp_ms: int | None = None) -> dict[str, str]:
    """Webflow signs ``<timestamp in ms>:<body>`` with hex HMAC-SHA256; intake accepts 5 minutes of skew."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signature = hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-webflow-timestamp": timestamp, "x-webflow-signature": signature}


def jotform_body(boundary: str = "FAKEboundary0001") -> tuple[str, bytes]:
    """Build a Jotform webhook: multipart with the answers as JSON in rawRequest, as Jotform posts it."""
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

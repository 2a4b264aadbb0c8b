"""Adapters, normalization and routing without I/O, on payloads built in each vendor's documented format."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from services.intake.channels import ADAPTERS, GenericFormAdapter
from services.intake.channels.base import Incoming, Inquiry, NotInquiry, Stored
from services.intake.errors import SenderNotVerified, UnparseableRequest
from services.intake.forms import FormConfig, check_fields, mapped_values
from services.intake.normalize import find_phone, normalize_email, normalize_phone
from services.intake.parsing import parse_body, php_nested, urlencoded_pairs
from services.intake.routing import RoutingContext, route
from tests.intake_support import WEBFLOW_SECRET, jotform_body, webflow_body

pytestmark = pytest.mark.unit


def incoming(body: bytes, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> Incoming:
    return Incoming(headers=headers or {}, query=query or {}, body=body, now=time.time())


def test_jotform_answers_come_from_raw_request() -> None:
    content_type, body = jotform_body()
    parsed = ADAPTERS["jotform"].parse(Stored(content_type, body, {}))
    assert isinstance(parsed, Inquiry)
    assert parsed.delivery_id == "5900000000000000001"
    assert parsed.fields["name"] == "Тест Джотформов"
    assert parsed.fields["phoneNumber"] == "+1 555 0105"
    assert "slug" not in parsed.fields
    assert parsed.subject == "Contact (Jotform)"


def test_jotform_token_rides_in_the_webhook_url() -> None:
    _content_type, body = jotform_body()
    ADAPTERS["jotform"].verify(incoming(body, query={"token": "FAKE-url"}), "FAKE-url", {})
    with pytest.raises(SenderNotVerified, match="missing token"):
        ADAPTERS["jotform"].verify(incoming(body), "FAKE-url", {})


def test_webflow_signature_covers_timestamp_and_body() -> None:
    body = webflow_body()
    timestamp = str(int(time.time() * 1000))
    signature = hmac.new(WEBFLOW_SECRET.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"x-webflow-timestamp": timestamp, "x-webflow-signature": signature}
    ADAPTERS["webflow"].verify(incoming(body, headers), WEBFLOW_SECRET, {})

    with pytest.raises(SenderNotVerified, match="does not match"):
        ADAPTERS["webflow"].verify(incoming(body + b" ", headers), WEBFLOW_SECRET, {})
    stale = str(int((time.time() - 3600) * 1000))
    old_signature = hmac.new(WEBFLOW_SECRET.encode(), f"{stale}:".encode() + body, hashlib.sha256).hexdigest()
    with pytest.raises(SenderNotVerified, match="too far from now"):
        ADAPTERS["webflow"].verify(
            incoming(body, {"x-webflow-timestamp": stale, "x-webflow-signature": old_signature}), WEBFLOW_SECRET, {}
        )


def test_webflow_submission_id_identifies_retries() -> None:
    parsed = ADAPTERS["webflow"].parse(Stored("application/json", webflow_body(), {}))
    assert isinstance(parsed, Inquiry)
    assert parsed.delivery_id == "6321ca84df3949bfc67fake"
    assert parsed.fields["Phone"] == "15550107"
    other = ADAPTERS["webflow"].parse(Stored("application/json", b'{"triggerType": "site_publish", "payload": {}}', {}))
    assert isinstance(other, NotInquiry)


def test_typeform_partial_response_is_not_an_inquiry() -> None:
    body = json.dumps({"event_type": "form_response_partial", "form_response": {"token": "t1", "answers": []}})
    parsed = ADAPTERS["typeform"].parse(Stored("application/json", body.encode(), {}))
    assert isinstance(parsed, NotInquiry)
    assert parsed.reason == "partial"


def test_email_reply_names_what_it_answers() -> None:
    message = (
        b"From: Client <client.test@example.com>\r\nTo: sales@crm.example.test\r\n"
        b"Subject: =?UTF-8?B?UmU6INCX0LDRj9Cy0LrQsA==?=\r\nMessage-ID: <reply-1@mail.example.com>\r\n"
        b"In-Reply-To: <fake-0001.20250303130509@mail.example.com>\r\n"
        b"References: <fake-0001.20250303130509@mail.example.com> <our-1@crm.example.test>\r\n"
        b"Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Спасибо, ждём".encode("cp1251")
    )
    parsed = ADAPTERS["email"].parse(Stored("message/rfc822", message, {}))
    assert isinstance(parsed, Inquiry)
    assert parsed.subject == "Re: Заявка"
    assert parsed.message == "Спасибо, ждём"
    assert "<fake-0001.20250303130509@mail.example.com>" in parsed.references


def test_auto_reply_is_a_receipt() -> None:
    message = b"From: robot@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Away\r\n\r\nOut of office"
    parsed = ADAPTERS["email"].parse(Stored("message/rfc822", message, {}))
    assert isinstance(parsed, NotInquiry)
    assert parsed.reason == "receipt"


def test_bitrix24_update_events_are_not_inquiries() -> None:
    body = b"event=ONCRMLEADUPDATE&data%5BFIELDS%5D%5BID%5D=7&auth%5Bapplication_token%5D=x"
    parsed = ADAPTERS["bitrix24"].parse(Stored("application/x-www-form-urlencoded", body, {}))
    assert isinstance(parsed, NotInquiry)
    assert parsed.reason == "not_an_inquiry"


def test_php_nested_keys() -> None:
    pairs = urlencoded_pairs(b"data%5BFIELDS%5D%5BID%5D=2211&auth%5Bdomain%5D=a.test&list%5B%5D=x&list%5B%5D=y")
    assert php_nested(pairs) == {
        "data": {"FIELDS": {"ID": "2211"}},
        "auth": {"domain": "a.test"},
        "list": {"0": "x", "1": "y"},
    }


def test_multipart_form_with_file_and_windows_1251_text() -> None:
    boundary = "FAKEb"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n'
        "Content-Type: text/plain; charset=windows-1251\r\n\r\n".encode()
        + "Мария".encode("cp1251")
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="brief"; filename="brief.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.4 fake\r\n".encode()
        + f"--{boundary}--\r\n".encode()
    )
    parsed = parse_body(f"multipart/form-data; boundary={boundary}", body)
    assert parsed.fields == {"name": "Мария"}
    assert [(file.name, file.content_type, file.field) for file in parsed.files] == [
        ("brief.pdf", "application/pdf", "brief")
    ]


def test_windows_1251_without_a_declared_charset_uses_the_fallback() -> None:
    body = "name=%CC%E0%F0%E8%FF".encode("ascii")
    parsed = GenericFormAdapter("windows-1251").parse(Stored("application/x-www-form-urlencoded", body, {}))
    assert isinstance(parsed, Inquiry)
    assert parsed.fields["name"] == "Мария"
    with pytest.raises(UnparseableRequest, match="utf-8"):
        GenericFormAdapter(None).parse(Stored("application/x-www-form-urlencoded", body, {}))


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("8 (999) 000-00-01", "RU", "+79990000001"),
        ("89990000001", "RU", "+79990000001"),
        ("+7 999 000 00 01", "US", "+79990000001"),
        ("79990000006", "US", "+79990000006"),
        ("(555) 010-0123", "US", "+15550100123"),
        ("", "RU", None),
    ],
)
def test_phones_become_e164_in_the_default_region(raw: str, region: str, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected


def test_phone_found_in_free_text() -> None:
    assert find_phone("Мой номер 8-999-000-00-06, звоните", "RU") == "+79990000006"
    assert find_phone("Нужно 25 мест", "RU") is None


def test_emails_compare_without_case() -> None:
    assert normalize_email(" Lead.Test+typeform@Example.COM ") == "lead.test+typeform@example.com"
    assert normalize_email("not an address") is None


def test_form_fields_are_checked_and_mapped() -> None:
    config = FormConfig.model_validate(
        {
            "fields": [
                {"name": "fio", "required": True, "maps_to": "contact.name"},
                {"name": "tel", "type": "phone", "required": True, "maps_to": "contact.phone"},
                {"name": "inn", "maps_to": "company.tax_id"},
                {"name": "budget", "type": "number", "maps_to": "custom.budget"},
            ]
        }
    )
    assert check_fields(config, {"fio": "", "tel": "abc", "budget": "lots"}, "RU") == [
        {"field": "fio", "reason": "is required"},
        {"field": "tel", "reason": "is not a phone number"},
        {"field": "budget", "reason": "is not a number"},
    ]
    assert mapped_values(config, {"fio": "Анна", "tel": "8 999 000 00 01", "inn": "7700000000", "budget": "5"}) == {
        "contact.name": "Анна",
        "contact.phone": "8 999 000 00 01",
        "company.tax_id": "7700000000",
        "custom.budget": "5",
    }


def test_routing_rules_choose_pipeline_stage_and_owner_in_turn() -> None:
    config = FormConfig.model_validate(
        {
            "pipeline_key": "sales",
            "owner": {"mode": "fixed", "user_id": "u-default"},
            "rules": [
                {
                    "name": "partners",
                    "when": [{"on": "utm", "key": "source", "op": "in", "value": ["partner", "referral"]}],
                    "pipeline_key": "partners",
                    "owner": {"mode": "round_robin", "group": ["u-1", "u-2"]},
                },
                {
                    "name": "telegram",
                    "when": [{"on": "channel", "op": "equals", "value": "telegram"}],
                    "stage_key": "Chat",
                },
            ],
        }
    )
    state: dict[str, object] = {}

    def context(utm: dict[str, str], channel: str | None = None) -> RoutingContext:
        return RoutingContext(fields={}, utm=utm, source="form", channel=channel, form_key="f")

    partner = [route(config, context({"utm_source": "Partner"}), state) for _ in range(3)]
    assert [(d.pipeline_key, d.owner_id) for d in partner] == [
        ("partners", "u-1"),
        ("partners", "u-2"),
        ("partners", "u-1"),
    ]
    assert partner[0].reason == "rule 'partners'"
    chat = route(config, context({}, "telegram"), state)
    assert (chat.pipeline_key, chat.stage_key, chat.owner_id) == ("sales", "Chat", "u-default")
    default = route(config, context({"utm_source": "google"}), state)
    assert (default.pipeline_key, default.owner_id, default.reason) == ("sales", "u-default", "form settings")


def test_routing_department_rule_channel_form() -> None:
    config = FormConfig.model_validate(
        {
            "department": "sales",
            "rules": [
                {"name": "partners", "when": [{"on": "utm", "key": "source", "value": "partner"}], "department": "b2b"},
                {"name": "chat", "when": [{"on": "channel", "value": "telegram"}], "stage_key": "Chat"},
            ],
        }
    )

    def decide(utm: dict[str, str], channel_department: str | None = None, channel: str | None = None) -> str | None:
        context = RoutingContext(fields={}, utm=utm, source="form", channel=channel, form_key="f")
        return route(config, context, {}, channel_department=channel_department).department

    assert decide({}) == "sales"
    assert decide({}, channel_department="support") == "support"
    assert decide({"utm_source": "partner"}, channel_department="support") == "b2b"
    assert decide({}, channel_department="support", channel="telegram") == "support"
    assert decide({}, channel="telegram") == "sales"
    assert (
        route(None, RoutingContext({}, {}, "channel", "telegram", None), {}, channel_department="ops").department
        == "ops"
    )
    assert route(None, RoutingContext({}, {}, "channel", "telegram", None), {}).department is None


def test_inquiry_drops_nul_and_clips_contact() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from contracts.intake import InquiryContact, IntakeRequest
    from services.intake.handlers import _storable

    inquiry = IntakeRequest(
        id=uuid4(),
        received_at=datetime.now(UTC),
        source="form",
        title="Request from x: An\x00na",
        contact=InquiryContact(name="An\x00na " + "я" * 600, email="a" * 330 + "@example.com"),
        fields={"na\x00me": "An\x00na"},
    )
    stored = _storable(inquiry)
    assert stored.title == "Request from x: Anna"
    assert stored.fields == {"name": "Anna"}
    assert stored.contact.name is not None
    assert len(stored.contact.name) == 500
    assert stored.contact.email is None


def test_inquiry_replaces_lone_surrogates() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from contracts.intake import InquiryContact, IntakeRequest
    from services.intake.handlers import _storable

    inquiry = IntakeRequest(
        id=uuid4(),
        received_at=datetime.now(UTC),
        source="form",
        title="Request",
        contact=InquiryContact(name="A\ud800B"),
        fields={"name": "A\ud800B"},
    )
    stored = _storable(inquiry)
    assert stored.contact.name is not None
    assert "\ud800" not in stored.contact.name
    assert stored.contact.name.startswith("A")
    assert stored.contact.name.endswith("B")
    assert '"name"' in stored.model_dump_json()

"""The generic form endpoint, staff settings, e-mail threads and Maildir polling, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from servicekit.db import OutboxMessage
from services.intake.handlers import process_pending
from services.intake.maildir import poll_maildirs
from tests.intake_support import (
    URL_TOKEN,
    WEBFLOW_SECRET,
    Intake,
    bearer,
    configure,
    in_process_intake,
    jotform_body,
    samples,
    webflow_body,
)

pytestmark = pytest.mark.integration

FORM = {
    "title": "Quote request",
    "fields": [
        {"name": "fio", "required": True, "maps_to": "contact.name"},
        {"name": "tel", "type": "phone", "required": True, "maps_to": "contact.phone"},
        {"name": "inn", "maps_to": "company.tax_id"},
        {"name": "budget", "type": "number", "maps_to": "custom.budget"},
    ],
    "honeypot_field": "url",
    "rate_limit_per_minute": 5,
}


@pytest.fixture
async def intake(database_url: str, topic_prefix: str) -> AsyncIterator[Intake]:
    async for harness in in_process_intake(database_url, topic_prefix, duplicate_window_seconds=60):
        await configure(harness.client)
        answer = await harness.client.put("/staff/forms/quote", json=FORM, headers=bearer())
        assert answer.status_code == 200, answer.text
        yield harness


async def _processed(intake: Intake, request_id: str) -> dict[str, Any]:
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view: dict[str, Any] = (await intake.client.get(f"/requests/{request_id}", headers=bearer())).json()
    return view


def _form(**fields: str) -> dict[str, Any]:
    return {"content": urlencode(fields).encode(), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


async def test_unknown_form_is_404(intake: Intake) -> None:
    answer = await intake.client.post("/forms/no-such-form", **_form(name="x"))
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_form"


async def test_missing_and_invalid_fields_are_named(intake: Intake) -> None:
    answer = await intake.client.post("/forms/quote", **_form(tel="not a phone"))
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "fio", "reason": "is required"},
        {"field": "tel", "reason": "is not a phone number"},
    ]
    listed = await intake.client.get("/requests", params={"endpoint": "quote"}, headers=bearer())
    assert listed.json()["items"] == []


async def test_browser_form_is_redirected_back_with_its_errors(intake: Intake) -> None:
    redirecting = {
        **FORM,
        "reply": {
            "mode": "redirect",
            "success_url": "https://example.org/thanks",
            "error_url": "https://example.org/form",
        },
    }
    await intake.client.put("/staff/forms/quote", json=redirecting, headers=bearer())
    bad = await intake.client.post("/forms/quote", **_form(tel="1"))
    assert bad.status_code == 303
    assert bad.headers["location"] == "https://example.org/form?errors=fio%2Ctel"
    good = await intake.client.post("/forms/quote", **_form(fio="Анна", tel="8 999 000 00 21"))
    assert good.status_code == 303
    assert good.headers["location"].startswith("https://example.org/thanks?request_id=")


async def test_mapping_custom_fields_and_windows_1251(intake: Intake) -> None:
    body = urlencode(
        {"fio": " Мария  Тестова ", "tel": "8 999 000 00 22", "inn": "7700000000", "budget": "5000"}, encoding="cp1251"
    ).encode()
    answer = await intake.client.post(
        "/forms/quote",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=windows-1251"},
    )
    assert answer.status_code == 202, answer.text
    view = await _processed(intake, answer.json()["request_id"])
    assert view["status"] == "accepted"
    assert view["summary"]["contact"] == {"name": "Мария Тестова", "phone": "+79990000022"}


async def _accepted_department(intake: Intake, request_id: str) -> str | None:
    """Return the department on the request's ``intake.request.accepted`` event in the outbox."""
    async with intake.runtime.sessionmaker() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == request_id))
    assert row is not None, f"no accepted event for request {request_id}"
    event = json.loads(row.payload)
    assert event["event_type"] == "intake.request.accepted"
    department: str | None = event["data"]["department"]
    return department


async def test_form_and_rule_department_on_event(intake: Intake) -> None:
    routed = {
        **FORM,
        "department": "sales",
        "rules": [
            {"name": "partners", "when": [{"on": "utm", "key": "source", "value": "partner"}], "department": "b2b"}
        ],
    }
    answer = await intake.client.put("/staff/forms/quote", json=routed, headers=bearer())
    assert answer.status_code == 200, answer.text
    assert answer.json()["department"] == "sales"

    plain = await intake.client.post("/forms/quote", **_form(fio="Anna", tel="+7 999 000 00 31"))
    partner = await intake.client.post(
        "/forms/quote", **_form(fio="Boris", tel="+7 999 000 00 32", utm_source="partner")
    )
    plain_view = await _processed(intake, plain.json()["request_id"])
    partner_view = await _processed(intake, partner.json()["request_id"])

    assert plain_view["summary"]["routing"]["department"] == "sales"
    assert partner_view["summary"]["routing"]["department"] == "b2b"
    assert await _accepted_department(intake, plain.json()["request_id"]) == "sales"
    assert await _accepted_department(intake, partner.json()["request_id"]) == "b2b"


async def test_form_without_department_leaves_it_empty(intake: Intake) -> None:
    answer = await intake.client.post("/forms/quote", **_form(fio="Anna", tel="+7 999 000 00 33"))
    await _processed(intake, answer.json()["request_id"])

    assert await _accepted_department(intake, answer.json()["request_id"]) is None


async def test_channel_department_on_event(intake: Intake) -> None:
    admin = bearer()
    form = {**FORM, "department": "sales"}
    assert (await intake.client.put("/staff/forms/quote", json=form, headers=admin)).status_code == 200
    channel = {"kind": "jotform", "secret": URL_TOKEN, "form_key": "quote", "department": "support"}
    saved = await intake.client.put("/staff/channels/jotform", json=channel, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["department"] == "support"
    assert (await intake.client.get("/staff/channels/jotform", headers=admin)).json()["department"] == "support"

    content_type, body = jotform_body()
    jot = await intake.client.post(
        "/intake/jotform", params={"token": URL_TOKEN}, content=body, headers={"Content-Type": content_type}
    )
    assert jot.status_code == 200, jot.text
    view = await _processed(intake, jot.json()["request_id"])

    assert view["status"] == "accepted", view
    assert await _accepted_department(intake, jot.json()["request_id"]) == "support"


async def test_honeypot_marks_spam(intake: Intake) -> None:
    answer = await intake.client.post("/forms/quote", **_form(fio="Bot", tel="+1 555 0100", url="http://spam.test"))
    assert answer.status_code == 202
    view = await _processed(intake, answer.json()["request_id"])
    assert (view["status"], view["reason"]) == ("ignored", "spam")


async def test_rate_limit_per_address_and_form(intake: Intake) -> None:
    codes = []
    for number in range(7):
        answer = await intake.client.post("/forms/quote", **_form(fio=f"Guest {number}", tel=f"+1 555 01{number:02}"))
        codes.append(answer.status_code)
    assert codes == [202] * 5 + [429, 429]
    other_form = await intake.client.post("/forms/website-contact", **_form(name="Guest"))
    assert other_form.status_code == 202


async def test_keyed_retry_answers_over_rate_limit(intake: Intake) -> None:
    keyed = {"Idempotency-Key": "retry-7", "Content-Type": "application/json"}
    first = await intake.client.post("/forms/quote", json={"fio": "Гость", "tel": "+15550150"}, headers=keyed)
    assert first.status_code == 202
    for number in range(6):
        await intake.client.post("/forms/quote", **_form(fio=f"Guest {number}", tel=f"+1 555 02{number:02}"))
    assert (await intake.client.post("/forms/quote", **_form(fio="Late", tel="+15550299"))).status_code == 429

    retry = await intake.client.post("/forms/quote", json={"fio": "Гость", "tel": "+15550150"}, headers=keyed)
    assert retry.status_code == 200
    assert retry.json() == {"request_id": first.json()["request_id"], "status": "duplicate"}

    blank = {"Idempotency-Key": "  ", "Content-Type": "application/json"}
    unkeyed = await intake.client.post(
        "/forms/website-contact", json={"name": "A", "phone": "+15550151"}, headers=blank
    )
    again = await intake.client.post("/forms/website-contact", json={"name": "B", "phone": "+15550152"}, headers=blank)
    assert (unkeyed.status_code, again.status_code) == (202, 202)
    assert unkeyed.json()["request_id"] != again.json()["request_id"]


async def test_double_submit_and_idempotency_key(intake: Intake) -> None:
    first = await intake.client.post("/forms/quote", **_form(fio="Анна", tel="8 999 000 00 23"))
    double = await intake.client.post("/forms/quote", **_form(fio="Анна", tel="8 999 000 00 23"))
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _processed(intake, double.json()["request_id"])
    assert (view["reason"], view["duplicate_of"]) == ("duplicate", first.json()["request_id"])

    keyed = {"Idempotency-Key": "order-42", "Content-Type": "application/json"}
    one = await intake.client.post("/forms/quote", json={"fio": "Борис", "tel": "+79990000024"}, headers=keyed)
    two = await intake.client.post("/forms/quote", json={"fio": "Борис", "tel": "+79990000024"}, headers=keyed)
    assert (one.status_code, two.status_code) == (202, 200)
    assert two.json() == {"request_id": one.json()["request_id"], "status": "duplicate"}


async def test_jotform_and_webflow_through_their_endpoints(intake: Intake) -> None:
    admin = bearer()
    await intake.client.put("/staff/channels/jotform", json={"kind": "jotform", "secret": URL_TOKEN}, headers=admin)
    await intake.client.put(
        "/staff/channels/webflow", json={"kind": "webflow", "secret": WEBFLOW_SECRET}, headers=admin
    )
    content_type, body = jotform_body()
    jot = await intake.client.post(
        "/intake/jotform", params={"token": URL_TOKEN}, content=body, headers={"Content-Type": content_type}
    )
    assert jot.status_code == 200, jot.text
    flow = webflow_body()
    timestamp = str(int(time.time() * 1000))
    signature = hmac.new(WEBFLOW_SECRET.encode(), f"{timestamp}:".encode() + flow, hashlib.sha256).hexdigest()
    web = await intake.client.post(
        "/intake/webflow",
        content=flow,
        headers={
            "Content-Type": "application/json",
            "x-webflow-timestamp": timestamp,
            "x-webflow-signature": signature,
        },
    )
    assert web.status_code == 200, web.text

    jot_view = await _processed(intake, jot.json()["request_id"])
    assert jot_view["summary"]["contact"]["email"] == "jot.test@example.com"
    web_view = await _processed(intake, web.json()["request_id"])
    assert web_view["summary"]["contact"] == {
        "name": "Webflow Tester",
        "phone": "+15550107",
        "email": "wf.test@example.org",
        "email_as_entered": "wf.test@example.org",
    }


async def test_channel_secrets_are_never_shown(intake: Intake) -> None:
    listed = await intake.client.get("/staff/channels", headers=bearer())
    text = listed.text
    assert "FAKE" not in text
    assert all(item["has_secret"] for item in listed.json()["items"])
    outsider = await intake.client.get("/staff/channels", headers=bearer("u-2", roles=("sales",)))
    assert outsider.status_code == 403


async def test_email_reply_threads_onto_the_request_it_answers(intake: Intake, tmp_path: Path) -> None:
    original = samples()["RI-06"]
    first = await intake.client.post(original.path, content=original.body, headers={"Content-Type": "message/rfc822"})
    first_view = await _processed(intake, first.json()["request_id"])
    assert first_view["status"] == "accepted"

    # The client answers from a mail program; the reply arrives through a polled Maildir.
    maildir = tmp_path / "sales"
    for folder in ("new", "cur", "tmp"):
        (maildir / folder).mkdir(parents=True)
    reply = (
        b"From: client.test@example.com\r\nTo: sales@crm.example.test\r\nSubject: Re: request\r\n"
        b"Message-ID: <fake-0002@mail.example.com>\r\n"
        b"In-Reply-To: <fake-0001.20250303130509@mail.example.com>\r\n\r\nAny news?\r\n"
    )
    (maildir / "new" / "1741000000.fake.host").write_bytes(reply)
    await intake.client.put(
        "/staff/channels/email",
        json={"kind": "email", "settings": {"maildir": str(maildir)}},
        headers=bearer(),
    )
    assert await poll_maildirs(intake.runtime.sessionmaker, intake.settings) == 1
    assert list((maildir / "new").iterdir()) == []
    assert [file.name for file in (maildir / "cur").iterdir()] == ["1741000000.fake.host:2,S"]
    await process_pending(intake.runtime.sessionmaker, intake.settings)

    replies = await intake.client.get("/requests", params={"reason": "reply"}, headers=bearer())
    [reply_item] = replies.json()["items"]
    threaded = await _processed(intake, first.json()["request_id"])
    assert threaded["replies"] == [reply_item["id"]]
    assert await poll_maildirs(intake.runtime.sessionmaker, intake.settings) == 0


async def test_concurrent_identical_deliveries_make_one_acceptance(intake: Intake) -> None:
    sample = samples()["RI-05-whatsapp"]
    answers = await asyncio.gather(
        *(
            intake.client.post(
                sample.path, content=sample.body, headers={**sample.headers, "Content-Type": "application/json"}
            )
            for _ in range(3)
        )
    )
    await process_pending(intake.runtime.sessionmaker, intake.settings)
    statuses = sorted([(await _processed(intake, a.json()["request_id"]))["status"] for a in answers])
    assert statuses == ["accepted", "ignored", "ignored"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"fio": ' + b"[" * 900 + b"]" * 900 + b"}", "nests deeper than"),
        (b'{"fio": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests deeper than"),
        (b'{"fio": ' + b"9" * 5000 + b"}", "is not valid JSON"),
    ],
)
async def test_hostile_json_is_422_not_500(intake: Intake, body: bytes, reason: str) -> None:
    response = await intake.client.post("/forms/quote", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert reason in response.json()["message"]

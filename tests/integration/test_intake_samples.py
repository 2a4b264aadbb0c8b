"""Every sample payload through its public endpoint with its real headers, on a real PostgreSQL database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from servicekit.db import OutboxMessage
from services.intake.handlers import process_pending
from services.intake.samples import EXPECTED, typeform_signature
from services.intake.tables import RawRequest
from tests.intake_support import (
    TELEGRAM_SECRET,
    TYPEFORM_SECRET,
    Intake,
    bearer,
    configure,
    in_process_intake,
    samples,
    telegram_forwarded_contact,
    whatsapp_read_receipt,
    whatsapp_signature,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def intake(database_url: str, topic_prefix: str) -> AsyncIterator[Intake]:
    async for harness in in_process_intake(database_url, topic_prefix):
        await configure(harness.client)
        yield harness


async def _post(intake: Intake, path: str, body: bytes, content_type: str, headers: dict[str, str]) -> Any:
    return await intake.client.post(path, content=body, headers={**headers, "Content-Type": content_type})


async def _view(intake: Intake, request_id: str) -> dict[str, Any]:
    answer = await intake.client.get(f"/requests/{request_id}", headers=bearer())
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def _accepted_events(intake: Intake) -> list[dict[str, Any]]:
    async with intake.runtime.sessionmaker() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [json.loads(row.payload) for row in rows if row.event_type == "intake.request.accepted"]


async def test_every_sample_gets_its_outcome_and_a_retry_creates_nothing(intake: Intake) -> None:
    first: dict[str, str] = {}
    for name, sample in samples().items():
        answer = await _post(intake, sample.path, sample.body, sample.content_type, sample.headers)
        assert answer.status_code in (200, 202), f"{name}: {answer.status_code} {answer.text}"
        first[name] = answer.json()["request_id"]
    await process_pending(intake.runtime.sessionmaker, intake.settings)

    for name, expected in EXPECTED.items():
        view = await _view(intake, first[name])
        assert view["status"] == expected["status"], f"{name}: {view}"
        if "reason" in expected:
            assert view["reason"] == expected["reason"], f"{name}: {view}"
            assert view["outcome"], f"{name} says why it created nothing"
        for key, value in expected.get("contact", {}).items():
            assert view["summary"]["contact"].get(key) == value, f"{name} {key}: {view['summary']}"
        for key, value in expected.get("routing", {}).items():
            assert view["summary"]["routing"][key] == value, f"{name} {key}: {view['summary']}"
        if "attachments" in expected:
            assert view["summary"]["attachments"] == expected["attachments"]
        if "title_has" in expected:
            assert expected["title_has"] in view["summary"]["title"]
    accepted = await _accepted_events(intake)
    assert len(accepted) == sum(1 for expected in EXPECTED.values() if expected["status"] == "accepted")
    typeform = next(event for event in accepted if event["aggregate_id"] == first["RI-01"])
    assert typeform["data"]["utm"]["utm_source"] == "yandex"
    assert typeform["data"]["routing_reason"] == "rule 'b2b by hidden field'"

    # Each sender retries byte for byte; the retries are stored, but become nothing.
    for name, sample in samples().items():
        answer = await _post(intake, sample.path, sample.body, sample.content_type, sample.headers)
        assert answer.status_code in (200, 202), f"{name}: {answer.text}"
        await process_pending(intake.runtime.sessionmaker, intake.settings)
        view = await _view(intake, answer.json()["request_id"])
        assert view["status"] == "ignored", f"retry of {name}: {view}"
        if EXPECTED[name]["status"] == "accepted":
            assert view["reason"] == "duplicate"
            assert view["duplicate_of"] == first[name]
    assert len(await _accepted_events(intake)) == len(accepted)


async def test_non_inquiries_create_nothing_and_say_why(intake: Intake) -> None:
    forwarded = await _post(
        intake,
        "/intake/telegram",
        telegram_forwarded_contact(),
        "application/json",
        {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    receipt_body = whatsapp_read_receipt()
    receipt = await _post(
        intake,
        "/intake/whatsapp",
        receipt_body,
        "application/json",
        {"X-Hub-Signature-256": whatsapp_signature(receipt_body)},
    )
    assert forwarded.status_code == receipt.status_code == 200
    await process_pending(intake.runtime.sessionmaker, intake.settings)

    assert (await _view(intake, forwarded.json()["request_id"]))["reason"] == "forwarded_contact"
    receipt_view = await _view(intake, receipt.json()["request_id"])
    assert receipt_view["reason"] == "receipt"
    assert "read" in receipt_view["outcome"]
    assert await _accepted_events(intake) == []


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        ("RI-01", "body"),
        ("RI-05-whatsapp", "body"),
        ("RI-05-text", "secret"),
        ("RI-07", "secret"),
        ("RI-02", "token"),
        ("RI-01", "missing"),
    ],
)
async def test_bad_signature_or_token_is_rejected_and_nothing_is_processed(
    intake: Intake, name: str, tamper: str
) -> None:
    sample = samples()[name]
    body, headers, path = sample.body, dict(sample.headers), sample.path
    if tamper == "body":
        body = body.replace(b"7999000000", b"7999000009", 1)
    elif tamper == "secret" and name == "RI-07":
        body = body.replace(b"FAKEapplicationtoken000000000001", b"FAKEapplicationtoken000000000666")
    elif tamper == "secret":
        headers["X-Telegram-Bot-Api-Secret-Token"] = "FAKE_wrong_token"
    elif tamper == "token":
        path = path.replace("FAKE-url-token-for-tests", "FAKE-guessed")
    else:
        headers = {key: value for key, value in headers.items() if key.lower() != "typeform-signature"}
    assert body != sample.body or headers != sample.headers or path != sample.path

    answer = await _post(intake, path, body, sample.content_type, headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "sender_not_verified"
    assert answer.json()["message"]

    await process_pending(intake.runtime.sessionmaker, intake.settings)
    listed = await intake.client.get("/requests", params={"status": "rejected"}, headers=bearer())
    [rejected] = listed.json()["items"]
    assert rejected["reason"] == "not_verified"
    async with intake.runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    replay = await intake.client.post(f"/requests/{rejected['id']}/replay", headers=bearer())
    assert replay.status_code == 409


async def test_whatsapp_handshake_echoes_the_challenge_only_for_the_verify_token(intake: Intake) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "FAKE-verify-token", "hub.challenge": "1158201444"}
    answer = await intake.client.get("/intake/whatsapp", params=params)
    assert answer.status_code == 200
    assert answer.text == "1158201444"
    assert answer.headers["content-type"].startswith("text/plain")

    wrong = await intake.client.get("/intake/whatsapp", params={**params, "hub.verify_token": "FAKE-guess"})
    assert wrong.status_code == 401


def typeform_response_with_nul() -> bytes:
    """A Typeform ``form_response`` with ``\\u0000`` in its title, a hidden field and three answers."""
    answers = [
        ("full_name", "short_text", "text", "Anna\x00 Nulova"),
        ("company", "short_text", "text", "Roga\x00 i Kopyta"),
        ("email", "email", "email", "anna.nul\x00@example.com"),
        ("phone", "phone_number", "phone_number", "+79990000042"),
    ]
    response = {
        "form_id": "FaKeNulForm",
        "token": "fake0token0000000000000000nul01",
        "submitted_at": "2025-03-03T10:01:47Z",
        "hidden": {"utm_source": "yan\x00dex", "pipeline": "b2b"},
        "definition": {"id": "FaKeNulForm", "title": "Demo\x00 request"},
        "answers": [
            {"type": value_key, value_key: value, "field": {"id": f"fld-{ref}", "type": field_type, "ref": ref}}
            for ref, field_type, value_key, value in answers
        ],
    }
    event = {"event_id": "01JTESTFAKENUL0000000001", "event_type": "form_response", "form_response": response}
    return json.dumps(event).encode()


async def test_signed_typeform_with_nul_is_stored(intake: Intake) -> None:
    body = typeform_response_with_nul()
    assert b"\\u0000" in body
    headers = {"Typeform-Signature": typeform_signature(TYPEFORM_SECRET, body)}

    answer = await _post(intake, "/intake/typeform?campaign=a%00b", body, "application/json", headers)
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]
    async with intake.runtime.sessionmaker() as session:
        stored = await session.get(RawRequest, uuid.UUID(request_id))
    assert stored is not None
    assert stored.body == body
    assert stored.query == "campaign=a%00b"

    await process_pending(intake.runtime.sessionmaker, intake.settings)
    view = await _view(intake, request_id)
    assert view["status"] == "accepted", view
    assert view["summary"]["contact"]["name"] == "Anna Nulova"
    assert view["summary"]["contact"]["phone"] == "+79990000042"
    assert view["summary"]["contact"]["email"] == "anna.nul@example.com"
    assert view["summary"]["contact"]["company_name"] == "Roga i Kopyta"
    assert view["summary"]["routing"]["pipeline_key"] == "b2b"
    assert "\\u0000" not in json.dumps(view["summary"])

    accepted = await _accepted_events(intake)
    assert [event["aggregate_id"] for event in accepted] == [request_id]
    assert "\\u0000" not in json.dumps(accepted[0]["data"])
    assert accepted[0]["data"]["utm"]["utm_source"] == "yandex"

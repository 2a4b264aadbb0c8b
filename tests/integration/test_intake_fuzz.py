"""Property-based fuzzing of intake's public endpoints: no input gets a 5xx, and none breaks the processor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.intake.handlers import process_pending
from services.intake.tables import RawRequest
from tests.intake_support import TELEGRAM_SECRET, URL_TOKEN, Intake, bearer, configure, in_process_intake, samples

pytestmark = pytest.mark.integration

CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=windows-1251",
        "application/x-www-form-urlencoded; charset=no-such-charset",
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "application/json",
        "message/rfc822",
        "text/plain",
        "",
    ]
)
PATHS = st.sampled_from(
    [
        "/forms/website-contact",
        f"/intake/tilda?token={URL_TOKEN}",
        f"/intake/google-forms?token={URL_TOKEN}",
        f"/intake/email?token={URL_TOKEN}",
        "/intake/telegram",
        "/intake/whatsapp",
        "/intake/bitrix24",
        "/intake/typeform",
    ]
)


def raw_bodies() -> st.SearchStrategy[bytes]:
    known = [sample.body for sample in samples().values()]
    mutated = st.tuples(st.sampled_from(known), st.integers(0, 4000), st.binary(max_size=8)).map(
        lambda case: case[0][: case[1]] + case[2] + case[0][case[1] + len(case[2]) :]
    )
    return st.one_of(st.binary(max_size=512), mutated, st.sampled_from(known))


@pytest.fixture
async def intake(database_url: str, topic_prefix: str) -> AsyncIterator[Intake]:
    async for harness in in_process_intake(database_url, topic_prefix):
        await configure(harness.client)
        await harness.client.put("/staff/forms/website-contact", json={"rate_limit_per_minute": None}, headers=_admin())
        yield harness


def _admin() -> dict[str, str]:

    return bearer()


# One intake serves every example; the function-scoped fixture is shared on purpose.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS, content_type=CONTENT_TYPES, body=st.deferred(raw_bodies))
async def test_no_input_gets_a_server_error(intake: Intake, path: str, content_type: str, body: bytes) -> None:
    headers = {"Content-Type": content_type, "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    answer = await intake.client.post(path, content=body, headers=headers)
    assert answer.status_code < 500, (path, content_type, body, answer.text)

    await process_pending(intake.runtime.sessionmaker, intake.settings)
    async with intake.runtime.sessionmaker() as session:
        broken = (await session.scalars(select(RawRequest).where(RawRequest.attempts > 0))).all()
    assert [(row.endpoint, row.last_error) for row in broken] == []

"""Schema-based fuzzing of intake's public endpoints on a running intake process: no input gets a 5xx.

Schemathesis generates path keys, headers, query parameters and bodies from intake's ``/openapi.json``,
valid and invalid. The routes read their raw body themselves, and the schema declares only its usual
shapes, so a second test posts hypothesis-generated raw bytes and content types to the same process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from services.intake.channels.messengers import TELEGRAM_SECRET_HEADER
from tests.conftest import Servers
from tests.intake_support import CHANNELS, DEMO_FORM, JWT_KEY, TELEGRAM_SECRET, URL_TOKEN, bearer, configure
from tests.integration.test_intake_fuzz import CONTENT_TYPES, PATHS, raw_bodies
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

#: Examples per operation, generation mode and fixed key: at most about 3,100 requests in all, fewer
#: when hypothesis runs out of distinct cases. The test took 48 to 60 s on a loaded 2-core machine.
EXAMPLES = 100

# Forms and channel webhooks are public. Every other route needs a staff token and is left out.
PUBLIC_PATHS = r"^/(forms|intake)/"


@pytest.fixture
async def intake(
    servers: Servers, make_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess(
        "intake",
        {
            "DATABASE_URL": await make_database(),
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "JWT_SECRET_KEY": JWT_KEY,
            "ENVIRONMENT": "test",
        },
    )
    try:
        process.start()
        await process.wait_ready()
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
            await configure(client)
            # One address sends every example, so the forms' rate limit would return 429 to most of them.
            for key, form in (("website-contact", {}), ("demo-requests", DEMO_FORM)):
                answer = await client.put(
                    f"/staff/forms/{key}", json={**form, "rate_limit_per_minute": None}, headers=bearer()
                )
                assert answer.status_code == 200, answer.text
        yield process
    finally:
        process.stop()


def _fuzz(case_strategy: st.SearchStrategy[schemathesis.Case[Any]], base_url: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=case_strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        # The channels' credentials are not in the schema. Sending them lets bodies reach the parsers.
        case.call_and_validate(
            base_url=base_url,
            headers={TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET},
            params={"token": URL_TOKEN},
            checks=[not_a_server_error],
            timeout=10,
        )

    run()


def test_public_operations_from_schema(intake: ServiceProcess) -> None:
    schema = schemathesis.openapi.from_url(intake.url + "/openapi.json").include(path_regex=PUBLIC_PATHS)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"intake's schema has an invalid operation: {result}"
        operations.append(result.ok())
    assert sorted(operation.label for operation in operations) == [
        "GET /intake/{channel_key}",
        "POST /forms/{form_key}",
        "POST /intake/{channel_key}",
    ]

    for operation in operations:
        # Generated keys mostly name nothing (404), so each configured key is fuzzed as well.
        known_keys = ["website-contact", "demo-requests"] if "form_key" in operation.path else list(CHANNELS)
        key_name = "form_key" if "form_key" in operation.path else "channel_key"
        # With the key fixed, a route whose only parameter is the key has nothing left to make invalid.
        other_parameters = len(operation.definition.raw.get("parameters", [])) > 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation.as_strategy(generation_mode=mode), intake.url)
            if mode == GenerationMode.NEGATIVE and not other_parameters:
                continue
            for key in known_keys:
                _fuzz(operation.as_strategy(generation_mode=mode, path_parameters={key_name: key}), intake.url)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(path=PATHS, content_type=CONTENT_TYPES, body=st.deferred(raw_bodies))
def test_raw_bodies_to_the_process(intake: ServiceProcess, path: str, content_type: str, body: bytes) -> None:
    headers = {"Content-Type": content_type, "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    answer = httpx.post(intake.url + path, content=body, headers=headers, timeout=10)
    assert answer.status_code < 500, (path, content_type, body, answer.text)

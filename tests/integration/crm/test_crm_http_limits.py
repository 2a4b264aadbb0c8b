"""The shared request limits as the CRM applies them: body size and NUL characters in parameters."""

from collections.abc import AsyncIterator

import pytest

from tests.integration.crm.conftest import ADMIN, Crm, create

pytestmark = pytest.mark.integration

MAX_REQUEST_BYTES = 1024 * 1024


async def test_padded_deal_over_limit_is_413(crm: Crm) -> None:
    body = b'{"title": "x"' + b" " * (20 * 1024 * 1024) + b"}"
    headers = {**ADMIN, "Content-Type": "application/json"}
    response = await crm.client.post("/deals", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["max_bytes"] == MAX_REQUEST_BYTES

    deals = await crm.client.get("/deals", headers=ADMIN)
    assert deals.status_code == 200
    assert deals.json()["items"] == []


async def test_chunked_deal_over_limit_is_413(crm: Crm) -> None:
    async def padded() -> AsyncIterator[bytes]:
        yield b'{"title": "x"'
        for _ in range(20 * 1024):
            yield b" " * 1024
        yield b"}"

    headers = {**ADMIN, "Content-Type": "application/json"}
    response = await crm.client.post("/deals", content=padded(), headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["max_bytes"] == MAX_REQUEST_BYTES


async def test_padded_deal_within_limit_is_201(crm: Crm) -> None:
    body = b'{"title": "x"' + b" " * (MAX_REQUEST_BYTES // 2) + b"}"
    headers = {**ADMIN, "Content-Type": "application/json"}
    response = await crm.client.post("/deals", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "x"


async def test_nul_in_deal_filter_is_422(crm: Crm) -> None:
    response = await crm.client.get("/deals?owner_id=%00", headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.owner_id"


async def test_nul_in_board_filter_is_422(crm: Crm) -> None:
    body = {"key": "nul-filter", "name": "NUL filter", "stages": [{"name": "Lead"}]}
    pipeline = await create(crm, "/pipelines", body)
    response = await crm.client.get(f"/pipelines/{pipeline['id']}/board?owner_id=%00", headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.owner_id"

    clean = await crm.client.get(f"/pipelines/{pipeline['id']}/board?owner_id=u-nobody", headers=ADMIN)
    assert clean.status_code == 200, clean.text

"""Staff page wiring without servers: the tasks origin in CRM's pages and CORS in the tasks service."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import ValidationError

from services.crm.bootstrap import create_app as create_crm
from services.crm.settings import CrmSettings
from services.tasks.bootstrap import create_app as create_tasks
from services.tasks.settings import TasksSettings

pytestmark = pytest.mark.unit

PAGE_ORIGIN = "http://crm.example:8001"


def crm_client() -> httpx.AsyncClient:
    app = create_crm(CrmSettings(environment="test", tasks_public_url="https://tasks.example:9443/"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm")


def tasks_client() -> httpx.AsyncClient:
    app = create_tasks(TasksSettings(environment="test", staff_page_origins=[PAGE_ORIGIN]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tasks")


async def test_pages_config_names_tasks() -> None:
    async with crm_client() as client:
        response = await client.get("/ui/config.json")
    assert response.status_code == 200
    assert response.json() == {"tasks_url": "https://tasks.example:9443"}


@pytest.mark.parametrize("path", [f"/ui/deals/{uuid.uuid4()}", f"/ui/companies/{uuid.uuid4()}"])
async def test_card_pages_allow_tasks_origin(path: str) -> None:
    async with crm_client() as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "connect-src 'self' https://tasks.example:9443;" in policy
    assert "script-src 'self';" in policy


async def test_access_requests_page_served() -> None:
    async with crm_client() as client:
        response = await client.get("/ui/access-requests")
    assert response.status_code == 200
    assert "access-requests.js" in response.text
    assert "connect-src 'self';" in response.headers["content-security-policy"]


async def test_tasks_preflight_allows_staff_origin() -> None:
    headers = {
        "Origin": PAGE_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    async with tasks_client() as client:
        response = await client.options("/tasks", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "idempotency-key" in allowed


async def test_tasks_preflight_rejects_other_origin() -> None:
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with tasks_client() as client:
        response = await client.options("/tasks", headers=headers)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", ["http://crm.example/ui", "crm.example:8001", "ftp://crm.example"])
def test_tasks_rejects_bad_origin_setting(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        TasksSettings(environment="test", staff_page_origins=[origin])


def test_crm_rejects_bad_tasks_url() -> None:
    with pytest.raises(ValidationError, match="is not an http"):
        CrmSettings(environment="test", tasks_public_url="tasks:8002")

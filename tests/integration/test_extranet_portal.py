"""The extranet as a process on real Kafka and PostgreSQL: invitations, sign-in, view, downloads, audit."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.topics import Topic
from servicekit.auth import issue_token
from servicekit.settings import DEVELOPMENT_JWT_KEY
from tests.conftest import Servers
from tests.extranet_events import (
    FakeDocuments,
    company_event,
    deal_event,
    document_event,
    file_event,
    publish,
    task_event,
    version_state,
)
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
STAFF = {"Authorization": "Bearer " + issue_token(DEVELOPMENT_JWT_KEY, "u-admin", name="Olga", roles=["admin"])}
SIGN_IN_DELAY = 0.3


@pytest.fixture
def documents() -> Iterator[tuple[FakeDocuments, str]]:
    fake = FakeDocuments()
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
async def extranet(
    servers: Servers, database_url: str, topic_prefix: str, documents: tuple[FakeDocuments, str]
) -> AsyncIterator[ServiceProcess]:
    service = ServiceProcess(
        "extranet",
        {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "DOCUMENTS_URL": documents[1],
            "SIGN_IN_DELAY_SECONDS": str(SIGN_IN_DELAY),
            "SIGN_IN_MAX_FAILURES": "3",
            "SIGN_IN_ACCOUNT_MAX_FAILURES": "5",
            "SIGN_IN_ATTEMPTS_PER_MINUTE": "12",
            "SESSION_SWEEP_SECONDS": "0.5",
            "PORTAL_BASE_URL": "https://portal.example/",
            "ENVIRONMENT": "test",
        },
    ).start()
    try:
        await service.wait_ready()
        yield service
    finally:
        service.stop()


def session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == "portal_session":
            return rest.split(";")[0]
    raise AssertionError(f"no portal_session cookie in {response.headers.get_list('set-cookie')}")


def as_portal_user(cookie: str) -> dict[str, str]:
    # The cookie is Secure, which httpx does not send over http, so the tests send it by hand.
    return {"Cookie": f"portal_session={cookie}"}


async def invite(client: httpx.AsyncClient, company_id: uuid.UUID, email: str) -> dict[str, Any]:
    response = await client.post(f"/companies/{company_id}/invitations", json={"email": email}, headers=STAFF)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_invitation_token_is_single_use(extranet: ServiceProcess, database_url: str) -> None:
    company_id = uuid.uuid4()
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:
        first = await invite(client, company_id, "anna@client.example")
        token = first["token"]
        assert first["accept_url"] == f"https://portal.example/portal/accept?token={token}"

        altered = token[:-1] + ("A" if token[-1] != "A" else "B")
        response = await client.post("/portal/api/accept", json={"token": altered, "password": PASSWORD})
        assert response.status_code == 400
        assert response.json()["code"] == "invitation_rejected"

        response = await client.post("/portal/api/accept", json={"token": token, "password": "short"})
        assert response.status_code == 422
        assert response.json()["field"] == "password"

        response = await client.post("/portal/api/accept", json={"password": PASSWORD})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "body.token"

        accepted = await client.post("/portal/api/accept", json={"token": token, "password": PASSWORD})
        assert accepted.status_code == 201, accepted.text
        cookie_header = next(h for h in accepted.headers.get_list("set-cookie") if h.startswith("portal_session="))
        assert "HttpOnly" in cookie_header
        assert "Secure" in cookie_header
        assert "SameSite=lax" in cookie_header

        reused = await client.post("/portal/api/accept", json={"token": token, "password": PASSWORD})
        assert reused.status_code == 400
        assert "already used" in reused.json()["message"]

        revoked = await invite(client, company_id, "boris@client.example")
        response = await client.post(f"/invitations/{revoked['invitation']['id']}/revoke", headers=STAFF)
        assert response.json()["status"] == "revoked"
        response = await client.post("/portal/api/accept", json={"token": revoked["token"], "password": PASSWORD})
        assert response.status_code == 400
        assert "revoked" in response.json()["message"]

        expired = await invite(client, company_id, "vera@client.example")
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = :id"),
                {"id": uuid.UUID(expired["invitation"]["id"])},
            )
        response = await client.post("/portal/api/accept", json={"token": expired["token"], "password": PASSWORD})
        assert response.status_code == 400
        assert "expired" in response.json()["message"]

        # An expired session is refused at once and deleted by the sweep.
        portal = as_portal_user(session_cookie(accepted))
        assert (await client.get("/portal/api/session", headers=portal)).status_code == 200
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE portal_sessions SET expires_at = now() - interval '1 minute'"))
        assert (await client.get("/portal/api/session", headers=portal)).status_code == 401

        async def swept() -> bool:
            async with engine.connect() as connection:
                remaining = await connection.scalar(text("SELECT count(*) FROM portal_sessions"))
            return bool(remaining == 0)

        await eventually(swept)
        await engine.dispose()


async def test_invitation_as_one_time_link(extranet: ServiceProcess) -> None:
    company_id = uuid.uuid4()
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:
        first = await invite(client, company_id, "link@client.example")
        accepted = await client.post("/portal/api/accept", json={"token": first["token"]})
        assert accepted.status_code == 201, accepted.text
        user_id = accepted.json()["portal_user_id"]
        session = await client.get("/portal/api/session", headers=as_portal_user(session_cookie(accepted)))
        assert session.json()["email"] == "link@client.example"

        # No password was set, so none signs in.
        response = await client.post("/portal/api/sign-in", json={"email": "link@client.example", "password": "!"})
        assert response.status_code == 401

        second = await invite(client, company_id, "link@client.example")
        again = await client.post("/portal/api/accept", json={"token": second["token"]})
        assert again.status_code == 201
        assert again.json()["portal_user_id"] == user_id
        reused = await client.post("/portal/api/accept", json={"token": second["token"]})
        assert reused.status_code == 400

        other_company = await invite(client, uuid.uuid4(), "link@client.example")
        response = await client.post("/portal/api/accept", json={"token": other_company["token"]})
        assert response.status_code == 409


async def test_staff_of_other_department_is_refused(
    servers: Servers, extranet: ServiceProcess, topic_prefix: str
) -> None:
    company_id = uuid.uuid4()
    await publish(servers.kafka, topic_prefix + Topic.CRM_COMPANIES, [company_event(company_id, "Romashka", "sales")])
    sales = {"Authorization": "Bearer " + issue_token(DEVELOPMENT_JWT_KEY, "u-2", department="sales")}
    support = {"Authorization": "Bearer " + issue_token(DEVELOPMENT_JWT_KEY, "u-3", department="support")}
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:

        async def company_known() -> bool:
            return (await client.get(f"/companies/{company_id}/policy", headers=sales)).status_code == 200

        await eventually(company_known)
        refused = await client.put(f"/companies/{company_id}/policy", json={"deals": "all"}, headers=support)
        assert refused.status_code == 403
        assert refused.json()["status"] == "restricted"
        assert (await client.get(f"/companies/{company_id}/audit", headers=support)).status_code == 403
        assert (await client.get(f"/companies/{company_id}/policy")).status_code == 401


async def test_wrong_passwords_slow_down_then_lock(extranet: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:
        invitation = await invite(client, uuid.uuid4(), "lock@client.example")
        accepted = await client.post("/portal/api/accept", json={"token": invitation["token"], "password": PASSWORD})
        assert accepted.status_code == 201

        elapsed = []
        for _ in range(3):
            started = time.monotonic()
            response = await client.post("/portal/api/sign-in", json={"email": "lock@client.example", "password": "x"})
            elapsed.append(time.monotonic() - started)
            assert response.status_code == 401
            assert response.json()["code"] == "sign_in_failed"
        # Each failure in a row waits one more delay step: 0.3 s, 0.6 s, 0.9 s.
        assert elapsed[0] >= SIGN_IN_DELAY
        assert elapsed[1] >= 2 * SIGN_IN_DELAY
        assert elapsed[2] >= 3 * SIGN_IN_DELAY

        locked = await client.post("/portal/api/sign-in", json={"email": "lock@client.example", "password": PASSWORD})
        assert locked.status_code == 429
        assert locked.json()["code"] == "sign_in_locked"
        assert locked.json()["retry_after_seconds"] > 0

        # The lockout is of the guessing address: the user still signs in from another one.
        async with from_address(extranet, "127.0.0.2") as elsewhere:
            signed_in = await elsewhere.post(
                "/portal/api/sign-in", json={"email": "lock@client.example", "password": PASSWORD}
            )
        assert signed_in.status_code == 200, signed_in.text

        unknown = await client.post("/portal/api/sign-in", json={"email": "nobody@client.example", "password": "x"})
        assert unknown.status_code == 401

        # Guessing across many accounts from one address meets the per-address limit instead.
        statuses = []
        for number in range(12):
            response = await client.post(
                "/portal/api/sign-in", json={"email": f"guess{number}@client.example", "password": "x"}
            )
            statuses.append(response.status_code)
        assert statuses[-1] == 429
        assert "this address" in response.json()["message"]

        as_form = await client.post(
            "/portal/api/sign-in",
            content='{"email": "lock@client.example", "password": "x"}',
            headers={"Content-Type": "text/plain"},
        )
        assert as_form.status_code in (403, 422)


def from_address(service: ServiceProcess, address: str) -> httpx.AsyncClient:
    """Return a client whose connections come from ``address``, another loopback address of this machine."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=service.url, transport=transport, timeout=30)


async def test_guessing_from_many_addresses_locks_account(extranet: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:
        invitation = await invite(client, uuid.uuid4(), "spread@client.example")
        accepted = await client.post("/portal/api/accept", json={"token": invitation["token"], "password": PASSWORD})
        assert accepted.status_code == 201

    # Three wrong passwords lock out 127.0.0.2; two more from 127.0.0.3 reach the account-wide five.
    for address, attempts in (("127.0.0.2", 3), ("127.0.0.3", 2)):
        async with from_address(extranet, address) as guesser:
            for _ in range(attempts):
                wrong = await guesser.post(
                    "/portal/api/sign-in", json={"email": "spread@client.example", "password": "x"}
                )
                assert wrong.status_code == 401

    async with from_address(extranet, "127.0.0.4") as owner:
        locked = await owner.post("/portal/api/sign-in", json={"email": "spread@client.example", "password": PASSWORD})
    assert locked.status_code == 429
    assert "for this account" in locked.json()["message"]


async def test_portal_sees_preview_and_revocation(
    servers: Servers, extranet: ServiceProcess, topic_prefix: str, documents: tuple[FakeDocuments, str]
) -> None:
    fake, _url = documents
    company_a, company_b = uuid.uuid4(), uuid.uuid4()
    deal_a, deal_b = uuid.uuid4(), uuid.uuid4()
    task_shown, task_hidden = uuid.uuid4(), uuid.uuid4()
    document_id, draft, published = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    file_a, file_b = uuid.uuid4(), uuid.uuid4()
    fake.add("versions", published, b"%PDF signed contract")
    fake.add("versions", draft, b"%PDF draft with comments")
    fake.add("files", file_a, b"shared brief")
    fake.add("files", file_b, b"other client's file")

    bootstrap = servers.kafka
    await publish(bootstrap, topic_prefix + Topic.CRM_COMPANIES, [company_event(company_a, "Romashka")])
    await publish(
        bootstrap,
        topic_prefix + Topic.CRM_DEALS,
        [
            deal_event(deal_a, company_a, stage_name="Proposal sent", amount=Decimal("5000")),
            deal_event(deal_b, company_b),
        ],
    )
    await publish(
        bootstrap,
        topic_prefix + Topic.TASKS_TASKS,
        [
            task_event(task_shown, company_a, public_text="Mock-ups approved"),
            task_event(task_hidden, company_a, visible_to_client=False),
        ],
    )
    versions = [version_state(draft, 1, "contract-v1.pdf"), version_state(published, 2, "contract-v2.pdf")]
    await publish(
        bootstrap,
        topic_prefix + Topic.DOCUMENTS_DOCUMENTS,
        [document_event(document_id, company_a, versions, [published])],
    )
    await publish(
        bootstrap, topic_prefix + Topic.DOCUMENTS_FILES, [file_event(file_a, company_a), file_event(file_b, company_b)]
    )

    policy = {
        "deals": "all",
        "deal_fields": {"stage": True, "amount": False},
        "tasks": True,
        "documents": True,
        "files": True,
    }
    async with httpx.AsyncClient(base_url=extranet.url, timeout=30) as client:

        async def all_consumed() -> bool:
            # The policy is set again on each try, since it rebuilds from what has arrived so far.
            response = await client.put(f"/companies/{company_a}/policy", json=policy, headers=STAFF)
            assert response.status_code == 200, response.text
            view = (await client.get(f"/companies/{company_a}/preview", headers=STAFF)).json()
            return bool(view["deals"] and view["tasks"] and view["documents"] and view["files"])

        await eventually(all_consumed)

        bad = await client.put(f"/companies/{company_a}/policy", json={"deals": "chosen"}, headers=STAFF)
        assert bad.status_code == 422
        assert "deal_ids" in bad.json()["message"]

        diff = await client.post(
            f"/companies/{company_a}/policy/preview",
            json={**policy, "deal_fields": {"stage": True, "amount": True}},
            headers=STAFF,
        )
        assert diff.status_code == 200
        assert diff.json()["newly_exposed_fields"] == [f"deal {deal_a}: amount", f"deal {deal_a}: currency"]
        assert diff.json()["hidden"] == []

        preview = (await client.get(f"/companies/{company_a}/preview", headers=STAFF)).json()
        invitation = await invite(client, company_a, "anna@romashka.example")
        accepted = await client.post("/portal/api/accept", json={"token": invitation["token"], "password": PASSWORD})
        portal = as_portal_user(session_cookie(accepted))

        share = await client.get(f"/companies/{company_a}/share-preview?kind=file", headers=STAFF)
        assert share.json()["exposed"] is True
        assert share.json()["portal_users"] == ["anna@romashka.example"]
        share = await client.get(f"/companies/{company_a}/share-preview?kind=draft", headers=STAFF)
        assert share.status_code == 422
        assert share.json()["errors"][0]["field"] == "query.kind"

        seen = (await client.get("/portal/api/view", headers=portal)).json()
        assert seen == preview
        assert [deal["id"] for deal in seen["deals"]] == [str(deal_a)]
        assert seen["deals"][0]["stage_name"] == "Proposal sent"
        assert seen["deals"][0]["amount"] is None
        assert [task["id"] for task in seen["tasks"]] == [str(task_shown)]
        assert [version["id"] for version in seen["documents"]] == [str(published)]
        assert [file["id"] for file in seen["files"]] == [str(file_a)]

        download = await client.get(f"/portal/versions/{published}/download", headers=portal)
        assert download.status_code == 200
        assert download.content == b"%PDF signed contract"
        assert "contract-v2.pdf" in download.headers["content-disposition"]
        assert fake.requests[-1][1] is not None
        assert (await client.get(f"/portal/versions/{draft}/download", headers=portal)).status_code == 404
        assert (await client.get(f"/portal/files/{file_b}/download", headers=portal)).status_code == 404
        assert (await client.get(f"/portal/files/{file_a}/download", headers=portal)).status_code == 200

        # A download whose content cannot be fetched fails and is not audited as downloaded.
        stored = fake.contents.pop(f"/files/{file_a}/content")
        failed = await client.get(f"/portal/files/{file_a}/download", headers=portal)
        fake.contents[f"/files/{file_a}/content"] = stored
        assert failed.status_code == 502
        audit = (await client.get(f"/companies/{company_a}/audit", headers=STAFF)).json()["items"]
        file_downloads = [
            entry for entry in audit if entry["action"] == "downloaded" and entry["object_id"] == str(file_a)
        ]
        assert len(file_downloads) == 1

        await publish(
            bootstrap, topic_prefix + Topic.DOCUMENTS_FILES, [file_event(file_a, company_a, version=2, shared=False)]
        )

        async def unshared() -> bool:
            response = await client.get(f"/portal/files/{file_a}/download", headers=portal)
            return response.status_code == 404

        await eventually(unshared)

        audit = (await client.get(f"/companies/{company_a}/audit", headers=STAFF)).json()["items"]
        downloads = {(entry["object_type"], entry["object_id"]) for entry in audit if entry["action"] == "downloaded"}
        assert ("document_version", str(published)) in downloads
        assert ("file", str(file_a)) in downloads
        assert any(entry["action"] == "viewed" for entry in audit)

        sign_out = await client.post("/portal/sign-out", headers=portal)
        assert sign_out.status_code == 403

        user_id = accepted.json()["portal_user_id"]
        revoked = await client.post(f"/portal-users/{user_id}/revoke", headers=STAFF)
        assert revoked.json()["status"] == "revoked"
        assert (await client.get("/portal/api/view", headers=portal)).status_code == 401
        assert (await client.get(f"/portal/versions/{published}/download", headers=portal)).status_code == 401

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from servicekit.http import install_conventions, reject_nul_characters
from servicekit.request_limits import accepts_nul_characters, own_body_limit

pytestmark = pytest.mark.unit


class Note(BaseModel):
    title: str
    tags: list[str] = []


LIMIT = 4096


def make_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(reject_nul_characters)])
    install_conventions(app, "test", max_request_bytes=LIMIT)

    @app.post("/notes")
    async def post_note(note: Note) -> Note:
        return note

    @app.post("/raw")
    async def post_raw(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/notes/{note_id}")
    async def get_note(note_id: str, owner_id: str | None = None) -> dict[str, str | None]:
        return {"note_id": note_id, "owner_id": owner_id}

    @app.post("/raw-requests/{key}")
    @own_body_limit
    @accepts_nul_characters
    async def post_raw_request(request: Request, key: str) -> dict[str, str]:
        body = await request.body()
        return {"key": key, "query": str(request.query_params), "body": body.decode()}

    @app.post("/uploads")
    @own_body_limit
    async def post_upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/database-down")
    async def database_down() -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    return app


async def post(app: FastAPI, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post(path, **kwargs)  # type: ignore[arg-type]


async def test_nul_in_json_names_the_field() -> None:
    response = await post(make_app(), "/notes", json={"title": "ok", "tags": ["a", "b\x00c"]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.tags.1", "reason": "contains a NUL character, which cannot be stored"}
    ]


@pytest.mark.parametrize(
    ("path", "field", "reason"),
    [
        ("/notes/n1?owner_id=%00", "query.owner_id", "contains a NUL character, which cannot be stored"),
        ("/notes/n1?owner_id=u1&owner_id=a%00b", "query.owner_id", "contains a NUL character, which cannot be stored"),
        ("/notes/n%001", "path.note_id", "contains a NUL character, which cannot be stored"),
        (
            "/notes/n1?own%00er_id=u1",
            "query.owner_id",
            "the parameter name contains a NUL character, which cannot be stored",
        ),
    ],
)
async def test_nul_in_parameter_is_422(path: str, field: str, reason: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://test") as client:
        response = await client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert response.json()["errors"] == [{"field": field, "reason": reason}]
    assert response.json()["message"].startswith(f"invalid request: {field}: ")


async def test_clean_parameters_pass() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://test") as client:
        response = await client.get("/notes/n1?owner_id=%D0%90%201")
    assert response.status_code == 200
    assert response.json() == {"note_id": "n1", "owner_id": "А 1"}


async def test_route_accepting_nul_passes() -> None:
    body = b'{"name": "a\\u0000b"}'
    headers = {"Content-Type": "application/json"}
    response = await post(make_app(), "/raw-requests/k%00?token=%00", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"key": "k\x00", "query": "token=%00", "body": body.decode()}


async def test_clean_json_passes() -> None:
    response = await post(make_app(), "/notes", json={"title": "Привет 😊"})
    assert response.status_code == 200
    assert response.json()["title"] == "Привет 😊"


async def test_unexpected_error_is_json_500() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(), raise_app_exceptions=False), base_url="http://test"
    ) as client:
        response = await client.get("/boom", headers={"X-Correlation-ID": "corr-1"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.json()["correlation_id"] == "corr-1"


async def test_unreachable_server_is_json_503() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(), raise_app_exceptions=False), base_url="http://test"
    ) as client:
        response = await client.get("/database-down", headers={"X-Correlation-ID": "corr-2"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "unavailable"
    assert response.json()["correlation_id"] == "corr-2"
    assert response.headers["X-Correlation-ID"] == "corr-2"


async def test_malformed_json_uses_project_error_shape() -> None:
    response = await post(make_app(), "/notes", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


class CountingBody:
    """A chunked request body of ``chunks`` chunks of 1 KiB that counts how many were sent."""

    def __init__(self, chunks: int, first: bytes = b'{"title": "x"') -> None:
        self.chunks = chunks
        self.first = first
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunks):
            self.sent += 1
            yield self.first if index == 0 else b" " * 1024


async def test_declared_length_over_limit_is_413() -> None:
    body = b'{"title": "x"' + b" " * LIMIT + b"}"
    response = await post(make_app(), "/notes", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["max_bytes"] == LIMIT
    assert f"{len(body)} bytes exceeds the limit of {LIMIT} bytes" in response.json()["message"]
    assert response.headers["X-Correlation-ID"]


async def test_chunked_json_stops_at_limit() -> None:
    body = CountingBody(1000)
    response = await post(make_app(), "/notes", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["max_bytes"] == LIMIT
    assert body.sent <= LIMIT // 1024 + 2, f"{body.sent} chunks of 1 KiB were read past a limit of {LIMIT} bytes"


async def test_chunked_nul_check_stops_at_limit() -> None:
    body = CountingBody(1000, first=b'{"title": "\\u0000"')
    response = await post(make_app(), "/raw", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert body.sent <= LIMIT // 1024 + 2, f"{body.sent} chunks of 1 KiB were read past a limit of {LIMIT} bytes"


async def test_chunked_body_within_limit_passes() -> None:
    body = CountingBody(3)
    response = await post(make_app(), "/raw", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert response.json() == {"size": 13 + 2 * 1024}


async def test_own_body_limit_route_is_not_counted() -> None:
    body = b"\x00" * (LIMIT * 4)
    headers = {"Content-Type": "application/json"}
    declared = await post(make_app(), "/uploads", content=body, headers=headers)
    chunked = await post(make_app(), "/uploads", content=CountingBody(20), headers=headers)
    assert declared.status_code == 200
    assert declared.json() == {"size": LIMIT * 4}
    assert chunked.status_code == 200
    assert chunked.json() == {"size": 13 + 19 * 1024}

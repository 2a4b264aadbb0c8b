import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from servicekit.http import install_conventions, reject_nul_characters

pytestmark = pytest.mark.unit


class Note(BaseModel):
    title: str
    tags: list[str] = []


def make_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(reject_nul_characters)])
    install_conventions(app, "test")

    @app.post("/notes")
    async def post_note(note: Note) -> Note:
        return note

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

"""A small synchronous client of the running services for the demo: one staff token, JSON in and out."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from servicekit import devstack

T = TypeVar("T")


def service_url(name: str) -> str:
    """Return a service's base URL: ``CLIENTWORK_<NAME>_URL`` when set, else its port from ``clientwork stack``."""
    return os.environ.get(f"CLIENTWORK_{name.upper()}_URL", devstack.service_url(name)).rstrip("/")


class DemoError(Exception):
    """A service returned an unexpected status to the demo."""


class Api:
    """Calls the services on their demo ports with a staff bearer token."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client = client
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}

    def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; raise ``DemoError`` with the body when the status is not in ``expect``."""
        response = self.client.request(
            method, service_url(service) + path, headers={**self.auth, **(headers or {})}, **kwargs
        )
        if response.status_code not in expect:
            raise DemoError(f"{method} {service}{path} returned HTTP {response.status_code}: {response.text[:500]}")
        return response

    def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return self.call("GET", service, path, **kwargs).json()

    def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", service, path, json=body, **kwargs).json()

    def put(self, service: str, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PUT", service, path, json=body, **kwargs).json()

    def patch(self, service: str, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PATCH", service, path, json=body, **kwargs).json()


def poll(check: Callable[[], T | None], seconds: float = 60, interval: float = 0.3) -> T | None:
    """Call ``check`` until it returns something other than None or False, for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def find_by(items: list[dict[str, Any]], **fields: Any) -> dict[str, Any] | None:
    """Return the first item whose fields equal ``fields``."""
    for item in items:
        if all(item.get(key) == value for key, value in fields.items()):
            return item
    return None

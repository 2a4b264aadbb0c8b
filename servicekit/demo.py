"""Demo: sample inquiries go through intake, become deals in CRM and are found by search."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import httpx

from servicekit.auth import issue_token
from servicekit.devstack import service_url
from servicekit.settings import ServiceSettings

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "intake"


@dataclass
class Submission:
    label: str
    form_key: str
    content_type: str
    body: bytes
    search_text: str


def _submissions() -> list[Submission]:
    submissions = []
    html_form = SAMPLES / "RI-08_html_form_utf8.urlencoded"
    if html_form.exists():
        submissions.append(
            Submission(
                "browser form (shared sample)",
                "website-contact",
                "application/x-www-form-urlencoded",
                html_form.read_bytes(),
                "Тестов-Щукин",
            )
        )
    legacy_body = urlencode(
        {"name": "Мария Тестова", "phone": "8 999 000-00-11", "email": "maria@example.com"}, encoding="windows-1251"
    ).encode("ascii")
    submissions.append(
        Submission(
            "windows-1251 legacy form",
            "legacy-page",
            "application/x-www-form-urlencoded; charset=windows-1251",
            legacy_body,
            "Тестова",
        )
    )
    submissions.append(
        Submission(
            "JSON API client",
            "api",
            "application/json",
            '{"name": "Ivan Example 🚀", "phone": 79990000012, "email": "Ivan@Example.org"}'.encode(),
            "Ivan Example",
        )
    )
    return submissions


def _poll_items(
    client: httpx.Client, url: str, params: dict[str, str], headers: dict[str, str]
) -> list[dict[str, str]]:
    """Repeat a list request until it returns items, for up to 30 seconds."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items: list[dict[str, str]] = client.get(url, params=params, headers=headers).json()["items"]
        if items:
            return items
        time.sleep(0.3)
    return []


def _configure_forms(client: httpx.Client, auth: dict[str, str], keys: set[str]) -> None:
    """Give each demo form its settings in intake; intake returns 404 for a form it does not know."""
    for key in sorted(keys):
        url = f"{service_url('intake')}/staff/forms/{key}"
        if client.get(url, headers=auth).status_code == 404:
            client.put(url, json={"title": key}, headers=auth).raise_for_status()


def _search(client: httpx.Client, text: str, auth: dict[str, str]) -> list[dict[str, str]]:
    items: list[dict[str, str]] = client.get(
        f"{service_url('search')}/search", params={"q": text, "types": "deal"}, headers=auth
    ).json()["items"]
    return items


def _outcome(client: httpx.Client, request_id: str, auth: dict[str, str]) -> str:
    """Wait until intake has processed the request; return its status, with the reason unless accepted."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = client.get(f"{service_url('intake')}/requests/{request_id}", headers=auth).json()
        if stored.get("status") == "accepted":
            return "accepted"
        if stored.get("status") not in (None, "received"):
            return f"{stored['status']} ({stored.get('reason')})"
        time.sleep(0.3)
    return "still being processed"


def _finds(client: httpx.Client, text: str, deal_id: str, auth: dict[str, str]) -> bool:
    return deal_id in {hit["id"] for hit in _search(client, text, auth)}


def _poll_until(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Repeat ``check`` until it is true, for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def run_demo() -> None:
    """Post each sample, follow it to a deal and a search hit, and print one line per sample."""
    settings = ServiceSettings(service_name="demo")
    token = issue_token(settings.jwt_secret_key.get_secret_value(), "demo-admin", name="Demo admin", roles=["admin"])
    auth = {"Authorization": f"Bearer {token}"}
    print("\nsample                        answer    deal, or the outcome if none          searchable")
    with httpx.Client(timeout=10) as client:
        _configure_forms(client, auth, {submission.form_key for submission in _submissions()})
        for submission in _submissions():
            answer = client.post(
                f"{service_url('intake')}/forms/{submission.form_key}",
                content=submission.body,
                headers={"Content-Type": submission.content_type, "Idempotency-Key": str(uuid.uuid4())},
            )
            request_id = answer.json().get("request_id", "")
            outcome = _outcome(client, request_id, auth)
            if outcome != "accepted":
                # A repeated demo run within intake's double-submit window is ignored as a duplicate.
                print(f"{submission.label:29} {answer.status_code:<9} {outcome:37} -")
                continue
            deals = _poll_items(client, f"{service_url('crm')}/deals", {"request_id": request_id}, auth)
            deal_id = deals[0]["id"] if deals else "not created"
            found = _poll_until(partial(_finds, client, submission.search_text, deal_id, auth))
            print(f"{submission.label:29} {answer.status_code:<9} {deal_id:37} {'yes' if found else 'no'}")
    print(f"\nCRM API: {service_url('crm')}/docs   search API: {service_url('search')}/docs")
    print("a staff token for trying the APIs: .venv/bin/clientwork token --user demo --role admin")

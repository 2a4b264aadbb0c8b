"""Demo step: configure intake's forms and channels, replay every vendor payload, and follow each to CRM."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servicekit.demo.api import Api, find_by, poll
from services.intake.samples import (
    BUILT_CHANNELS,
    CHANNELS,
    DEMO_FORM,
    Sample,
    built_payloads,
    load_samples,
    signed_headers,
)

#: The pipeline that the demo form's rule routes B2B inquiries to; CRM has only "sales" on a fresh database.
B2B_PIPELINE: dict[str, Any] = {
    "key": "b2b",
    "name": "B2B",
    "stages": [
        {"name": "Qualification"},
        {"name": "Proposal"},
        {"name": "Won", "semantics": "won"},
        {"name": "Lost", "semantics": "lost"},
    ],
}


@dataclass
class SampleOutcome:
    """Outcome of one replayed payload."""

    name: str
    file: str
    http_status: int
    status: str = "received"
    deal_id: str | None = None
    pipeline: str | None = None
    note: str = ""


def ensure_pipeline(api: Api, pipeline: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create ``pipeline`` in CRM unless its key exists; return it and whether it already existed."""
    existing = find_by(api.get("crm", "/pipelines")["items"], key=pipeline["key"])
    if existing is not None:
        return existing, True
    created: dict[str, Any] = api.post("crm", "/pipelines", pipeline)
    return created, False


def configure_intake(api: Api) -> list[str]:
    """Put the demo form and every channel into intake; return one line per record saying if it existed."""
    lines = []
    records = [("forms", "demo-requests", DEMO_FORM)]
    records += [("channels", key, channel) for key, channel in {**CHANNELS, **BUILT_CHANNELS}.items()]
    for kind, key, body in records:
        path = f"/staff/{kind}/{key}"
        existed = api.call("GET", "intake", path, expect=(200, 404)).status_code == 200
        api.put("intake", path, body)
        lines.append(f"intake {kind[:-1]} {key}: {'already existed, settings refreshed' if existed else 'created'}")
    return lines


def replay_payloads(api: Api, samples_dir: Path) -> list[SampleOutcome]:
    """Post every payload as its vendor would, then wait for each outcome and deal."""
    secrets = {key: str(channel["secret"]) for key, channel in {**CHANNELS, **BUILT_CHANNELS}.items()}
    # Without the sample folder the demo still replays the payloads it builds itself.
    files = load_samples(samples_dir) if samples_dir.is_dir() else {}
    payloads = {**files, **built_payloads()}
    posted = [(_post(api, name, sample, secrets), sample) for name, sample in payloads.items()]
    pipelines = {item["id"]: item["key"] for item in api.get("crm", "/pipelines")["items"]}
    return [_follow(api, outcome, request_id, pipelines) for (outcome, request_id), _sample in posted]


def _post(api: Api, name: str, sample: Sample, secrets: dict[str, str]) -> tuple[SampleOutcome, str]:
    # The vendor's own headers, with every signature or token computed from the demo's channel secret.
    response = api.call(
        "POST", "intake", sample.path, content=sample.body, headers=signed_headers(sample, secrets), expect=(200, 202)
    )
    return SampleOutcome(name, sample.file, response.status_code), str(response.json()["request_id"])


def _follow(api: Api, outcome: SampleOutcome, request_id: str, pipelines: dict[str, str]) -> SampleOutcome:
    view = poll(lambda: _processed(api, request_id), seconds=60)
    if view is None:
        outcome.note = f"request {request_id} is still waiting for intake's processor"
        return outcome
    outcome.status = view["status"]
    if outcome.status != "accepted":
        outcome.note = _reason(api, view)
        return outcome
    deal = poll(lambda: _deal_of(api, request_id), seconds=60)
    if deal is None:
        outcome.note = f"accepted as request {request_id}, but CRM has no deal for it yet"
        return outcome
    outcome.deal_id = str(deal["id"])
    outcome.pipeline = pipelines.get(deal["pipeline_id"], str(deal["pipeline_id"]))
    return outcome


def _processed(api: Api, request_id: str) -> dict[str, Any] | None:
    view: dict[str, Any] = api.get("intake", f"/requests/{request_id}")
    return view if view.get("status") != "received" else None


def _deal_of(api: Api, request_id: str) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = api.get("crm", "/deals", params={"request_id": request_id})["items"]
    return items[0] if items else None


def _reason(api: Api, view: dict[str, Any]) -> str:
    """Say why a request made no deal; for a repeat, name the request and deal it repeats."""
    reason = f"{view['status']}: {view.get('reason')}"
    original = view.get("duplicate_of")
    if view.get("reason") != "duplicate" or not original:
        return f"{reason} ({view.get('outcome') or 'no detail'})"
    first: dict[str, Any] = api.get("intake", f"/requests/{original}")
    deal = first.get("deal_id") or "none"
    return f"{reason}, already received as request {original} (deal {deal})"

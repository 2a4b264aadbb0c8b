"""Demo step: the closed loop of a deal and a task, from the task's creation to the cleared marker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from servicekit.demo.api import Api, DemoError, poll

TASK_OWNER = "u-anna"


def run_closed_loop(api: Api, deal: dict[str, Any]) -> list[str]:
    """Create a task from the deal, complete and accept it, see the deal's marker, and clear it."""
    steps = []
    task = poll(lambda: _create_task(api, deal["id"]), seconds=60)
    if task is None:
        raise DemoError(
            f"timed out after 60 s: tasks still rejects deal {deal['id']}; check that tasks consumes crm.deals"
        )
    steps.append(
        f"task {task['id']} created from the deal: owner {task['owner_id']}, due {task['due_at']}, "
        f"client {task['client']['company']['name']!r}"
    )

    result = {"result": {"text": "The client approved the sitemap and the budget."}}
    api.post("tasks", f"/tasks/{task['id']}/complete", result)
    steps.append("task completed with the result: the client approved the sitemap and the budget")
    accepted = api.post("tasks", f"/tasks/{task['id']}/accept")
    steps.append(f"task accepted by its creator (status {accepted['status']})")

    if poll(lambda: _has_marker(api, deal["id"]), seconds=60) is None:
        raise DemoError(
            f"timed out after 60 s: deal {deal['id']} has no task_result marker; check that CRM consumes tasks.tasks"
        )
    timeline = api.get("crm", f"/deals/{deal['id']}/timeline")["items"]
    linked = {"service": "tasks", "path": f"/tasks/{task['id']}"} in [entry.get("link") for entry in timeline]
    steps.append(f"the deal shows the task_result marker; its timeline links the task: {'yes' if linked else 'no'}")

    api.post(
        "crm", f"/deals/{deal['id']}/comments", {"text": "Discussed the approved sitemap; preparing the proposal."}
    )
    if _has_marker(api, deal["id"]):
        raise DemoError(f"a comment on deal {deal['id']} did not clear the task_result marker")
    steps.append("a comment on the deal cleared the marker")
    return steps


def _create_task(api: Api, deal_id: str) -> dict[str, Any] | None:
    """Create the task; tasks returns 422 until its projection of crm.deals has the deal."""
    body = {
        "title": "Agree on the sitemap with the client",
        "owner_id": TASK_OWNER,
        "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "expected_result": "A sitemap and a budget approved by the client",
        "client": {"deal_id": deal_id},
    }
    response = api.call(
        "POST", "tasks", "/tasks", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, expect=(201, 422)
    )
    task: dict[str, Any] = response.json()
    return task if response.status_code == 201 else None


def _has_marker(api: Api, deal_id: str) -> bool:
    deal: dict[str, Any] = api.get("crm", f"/deals/{deal_id}")
    return any(marker["kind"] == "task_result" for marker in deal["markers"])

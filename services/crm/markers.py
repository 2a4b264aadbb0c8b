"""Attention markers of open deals, computed from a deal's facts without I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.crm import DealMarker


@dataclass(frozen=True)
class DealFacts:
    """Facts of one deal that its markers depend on."""

    is_open: bool
    now: datetime
    next_step: str | None
    next_step_due_at: datetime | None
    has_open_task: bool
    stage_entered_at: datetime
    stage_max_days: int | None
    attention_task_id: uuid.UUID | None
    attention_since: datetime | None
    #: Snoozed marker kinds and the time each snooze ends.
    snoozed_until: dict[str, datetime] = field(default_factory=dict)


def compute_markers(facts: DealFacts) -> list[DealMarker]:
    """Return the markers in force and not snoozed, in a fixed order; a closed deal has none."""
    if not facts.is_open:
        return []
    found: list[DealMarker] = []
    if facts.attention_task_id is not None:
        found.append(DealMarker(kind="task_result", since=facts.attention_since, task_id=facts.attention_task_id))
    if not facts.next_step and not facts.has_open_task:
        found.append(DealMarker(kind="no_next_step"))
    if facts.next_step and facts.next_step_due_at is not None and facts.next_step_due_at < facts.now:
        found.append(DealMarker(kind="next_step_overdue", since=facts.next_step_due_at))
    if facts.stage_max_days is not None:
        limit = facts.stage_entered_at + timedelta(days=facts.stage_max_days)
        if limit < facts.now:
            found.append(DealMarker(kind="stale_in_stage", since=limit))
    return [marker for marker in found if not _snoozed(facts, marker.kind)]


def _snoozed(facts: DealFacts, kind: str) -> bool:
    until = facts.snoozed_until.get(kind)
    return until is not None and facts.now < until

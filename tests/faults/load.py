"""A load generator of form submissions that retries like a real client, with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

logger = logging.getLogger(__name__)

FORM_KEY = "fault-load"
#: A surname in every submission's name, so one search query finds all deals of the load.
LOAD_SURNAME = "Отказова"
#: The unique marker of a submission, which ends up in its deal's title.
MARKER_PATTERN = re.compile(r"\bfl[0-9a-f]{12}\b")
#: The form the generator posts to: no rate limit, and a new deal for every submission.
FORM_CONFIG = {
    "title": "Fault suite load",
    "rate_limit_per_minute": None,
    "repeat_inquiry": "new",
}


@dataclass
class Submission:
    """One logical submission: a unique marker and e-mail, sent until intake responds with 2xx or time runs out."""

    marker: str
    attempts: int = 0
    status: int | None = None
    request_id: str | None = None
    last_error: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.request_id is not None

    @property
    def email(self) -> str:
        return f"{self.marker}@faults.example"

    def body(self) -> bytes:
        fields = {
            "name": f"Ольга {LOAD_SURNAME} {self.marker}",
            "email": self.email,
            "message": f"Заявка {self.marker} отправлена во время сбоя",
        }
        return urlencode(fields).encode("utf-8")


@dataclass
class LoadGenerator:
    """Posts submissions at ``rate_per_second`` until stopped or ``max_seconds`` pass, whichever is first.

    A submission is retried on a connection error or a 5xx response with the same Idempotency-Key, so
    intake counts it once, for at most ``retry_seconds``. A 4xx response is final.
    """

    intake_url: str
    rate_per_second: float = 4.0
    max_seconds: float = 600.0
    retry_seconds: float = 120.0
    retry_pause_seconds: float = 1.0
    submissions: list[Submission] = field(default_factory=list)
    _tasks: list[asyncio.Task[Submission]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Send submissions until ``stop`` is set, then wait for the ones still retrying."""
        interval = 1.0 / self.rate_per_second
        deadline = time.monotonic() + self.max_seconds
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                self._tasks.append(asyncio.create_task(self.submit(client)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
            await asyncio.gather(*self._tasks)

    async def submit(self, client: httpx.AsyncClient) -> Submission:
        """Send one new submission until intake responds with 2xx or 4xx, or ``retry_seconds`` pass."""
        submission = Submission(marker="fl" + uuid.uuid4().hex[:12])
        self.submissions.append(submission)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": submission.marker}
        deadline = time.monotonic() + self.retry_seconds
        while True:
            submission.attempts += 1
            try:
                response = await client.post(
                    f"{self.intake_url}/forms/{FORM_KEY}", content=submission.body(), headers=headers
                )
            except httpx.TransportError as exc:
                submission.last_error = repr(exc)
            else:
                submission.status = response.status_code
                if response.status_code < 500:
                    if response.is_success:
                        submission.request_id = response.json()["request_id"]
                    else:
                        submission.last_error = response.text[:500]
                    return submission
                submission.last_error = response.text[:500]
            if time.monotonic() >= deadline:
                logger.warning("submission %s gave up after %s attempts", submission.marker, submission.attempts)
                return submission
            await asyncio.sleep(self.retry_pause_seconds)

    def counts(self) -> dict[str, int]:
        accepted = [item for item in self.submissions if item.accepted]
        return {
            "submitted": len(self.submissions),
            "accepted": len(accepted),
            "rejected_4xx": sum(1 for item in self.submissions if item.status is not None and 400 <= item.status < 500),
            "unanswered": sum(1 for item in self.submissions if not item.accepted and not item.status),
            "gave_up_after_5xx": sum(1 for item in self.submissions if item.status is not None and item.status >= 500),
            "retried": sum(1 for item in self.submissions if item.attempts > 1),
        }

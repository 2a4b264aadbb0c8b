"""A sliding-window rate limit per client address, kept in the process's memory."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Addresses tracked at most; beyond it the oldest-seen addresses are forgotten, which bounds memory.
MAX_TRACKED_KEYS = 10_000


class SlidingWindowLimiter:
    """Allows ``max_events`` per key within ``window_seconds``.

    NOTE: each process counts on its own, so several extranet processes behind one address allow
    that many times more attempts. The per-account lockout in the database is shared by all of them.
    """

    def __init__(self, max_events: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_events = max_events
        self._window = window_seconds
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Count one event of ``key``; return None if allowed, else the seconds until the next is allowed."""
        now = self._clock()
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= now - self._window:
            events.popleft()
        # Reinserting moves the key to the end, so the first keys of the dict are the least recent.
        self._events[key] = events
        if len(self._events) > MAX_TRACKED_KEYS:
            del self._events[next(iter(self._events))]
        if len(events) >= self._max_events:
            return events[0] + self._window - now
        events.append(now)
        return None

"""The per-address sign-in rate limit."""

from __future__ import annotations

import pytest

from services.extranet.ratelimit import MAX_TRACKED_KEYS, SlidingWindowLimiter

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_rejects_over_limit_until_window_passes() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock)
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, None]

    clock.now += 10
    assert limiter.hit("10.0.0.1") == pytest.approx(50.0)
    assert limiter.hit("10.0.0.2") is None

    clock.now += 50
    assert limiter.hit("10.0.0.1") is None


def test_limiter_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, 60.0, FakeClock())
    for number in range(MAX_TRACKED_KEYS + 5):
        limiter.hit(f"address-{number}")
    assert len(limiter._events) == MAX_TRACKED_KEYS
    # The oldest address was forgotten, so it is allowed again.
    assert limiter.hit("address-0") is None

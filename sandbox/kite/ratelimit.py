"""Kite's order-rate limits: per calendar second, minute and day of the server's wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class OrderRateLimiter:
    """``allow()`` counts one order request, or returns False when a window is full (Kite: 429)."""

    def __init__(
        self, per_second: int, per_minute: int, per_day: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = ((1, per_second), (60, per_minute), (86_400, per_day))
        self.clock = clock
        self._windows: list[tuple[int, int]] = [(-1, 0)] * len(self.limits)
        self.refused = 0

    def allow(self) -> bool:
        now = self.clock()
        current = []
        for (length, limit), (window, count) in zip(self.limits, self._windows, strict=True):
            w = int(now // length)
            n = count if w == window else 0
            if n >= limit:
                self.refused += 1
                return False
            current.append((w, n))
        self._windows = [(w, n + 1) for w, n in current]
        return True

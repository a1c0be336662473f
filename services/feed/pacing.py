"""Map event time to wall time at ``data.speed`` (1 = real time, "max" = no waiting)."""

from __future__ import annotations

import time


class Pacer:
    """Sleeps so that event time advances ``speed`` times faster than the wall clock.

    It anchors at the first event of each session, so the overnight gap between two
    simulated sessions is skipped rather than waited out.
    """

    def __init__(self, speed: float | str) -> None:
        self.speed = None if speed == "max" else float(speed)
        self._anchor_event = 0
        self._anchor_wall = 0.0

    def anchor(self, ts_event: int) -> None:
        self._anchor_event = ts_event
        self._anchor_wall = time.monotonic()

    def delay(self, ts_event: int) -> float:
        """Seconds to wait before publishing an event at ``ts_event`` (0 when late or at max speed)."""
        if self.speed is None:
            return 0.0
        due = self._anchor_wall + (ts_event - self._anchor_event) / 1e9 / self.speed
        return max(0.0, due - time.monotonic())

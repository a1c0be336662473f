"""Session VWAP on the typical price, reset at each new IST day."""

from __future__ import annotations

from typing import Final

import numpy as np

from shared.clock import IST_OFFSET_NS, NS
from shared.indicators._common import NAN, as_floats

DAY_NS: Final = 86_400 * NS


class SessionVwap:
    """Incremental VWAP of the IST day: ``update(high, low, close, volume, ts_ns)`` is O(1).

    ``VWAP = sum(tp * volume) / sum(volume)`` over the bars of the day with
    ``tp = (high + low + close) / 3``; a bar whose ``ts_ns`` (pass the bar's ``ts_open``)
    falls on a new IST day starts a new session. NaN while the session has no volume
    (an index has none at all).
    """

    __slots__ = ("day", "pv", "value", "volume")

    def __init__(self) -> None:
        self.day = -1
        self.pv = 0.0
        self.volume = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.volume > 0

    def update(self, high: float, low: float, close: float, volume: float, ts_ns: int) -> float:
        """Add one bar; return the session VWAP (NaN until the session has volume)."""
        day = (ts_ns + IST_OFFSET_NS) // DAY_NS
        if day != self.day:
            self.day = day
            self.pv = 0.0
            self.volume = 0.0
            self.value = NAN
        if volume > 0:
            self.pv += (high + low + close) / 3.0 * volume
            self.volume += volume
            self.value = self.pv / self.volume
        return self.value


def session_vwap(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, ts_ns: np.ndarray
) -> np.ndarray:
    """Session VWAP per bar (same numbers as ``SessionVwap``); ``ts_ns``: each bar's open, epoch ns."""
    highs, lows, closes, volumes = as_floats("session_vwap", high, low, close, volume)
    times = np.asarray(ts_ns, dtype=np.int64).tolist()
    if len(times) != len(closes):
        raise ValueError(f"session_vwap: ts_ns has {len(times)} entries, prices {len(closes)}")
    state = SessionVwap()
    return np.array(
        [state.update(*row) for row in zip(highs, lows, closes, volumes, times, strict=True)], dtype=np.float64
    )

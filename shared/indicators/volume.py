"""Relative volume (bar volume over the mean of the previous N bars) and volume spikes."""

from __future__ import annotations

from collections import deque
from typing import Final

import numpy as np

from shared.indicators._common import NAN, as_floats, check_period

DEFAULT_BARS: Final = 20
DEFAULT_SPIKE: Final = 2.0


class RelativeVolume:
    """Incremental relative volume: ``update(volume)`` is O(1).

    ``value = volume / mean(volume of the previous n bars)`` (the current bar is not in the
    mean). The window runs across days: the first bars of a day are compared with the last
    of the previous one. NaN until ``n`` bars have come before, or while their mean is 0.
    ``spike`` is ``value > threshold`` (False when NaN).
    """

    __slots__ = ("_sum", "_window", "n", "threshold", "value")

    def __init__(self, n: int = DEFAULT_BARS, threshold: float = DEFAULT_SPIKE) -> None:
        self.n = check_period("RelativeVolume", n)
        self.threshold = float(threshold)
        self._window: deque[float] = deque()
        self._sum: float = 0  # int volumes keep an exact int sum, so the window never drifts
        self.value = NAN

    @property
    def ready(self) -> bool:
        return len(self._window) >= self.n

    @property
    def spike(self) -> bool:
        return self.value > self.threshold  # NaN compares False

    def update(self, volume: float) -> float:
        """Add one bar's volume; return its relative volume (NaN during warm-up)."""
        window = self._window
        if len(window) >= self.n:
            self.value = volume / (self._sum / self.n) if self._sum > 0 else NAN
            self._sum -= window.popleft()
        window.append(volume)
        self._sum += volume
        return self.value


def relative_volume(volume: np.ndarray, n: int = DEFAULT_BARS) -> np.ndarray:
    """Relative volume per bar (same numbers as ``RelativeVolume``); NaN for the first ``n``."""
    (volumes,) = as_floats("relative_volume", volume)
    state = RelativeVolume(n)
    return np.array([state.update(v) for v in volumes], dtype=np.float64)


def volume_spike(rel_volume: np.ndarray, threshold: float = DEFAULT_SPIKE) -> np.ndarray:
    """``rel_volume > threshold`` as a bool array (False where the relative volume is NaN)."""
    values = np.asarray(rel_volume, dtype=np.float64)
    return np.greater(values, threshold, where=~np.isnan(values), out=np.zeros(values.shape, dtype=bool))

"""Exponential moving average, seeded with the SMA of the first ``period`` values (TA-Lib's EMA)."""

from __future__ import annotations

import numpy as np

from shared.indicators._common import NAN, as_floats, check_period


class Ema:
    """Incremental EMA: ``update(x)`` is O(1); ``value`` is NaN until ``period`` values have come.

    The first value is the mean of the first ``period`` inputs; after that
    ``value += (x - value) * k`` with ``k = 2 / (period + 1)``, TA-Lib's arithmetic.
    """

    __slots__ = ("_sum", "count", "k", "period", "value")

    def __init__(self, period: int) -> None:
        self.period = check_period("Ema", period)
        self.k = 2.0 / (self.period + 1)
        self.count = 0
        self._sum = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.count >= self.period

    def update(self, x: float) -> float:
        """Add one value; return the EMA (NaN during warm-up)."""
        if self.count >= self.period:
            self.value = (x - self.value) * self.k + self.value
        else:
            self._sum += x
            if self.count + 1 == self.period:
                self.value = self._sum / self.period
        self.count += 1
        return self.value


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """EMA of ``values``; NaN for the first ``period - 1`` entries (same numbers as ``Ema``)."""
    (xs,) = as_floats("ema", values)
    state = Ema(period)
    return np.array([state.update(x) for x in xs], dtype=np.float64)

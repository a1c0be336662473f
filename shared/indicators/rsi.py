"""Relative strength index with Wilder smoothing (TA-Lib's RSI)."""

from __future__ import annotations

import numpy as np

from shared.indicators._common import NAN, as_floats, check_period


class Rsi:
    """Incremental RSI of closes: ``update(close)`` is O(1).

    The average gain and loss start as the means of the first ``period`` changes (so the
    first value comes with the ``period + 1``-th close) and are then smoothed the Wilder
    way: ``avg = (avg * (period - 1) + change) / period``. ``RSI = 100 * gain / (gain + loss)``.
    A series that has not moved at all reads 50 (TA-Lib gives 0 there).
    """

    __slots__ = ("count", "gain", "loss", "period", "prev", "value")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("Rsi", period)
        self.count = 0  # closes seen
        self.prev = NAN
        self.gain = 0.0
        self.loss = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.count > self.period

    def update(self, close: float) -> float:
        """Add one close; return the RSI (NaN during warm-up)."""
        count = self.count
        self.count = count + 1
        if count == 0:
            self.prev = close
            return self.value
        change = close - self.prev
        self.prev = close
        period = self.period
        if count > period:
            gain = self.gain * (period - 1)
            loss = self.loss * (period - 1)
            if change < 0:
                loss -= change
            else:
                gain += change
            self.gain = gain / period
            self.loss = loss / period
        else:
            if change < 0:
                self.loss -= change
            else:
                self.gain += change
            if count < period:
                return self.value
            self.gain /= period
            self.loss /= period
        total = self.gain + self.loss
        self.value = 100.0 * (self.gain / total) if total != 0.0 else 50.0
        return self.value


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """RSI of ``close``; NaN for the first ``period`` entries (same numbers as ``Rsi``)."""
    (closes,) = as_floats("rsi", close)
    state = Rsi(period)
    return np.array([state.update(c) for c in closes], dtype=np.float64)

"""True range and average true range with Wilder smoothing (TA-Lib's TRANGE and ATR)."""

from __future__ import annotations

import numpy as np

from shared.indicators._common import NAN, as_floats, check_period


def true_range_step(high: float, low: float, prev_close: float) -> float:
    """``max(high - low, |high - prev_close|, |low - prev_close|)``."""
    rng = high - low
    up = abs(high - prev_close)
    down = abs(low - prev_close)
    if up > rng:
        rng = up
    if down > rng:
        rng = down
    return rng


class Atr:
    """Incremental ATR: ``update(high, low, close)`` is O(1).

    The true range needs the previous close, so the first bar gives none; the first ATR is
    the mean of the true ranges of bars 2..``period + 1`` and then
    ``atr = (atr * (period - 1) + tr) / period`` (Wilder, as TA-Lib).
    """

    __slots__ = ("_sum", "count", "period", "prev_close", "value")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("Atr", period)
        self.count = 0  # bars seen
        self.prev_close = NAN
        self._sum = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.count > self.period

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar; return the ATR (NaN during warm-up)."""
        count = self.count
        self.count = count + 1
        if count == 0:
            self.prev_close = close
            return self.value
        tr = true_range_step(high, low, self.prev_close)
        self.prev_close = close
        period = self.period
        if count > period:
            self.value = (self.value * (period - 1) + tr) / period
        else:
            self._sum += tr
            if count == period:
                self.value = self._sum / period
        return self.value


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range per bar; NaN for the first (it has no previous close)."""
    highs, lows, closes = as_floats("true_range", high, low, close)
    out = [NAN] * len(closes)
    for i in range(1, len(closes)):
        out[i] = true_range_step(highs[i], lows[i], closes[i - 1])
    return np.array(out, dtype=np.float64)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """ATR per bar; NaN for the first ``period`` bars (same numbers as ``Atr``)."""
    highs, lows, closes = as_floats("atr", high, low, close)
    state = Atr(period)
    return np.array([state.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)], dtype=np.float64)

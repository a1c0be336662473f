"""Average directional index with Wilder smoothing (TA-Lib's ADX, PLUS_DI, MINUS_DI)."""

from __future__ import annotations

import numpy as np

from shared.indicators._common import NAN, as_floats, check_period
from shared.indicators.atr import true_range_step


class Adx:
    """Incremental ADX: ``update(high, low, close)`` is O(1); also keeps ``plus_di``/``minus_di``.

    TA-Lib's recipe, bar by bar (bar 1 only gives the previous high, low and close):

    - directional movement: ``up = high - prev_high``, ``down = prev_low - low``;
      ``+DM = up`` if ``up > down`` and ``up > 0``, ``-DM = down`` if ``down > up`` and
      ``down > 0``, else 0;
    - bars 2..``period``: +DM, -DM and the true range are summed;
    - from bar ``period + 1`` each sum is smoothed ``s = s - s / period + x``, and
      ``+DI = 100 * +DM_s / TR_s``, ``-DI = 100 * -DM_s / TR_s``,
      ``DX = 100 * |+DI - -DI| / (+DI + -DI)``;
    - the first ADX (bar ``2 * period``) is the mean of the first ``period`` DX values,
      then ``adx = (adx * (period - 1) + dx) / period``.

    When the smoothed true range or ``+DI + -DI`` is zero (a flat market) the DX of that
    bar is skipped, as TA-Lib does: the warm-up sum gets nothing and the ADX is unchanged.
    """

    __slots__ = (
        "_dx_sum",
        "count",
        "minus_di",
        "minus_dm",
        "period",
        "plus_di",
        "plus_dm",
        "prev_close",
        "prev_high",
        "prev_low",
        "tr",
        "value",
    )

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("Adx", period)
        self.count = 0  # bars seen
        self.prev_high = self.prev_low = self.prev_close = NAN
        self.plus_dm = self.minus_dm = self.tr = 0.0
        self._dx_sum = 0.0
        self.plus_di = self.minus_di = NAN
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.count >= 2 * self.period

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar; return the ADX (NaN during warm-up)."""
        count = self.count
        self.count = count + 1
        if count == 0:
            self.prev_high, self.prev_low, self.prev_close = high, low, close
            return self.value
        up = high - self.prev_high
        down = self.prev_low - low
        tr = true_range_step(high, low, self.prev_close)
        self.prev_high, self.prev_low, self.prev_close = high, low, close
        period = self.period
        if count >= period:
            self.plus_dm -= self.plus_dm / period
            self.minus_dm -= self.minus_dm / period
        if down > 0 and up < down:
            self.minus_dm += down
        elif up > 0 and up > down:
            self.plus_dm += up
        if count < period:
            self.tr += tr
            return self.value
        self.tr = self.tr - self.tr / period + tr
        dx = self._dx()
        if count < 2 * period - 1:
            if dx is not None:
                self._dx_sum += dx
        elif count == 2 * period - 1:
            if dx is not None:
                self._dx_sum += dx
            self.value = self._dx_sum / period
        elif dx is not None:
            self.value = (self.value * (period - 1) + dx) / period
        return self.value

    def _dx(self) -> float | None:
        if self.tr == 0.0:
            return None
        self.minus_di = 100.0 * (self.minus_dm / self.tr)
        self.plus_di = 100.0 * (self.plus_dm / self.tr)
        total = self.minus_di + self.plus_di
        if total == 0.0:
            return None
        return 100.0 * (abs(self.minus_di - self.plus_di) / total)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """ADX per bar; NaN for the first ``2 * period - 1`` bars (same numbers as ``Adx``)."""
    highs, lows, closes = as_floats("adx", high, low, close)
    state = Adx(period)
    return np.array([state.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)], dtype=np.float64)

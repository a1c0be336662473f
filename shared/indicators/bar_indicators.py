"""All of the seed's signal indicators for one symbol and timeframe, updated bar by bar."""

from __future__ import annotations

import math
from typing import Final

from shared.contracts import Bar
from shared.indicators.adx import Adx
from shared.indicators.atr import Atr
from shared.indicators.ema import Ema
from shared.indicators.rsi import Rsi
from shared.indicators.volume import DEFAULT_BARS, DEFAULT_SPIKE, RelativeVolume
from shared.indicators.vwap import SessionVwap

#: The indicator columns of the seed's ``signals.csv``, in its order (``adx`` repeats ``adx14``).
SIGNAL_KEYS: Final = (
    "ema20",
    "ema50",
    "ema100",
    "ema200",
    "rsi14",
    "atr",
    "adx14",
    "adx",
    "vwap",
    "rel_volume",
    "vol_spike",
)

IndicatorValues = dict[str, float | bool | None]


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


class BarIndicators:
    """EMA 20/50/100/200, RSI 14, ATR 14, ADX 14, session VWAP and relative volume of one series.

    Feed it the closed bars of one symbol and timeframe, oldest first (history to warm up,
    then live bars). A bar whose ``ts_open`` is not after the last one applied (a stream
    redelivery) is ignored and counted in ``stale_bars``. ``values()`` gives the
    ``signals.csv`` columns: a number, or None while that indicator warms up (EMA 200
    needs 200 bars); ``vol_spike`` is False until the relative volume is known.
    """

    __slots__ = (
        "adx14",
        "atr14",
        "bars",
        "ema20",
        "ema50",
        "ema100",
        "ema200",
        "last_ts_open",
        "rel_volume",
        "rsi14",
        "stale_bars",
        "symbol",
        "timeframe",
        "vwap",
    )

    def __init__(
        self,
        symbol: str = "",
        timeframe: str = "",
        *,
        rel_volume_bars: int = DEFAULT_BARS,
        spike_threshold: float = DEFAULT_SPIKE,
    ) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.ema20 = Ema(20)
        self.ema50 = Ema(50)
        self.ema100 = Ema(100)
        self.ema200 = Ema(200)
        self.rsi14 = Rsi(14)
        self.atr14 = Atr(14)
        self.adx14 = Adx(14)
        self.vwap = SessionVwap()
        self.rel_volume = RelativeVolume(rel_volume_bars, spike_threshold)
        self.bars = 0
        self.stale_bars = 0
        self.last_ts_open = -1

    @property
    def ready(self) -> bool:
        """Every indicator past its warm-up (VWAP and relative volume need volume)."""
        return self.ema200.ready and self.adx14.ready and self.vwap.ready and self.rel_volume.ready

    def update(self, bar: Bar) -> bool:
        """Apply one closed bar; False (and nothing changes) when it is not newer than the last."""
        return self.update_values(bar.ts_open, bar.high, bar.low, bar.close, bar.volume)

    def update_values(self, ts_open: int, high: float, low: float, close: float, volume: float) -> bool:
        """``update`` from plain numbers (a CSV row, a historical candle); ``ts_open`` in epoch ns."""
        if ts_open <= self.last_ts_open:
            self.stale_bars += 1
            return False
        self.last_ts_open = ts_open
        self.bars += 1
        self.ema20.update(close)
        self.ema50.update(close)
        self.ema100.update(close)
        self.ema200.update(close)
        self.rsi14.update(close)
        self.atr14.update(high, low, close)
        self.adx14.update(high, low, close)
        self.vwap.update(high, low, close, volume, ts_open)
        self.rel_volume.update(volume)
        return True

    def values(self) -> IndicatorValues:
        """The ``signals.csv`` indicator columns (``SIGNAL_KEYS``), None where not warmed up."""
        adx = _or_none(self.adx14.value)
        return {
            "ema20": _or_none(self.ema20.value),
            "ema50": _or_none(self.ema50.value),
            "ema100": _or_none(self.ema100.value),
            "ema200": _or_none(self.ema200.value),
            "rsi14": _or_none(self.rsi14.value),
            "atr": _or_none(self.atr14.value),
            "adx14": adx,
            "adx": adx,
            "vwap": _or_none(self.vwap.value),
            "rel_volume": _or_none(self.rel_volume.value),
            "vol_spike": self.rel_volume.spike,
        }

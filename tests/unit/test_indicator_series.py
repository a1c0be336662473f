"""``SeriesIndicators`` (the bar path's arrays) equal the incremental indicators bar for bar, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from shared.clock import NS
from shared.contracts import Bar
from shared.indicators import BarIndicators
from shared.indicators.series import SeriesIndicators, ema_series
from shared.trading.engine import _Series

T0 = 1_763_351_100 * NS  # 2025-11-17 09:15 IST
DAY_NS = 86_400 * NS
BAR_NS = 5 * 60 * NS


def bars(seed: int, n: int, *, flat_from: int = -1, quiet_from: int = -1) -> dict[str, np.ndarray]:
    """A seeded walk on a 0.05 grid, 75 bars a day; optionally a flat stretch and zero volumes."""
    rng = np.random.default_rng(seed)
    close = np.round(1_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n))) / 0.05) * 0.05
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 3, n) / 0.05) * 0.05
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 3, n) / 0.05) * 0.05
    volume = rng.integers(0, 50_000, n).astype(np.int64)
    if flat_from >= 0:  # nothing moves: RSI reads 50, ADX skips its DX, true ranges are 0
        close[flat_from:] = open_[flat_from:] = high[flat_from:] = low[flat_from:] = close[flat_from]
    if quiet_from >= 0:  # no volume: VWAP keeps its value, relative volume is unknown
        volume[quiet_from : quiet_from + 40] = 0
    index = np.arange(n)
    ts = T0 + (index // 75) * DAY_NS + (index % 75) * BAR_NS
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "ts": ts}


def same(a: float | bool | None, b: float | bool | None) -> bool:
    return a == b or (a is None and b is None)


try:
    import numba  # noqa: F401

    IMPLEMENTATIONS = [False, True]  # Python's loops and numba's
except ImportError:
    IMPLEMENTATIONS = [False]


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS, ids=lambda c: "numba" if c else "python")
@pytest.mark.parametrize(
    ("seed", "n", "flat_from", "quiet_from"),
    [(1, 900, -1, -1), (2, 400, 300, -1), (3, 600, -1, 200), (4, 30, -1, -1), (5, 700, 500, 100)],
)
def test_every_column_equals_the_incremental_indicators_bar_for_bar(
    seed: int, n: int, flat_from: int, quiet_from: int, compiled: bool
) -> None:
    d = bars(seed, n, flat_from=flat_from, quiet_from=quiet_from)
    got = SeriesIndicators.compute(d["ts"], d["high"], d["low"], d["close"], d["volume"], compiled=compiled)
    series = _Series("X", "5m")  # the engine's series: BarIndicators plus the ATR ratio of the vol regime
    for i in range(n):
        bar = Bar(
            ts_event=int(d["ts"][i]) + BAR_NS, instrument_token=1, symbol="X", timeframe="5m",
            ts_open=int(d["ts"][i]), open=float(d["open"][i]), high=float(d["high"][i]), low=float(d["low"][i]),
            close=float(d["close"][i]), volume=int(d["volume"][i]),
        )  # fmt: skip
        assert series.update(bar)
        want, have = series.values, got.values(i)
        assert list(have) == list(want)
        diff = {k: (have[k], want[k]) for k in want if not same(have[k], want[k])}
        assert not diff, f"bar {i}: {diff}"
        assert same(got.ratio(i), series.atr_ratio), f"bar {i}: atr ratio {got.ratio(i)} != {series.atr_ratio}"


def test_bar_indicators_alone_agree_too() -> None:
    d = bars(9, 500)
    got = SeriesIndicators.compute(d["ts"], d["high"], d["low"], d["close"], d["volume"])
    ind = BarIndicators()
    for i in range(500):
        ind.update_values(int(d["ts"][i]), float(d["high"][i]), float(d["low"][i]), float(d["close"][i]),
                          int(d["volume"][i]))  # fmt: skip
        assert got.values(i) == {k: v for k, v in ind.values().items()} or all(
            same(got.values(i)[k], v) for k, v in ind.values().items()
        )


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS, ids=lambda c: "numba" if c else "python")
def test_ema_series_is_the_class_s_arithmetic(compiled: bool) -> None:
    from shared.indicators import Ema

    xs = np.random.default_rng(0).normal(100, 5, 3000)
    state = Ema(20)
    want = np.array([state.update(float(x)) for x in xs])
    got = ema_series(xs, 20, compiled=compiled)
    np.testing.assert_array_equal(got, want)  # NaN == NaN here; every other value bit for bit

"""Indicators: batch and incremental forms agree, and match TA-Lib's conventions."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.candles import CandleBuilder
from shared.clock import IST_OFFSET_NS, NS
from shared.contracts import Bar, Tick
from shared.indicators import (
    SIGNAL_KEYS,
    Adx,
    Atr,
    BarIndicators,
    Ema,
    RelativeVolume,
    Rsi,
    SessionVwap,
    adx,
    atr,
    ema,
    relative_volume,
    rsi,
    session_vwap,
    true_range,
    volume_spike,
)

T0 = 1_763_351_100 * NS  # 2025-11-17 09:15 IST
DAY_NS = 86_400 * NS
BAR_NS = 5 * 60 * NS


def random_walk(seed: int, n: int) -> dict[str, np.ndarray]:
    """OHLCV of a seeded random walk of 5m bars, 75 a day (09:15-15:30) from T0."""
    rng = np.random.default_rng(seed)
    close = 1_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, n))
    volume = rng.integers(0, 50_000, n).astype(np.float64)
    index = np.arange(n)
    ts = T0 + (index // 75) * DAY_NS + (index % 75) * BAR_NS
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "ts": ts}


def assert_same(got: np.ndarray, want: np.ndarray, rel: float) -> None:
    """Same NaN warm-up, then equal within ``rel``."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=rel, atol=0)


# -- against TA-Lib ------------------------------------------------------------------------
talib = pytest.importorskip("talib")
WALK = random_walk(11, 3_000)


@pytest.mark.parametrize("period", [20, 50, 100, 200])
def test_ema_matches_talib(period: int) -> None:
    assert_same(ema(WALK["close"], period), talib.EMA(WALK["close"], timeperiod=period), 1e-6)


def test_rsi_matches_talib() -> None:
    assert_same(rsi(WALK["close"], 14), talib.RSI(WALK["close"], timeperiod=14), 1e-6)


def test_atr_and_true_range_match_talib() -> None:
    h, lo, c = WALK["high"], WALK["low"], WALK["close"]
    assert_same(atr(h, lo, c, 14), talib.ATR(h, lo, c, timeperiod=14), 1e-6)
    assert_same(true_range(h, lo, c), talib.TRANGE(h, lo, c), 1e-12)


def test_adx_and_directional_indicators_match_talib() -> None:
    h, lo, c = WALK["high"], WALK["low"], WALK["close"]
    assert_same(adx(h, lo, c, 14), talib.ADX(h, lo, c, timeperiod=14), 1e-6)
    state = Adx(14)
    plus, minus = [], []
    for row in zip(h, lo, c, strict=True):
        state.update(*row)
        plus.append(state.plus_di)
        minus.append(state.minus_di)
    assert_same(np.array(plus), talib.PLUS_DI(h, lo, c, timeperiod=14), 1e-6)
    assert_same(np.array(minus), talib.MINUS_DI(h, lo, c, timeperiod=14), 1e-6)


@pytest.mark.parametrize("period", [1, 2, 5])
def test_short_periods_match_talib(period: int) -> None:
    h, lo, c = WALK["high"][:300], WALK["low"][:300], WALK["close"][:300]
    assert_same(atr(h, lo, c, period), talib.ATR(h, lo, c, timeperiod=period), 1e-6)
    if period > 1:  # TA-Lib rejects RSI(1) and ADX(1), and its EMA(1) is degenerate
        assert_same(rsi(c, period), talib.RSI(c, timeperiod=period), 1e-6)
        assert_same(ema(c, period), talib.EMA(c, timeperiod=period), 1e-6)
        assert_same(adx(h, lo, c, period), talib.ADX(h, lo, c, timeperiod=period), 1e-6)


# -- conventions ---------------------------------------------------------------------------
def test_ema_is_seeded_with_the_mean_of_the_first_period_values() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    out = ema(values, 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == 2.0
    assert out[3] == pytest.approx(2.0 + 0.5 * (4.0 - 2.0))
    assert out[4] == pytest.approx(3.0 + 0.5 * (10.0 - 3.0))


def test_rsi_of_a_series_that_never_moves_is_50_and_of_one_that_only_rises_is_100() -> None:
    assert rsi(np.full(30, 100.0), 14)[-1] == 50.0  # TA-Lib returns 0 here; 50 does not read "oversold"
    assert rsi(np.arange(30.0), 14)[-1] == 100.0


def test_adx_and_atr_of_a_flat_market_are_zero_as_in_talib() -> None:
    flat = np.full(60, 100.0)
    assert adx(flat, flat, flat, 14)[-1] == 0.0
    assert atr(flat, flat, flat, 14)[-1] == 0.0
    state = Adx(14)
    for _ in range(40):
        state.update(100.0, 100.0, 100.0)
    assert math.isnan(state.plus_di)  # never defined: the true range stayed 0


def test_warm_up_lengths() -> None:
    state = {"ema": Ema(20), "rsi": Rsi(14), "atr": Atr(14), "adx": Adx(14)}
    first_ready = {}
    for i in range(60):
        c = 100 + math.sin(i)
        state["ema"].update(c)
        state["rsi"].update(c)
        state["atr"].update(c + 1, c - 1, c)
        state["adx"].update(c + 1, c - 1, c)
        for name, s in state.items():
            if s.ready and name not in first_ready:
                first_ready[name] = i
                assert not math.isnan(s.value)
    assert first_ready == {"ema": 19, "rsi": 14, "atr": 14, "adx": 27}


@pytest.mark.parametrize("make", [lambda: Ema(0), lambda: Rsi(-1), lambda: Atr(1.5), lambda: RelativeVolume(True)])
def test_a_bad_period_is_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="period must be an integer >= 1"):
        make()


def test_batch_inputs_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        atr(np.ones(5), np.ones(4), np.ones(5))


# -- VWAP and volume -----------------------------------------------------------------------
def test_session_vwap_matches_a_per_day_cumulative_sum_and_resets_each_ist_day() -> None:
    w = random_walk(3, 400)
    got = session_vwap(w["high"], w["low"], w["close"], w["volume"], w["ts"])
    tp = (w["high"] + w["low"] + w["close"]) / 3
    day = (w["ts"] + IST_OFFSET_NS) // DAY_NS
    want = np.empty_like(tp)
    for d in np.unique(day):
        mask = day == d
        want[mask] = np.cumsum(tp[mask] * w["volume"][mask]) / np.cumsum(w["volume"][mask])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    first_of_day = np.flatnonzero(np.diff(day)) + 1
    np.testing.assert_allclose(got[first_of_day], tp[first_of_day], rtol=1e-12)


def test_session_vwap_is_nan_until_the_session_has_volume() -> None:
    vwap = SessionVwap()
    assert math.isnan(vwap.update(10, 8, 9, 0, T0))
    assert not vwap.ready
    assert vwap.update(12, 9, 9, 100, T0 + BAR_NS) == 10.0
    assert math.isnan(vwap.update(12, 9, 9, 0, T0 + DAY_NS))  # a new day, no volume yet


def test_relative_volume_is_the_bar_over_the_mean_of_the_previous_n() -> None:
    volume = WALK["volume"][:500]
    n = 20
    got = relative_volume(volume, n)
    windows = np.lib.stride_tricks.sliding_window_view(volume, n)[:-1]
    want = np.concatenate([np.full(n, np.nan), volume[n:] / windows.mean(axis=1)])
    assert_same(got, want, 1e-9)


def test_relative_volume_with_no_volume_before_is_nan_and_no_spike() -> None:
    rv = RelativeVolume(3, threshold=2.0)
    for v in (0, 0, 0, 500):
        rv.update(v)
    assert math.isnan(rv.value) and not rv.spike
    for v in (10, 10, 10, 30.0, 20.0):
        rv.update(v)
    assert rv.value == pytest.approx(20 / ((10 + 10 + 30) / 3))
    assert not rv.spike
    rv.update(100)
    assert rv.spike


def test_volume_spike_is_relative_volume_above_the_threshold() -> None:
    rel = np.array([np.nan, 1.0, 2.0, 2.5])
    assert volume_spike(rel, 2.0).tolist() == [False, False, False, True]


# -- batch and incremental agree -----------------------------------------------------------
def incremental(make: Callable[[], object], rows: list[tuple[float, ...]]) -> np.ndarray:
    state = make()
    return np.array([state.update(*row) for row in rows])  # type: ignore[attr-defined]


bars_strategy = st.lists(
    st.tuples(st.floats(1, 1_000, allow_nan=False), st.floats(0, 50), st.floats(0, 50), st.integers(0, 10_000)),
    min_size=0,
    max_size=120,
)


@settings(max_examples=80, deadline=None)
@given(rows=bars_strategy, period=st.integers(1, 30))
def test_batch_and_incremental_forms_agree(rows: list[tuple[float, float, float, int]], period: int) -> None:
    close = np.array([r[0] for r in rows])
    high = close + np.array([r[1] for r in rows])
    low = np.maximum(close - np.array([r[2] for r in rows]), 0.0)
    volume = np.array([float(r[3]) for r in rows])
    ts = T0 + np.arange(len(rows), dtype=np.int64) * 40 * 60 * NS  # crosses days
    hlc = list(zip(high.tolist(), low.tolist(), close.tolist(), strict=True))
    cases = [
        (ema(close, period), incremental(lambda: Ema(period), [(c,) for c in close.tolist()])),
        (rsi(close, period), incremental(lambda: Rsi(period), [(c,) for c in close.tolist()])),
        (atr(high, low, close, period), incremental(lambda: Atr(period), hlc)),
        (adx(high, low, close, period), incremental(lambda: Adx(period), hlc)),
        (relative_volume(volume, period), incremental(lambda: RelativeVolume(period), [(v,) for v in volume])),
        (
            session_vwap(high, low, close, volume, ts),
            incremental(SessionVwap, [(*r, v, t) for r, v, t in zip(hlc, volume, ts.tolist(), strict=True)]),
        ),
    ]
    for batch, step in cases:
        assert len(batch) == len(rows)
        assert_same(batch.astype(np.float64), step.astype(np.float64).reshape(len(rows)), 1e-9)


# -- BarIndicators -------------------------------------------------------------------------
def walk_bars(w: dict[str, np.ndarray]) -> list[Bar]:
    return [
        Bar(
            ts_event=int(t) + BAR_NS,
            instrument_token=1,
            symbol="NIFTY25NOVFUT",
            timeframe="5m",
            ts_open=int(t),
            open=float(o),
            high=float(h),
            low=float(lo),
            close=float(c),
            volume=int(v),
        )
        for o, h, lo, c, v, t in zip(w["open"], w["high"], w["low"], w["close"], w["volume"], w["ts"], strict=True)
    ]


def test_bar_indicators_expose_exactly_the_seed_signal_columns() -> None:
    bi = BarIndicators("NIFTY25NOVFUT", "5m")
    values = bi.values()
    assert tuple(values) == SIGNAL_KEYS
    seed_header = "ema20,ema50,ema100,ema200,rsi14,atr,adx14,adx,vwap,rel_volume,vol_spike"  # seed doc, signals.csv
    assert ",".join(SIGNAL_KEYS) == seed_header
    assert all(values[k] is None for k in SIGNAL_KEYS if k != "vol_spike")
    assert values["vol_spike"] is False
    assert not bi.ready


def test_bar_indicators_equal_the_batch_functions() -> None:
    w = random_walk(5, 600)
    bi = BarIndicators()
    for bar in walk_bars(w):
        assert bi.update(bar)
    h, lo, c, v = w["high"], w["low"], w["close"], w["volume"]
    want = {
        "ema20": ema(c, 20)[-1],
        "ema50": ema(c, 50)[-1],
        "ema100": ema(c, 100)[-1],
        "ema200": ema(c, 200)[-1],
        "rsi14": rsi(c, 14)[-1],
        "atr": atr(h, lo, c, 14)[-1],
        "adx14": adx(h, lo, c, 14)[-1],
        "adx": adx(h, lo, c, 14)[-1],
        "vwap": session_vwap(h, lo, c, v, w["ts"])[-1],
        "rel_volume": relative_volume(v, 20)[-1],
    }
    values = bi.values()
    assert {k: values[k] for k in want} == pytest.approx(want, rel=1e-12)
    assert values["vol_spike"] is bool(want["rel_volume"] > 2.0)
    assert bi.ready and bi.bars == 600


def test_bar_indicators_ignore_a_bar_that_is_not_newer() -> None:
    bars = walk_bars(random_walk(6, 30))
    bi = BarIndicators()
    for bar in bars:
        bi.update(bar)
    before = bi.values()
    assert not bi.update(bars[-1])
    assert not bi.update(bars[3])
    assert bi.values() == before
    assert bi.stale_bars == 2 and bi.bars == 30


def test_candles_feed_bar_indicators_end_to_end() -> None:
    builder = CandleBuilder(["1m", "5m"])
    per_tf = {"1m": BarIndicators(timeframe="1m"), "5m": BarIndicators(timeframe="5m")}
    rng = np.random.default_rng(9)
    price, cum = 24_500.0, 0
    for i in range(375 * 30):  # one session, a tick every 2 s
        price = max(1.0, price + float(rng.normal(0, 2)))
        cum += int(rng.integers(0, 100))
        tick = Tick(
            ts_event=T0 + i * 2 * NS, instrument_token=7, exchange="NFO", symbol="X", last_price=price, volume=cum
        )
        for bar in builder.on_tick(tick):
            per_tf[bar.timeframe].update(bar)
    for bar in builder.flush(T0 + 375 * 60 * NS):
        per_tf[bar.timeframe].update(bar)
    assert (per_tf["1m"].bars, per_tf["5m"].bars) == (375, 75)
    one_minute = per_tf["1m"].values()
    assert one_minute["ema200"] is not None and one_minute["vwap"] is not None
    assert per_tf["5m"].values()["ema200"] is None  # 75 bars: still warming up
    assert per_tf["5m"].vwap.value == pytest.approx(per_tf["1m"].vwap.value, rel=1e-3)

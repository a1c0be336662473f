"""``BarIndicators`` over a whole series at once: numpy arrays with the very same numbers, bar for bar.

The backtester's bar path (``shared.backtest.bars``) computes each series' indicators once,
before the replay, instead of updating them on every closed bar. Every value here is equal
(``==``, not close) to what the incremental classes give for the same bars, because each
array is computed with the same floating-point operations in the same order:

- the parts that are element-wise (true range, directional movement, the typical price, a
  window of integer volumes) are numpy expressions written as the classes write them
  (numpy's float64 arithmetic is IEEE's, like Python's floats);
- running sums are ``np.add.accumulate`` (strictly left to right, no pairwise summation);
- the recursive smoothers (EMA, Wilder's RSI, ATR and ADX) cannot be vectorised without
  changing the rounding, so they are tight Python loops over lists with the classes'
  expressions, one pass per indicator.

``tests/unit/test_indicator_series.py`` checks every column against ``BarIndicators`` and the
engine's ``_Series`` (the ATR average behind ``vol_regime``) bar for bar.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.clock import IST_OFFSET_NS, NS
from shared.indicators.bar_indicators import IndicatorValues
from shared.indicators.volume import DEFAULT_BARS, DEFAULT_SPIKE

DAY_NS: Final = 86_400 * NS
NAN: Final = float("nan")
ATR_AVG_BARS: Final = 20  # the engine's ``_Series``: vol regime = ATR / its EMA over 20 bars

Floats = npt.NDArray[np.float64]
Seq = MutableSequence[float] | Floats  # a list (the Python loops) or an array (numba's)


def _ema_kernel(xs: Seq, period: int, out: Seq) -> None:
    """``Ema(period)`` into ``out`` (pre-filled with NaN): the SMA seed, then ``(x - v) * k + v``."""
    n = len(xs)
    if n < period:
        return
    total = 0.0
    for i in range(period):  # the class sums one value at a time from 0.0 (not math.fsum, not sum())
        total += xs[i]
    value = total / period
    out[period - 1] = value
    k = 2.0 / (period + 1)
    for i in range(period, n):
        value = (xs[i] - value) * k + value
        out[i] = value


def _rsi_kernel(changes: Seq, period: int, out: Seq) -> None:
    """``Rsi(period)`` from the close-to-close changes: Wilder's averages; 50 when nothing moved."""
    n = len(changes) + 1
    if n <= period:
        return
    gain = 0.0
    loss = 0.0
    for i in range(period):
        change = changes[i]
        if change < 0:
            loss -= change
        else:
            gain += change
    gain /= period
    loss /= period
    total = gain + loss
    out[period] = 100.0 * (gain / total) if total != 0.0 else 50.0
    keep = period - 1
    for i in range(period + 1, n):
        change = changes[i - 1]
        gain = gain * keep
        loss = loss * keep
        if change < 0:
            loss -= change
        else:
            gain += change
        gain = gain / period
        loss = loss / period
        total = gain + loss
        out[i] = 100.0 * (gain / total) if total != 0.0 else 50.0


def _atr_kernel(tr: Seq, period: int, out: Seq) -> None:
    """``Atr(period)``: the mean of the first ``period`` true ranges, then Wilder's smoothing."""
    n = len(tr)
    if n <= period:
        return
    total = 0.0
    for i in range(1, period + 1):
        total += tr[i]
    value = total / period
    out[period] = value
    keep = period - 1
    for i in range(period + 1, n):
        value = (value * keep + tr[i]) / period
        out[i] = value


def _adx_kernel(ups: Seq, downs: Seq, tr: Seq, period: int, out: Seq) -> None:
    """``Adx(period)``, line for line (see its docstring): directional movement, smoothed sums, DX, ADX.

    ``ups[i - 1]``/``downs[i - 1]``: bar i's ``high - prev_high`` and ``prev_low - low``.
    """
    n = len(tr)
    plus_dm = 0.0
    minus_dm = 0.0
    trs = 0.0
    dx_sum = 0.0
    value = NAN
    last_full = 2 * period - 1
    for count in range(1, n):
        up = ups[count - 1]
        down = downs[count - 1]
        if count >= period:
            plus_dm -= plus_dm / period
            minus_dm -= minus_dm / period
        if down > 0 and up < down:
            minus_dm += down
        elif up > 0 and up > down:
            plus_dm += up
        if count < period:
            trs += tr[count]
            continue
        trs = trs - trs / period + tr[count]
        has_dx = False  # the class's _dx() returns None on a flat market: that bar's DX is skipped
        dx = 0.0
        if trs != 0.0:
            minus_di = 100.0 * (minus_dm / trs)
            plus_di = 100.0 * (plus_dm / trs)
            total = minus_di + plus_di
            if total != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / total)
                has_dx = True
        if count < last_full:
            if has_dx:
                dx_sum += dx
        elif count == last_full:
            if has_dx:
                dx_sum += dx
            value = dx_sum / period
        elif has_dx:
            value = (value * (period - 1) + dx) / period
        out[count] = value


def _atr_ratio_kernel(atr: Seq, out: Seq) -> None:
    """The engine's ``_Series.atr_ratio`` after each bar: ATR over its EMA(20) before this bar; NaN = None."""
    k = 2.0 / (ATR_AVG_BARS + 1)
    count = 0
    total = 0.0
    avg = NAN
    ratio = NAN
    for i in range(len(atr)):
        a = atr[i]
        if a == a:  # not NaN: the engine updates the ratio and the average only once ATR exists
            ratio = a / avg if avg == avg and avg > 0 else NAN
            if count >= ATR_AVG_BARS:
                avg = (a - avg) * k + avg
            else:
                total += a
                if count + 1 == ATR_AVG_BARS:
                    avg = total / ATR_AVG_BARS
            count += 1
        out[i] = ratio


def _true_range(high: Floats, low: Floats, close: Floats) -> Floats:
    """``true_range_step`` per bar from the second (index 0 is NaN): max(h - l, |h - pc|, |l - pc|)."""
    out = np.full(len(close), NAN)
    if len(close) > 1:
        prev = close[:-1]
        rng = high[1:] - low[1:]
        up = np.abs(high[1:] - prev)
        down = np.abs(low[1:] - prev)
        out[1:] = np.maximum(np.maximum(rng, up), down)
    return out


class _Kernels:
    """The recursive loops, compiled by numba when it is installed (same operations, same order).

    Without numba they run as Python over lists (a few times slower). numba is used without
    ``fastmath``: no reassociation and no fused multiply-add, so the compiled loops round
    exactly as the Python ones (the tests compare both with the incremental classes).
    """

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled
        fns = (_ema_kernel, _rsi_kernel, _atr_kernel, _adx_kernel, _atr_ratio_kernel)
        if compiled:
            import numba

            fns = tuple(numba.njit(cache=True, nogil=True)(f) for f in fns)
        self.ema, self.rsi, self.atr, self.adx, self.atr_ratio = fns

    def run(self, fn: Callable[..., None], n: int, *args: Floats | int) -> Floats:
        """``fn(*args, out)`` with ``out`` ``n`` NaNs; the result as an array."""
        if self.compiled:
            out = np.full(n, NAN)
            fn(*args, out)
            return out
        values = [a.tolist() if isinstance(a, np.ndarray) else a for a in args]
        lst = [NAN] * n
        fn(*values, lst)
        return np.array(lst, dtype=np.float64)


def _numba_wanted() -> bool:
    if os.environ.get("KITE_ALGO_NO_NUMBA") == "1":
        return False
    return importlib.util.find_spec("numba") is not None


#: Series at least this long use numba's loops (when installed) even before they are warm: loading
#: numba and its cached machine code costs about a second per process, what the Python loops take
#: for some 250,000 bars. Shorter series use the Python loops until numba is loaded.
COMPILE_FROM: Final = 200_000
_warm: dict[str, bool] = {"compiled": False}


@functools.cache
def _kernels(compiled: bool) -> _Kernels:
    return _Kernels(compiled)


def kernels(compiled: bool | None = None, n: int = 0) -> _Kernels:
    """The loops for a series of ``n`` bars: numba's or Python's (the same numbers either way).

    ``compiled=None`` picks numba when it is installed (and not disabled with
    ``KITE_ALGO_NO_NUMBA=1``) and either already warm or worth loading (``COMPILE_FROM``).
    """
    if compiled is None:
        compiled = _numba_wanted() and (_warm["compiled"] or n >= COMPILE_FROM)
    return _kernels(compiled)


def warm_up() -> float:
    """Load numba's loops now (the one-off cost of a process); returns the seconds it took (0 without numba)."""
    if not _numba_wanted():
        return 0.0
    import time

    started = time.perf_counter()
    x = np.linspace(100.0, 101.0, 64)
    SeriesIndicators.compute(np.arange(64, dtype=np.int64) * 60 * NS, x + 1, x - 1, x, np.ones(64, np.int64),
                             compiled=True)  # fmt: skip
    return time.perf_counter() - started


def ema_series(xs: Floats, period: int, *, compiled: bool | None = None) -> Floats:
    """``Ema(period)`` over ``xs``: NaN until ``period`` values have come."""
    k = kernels(compiled, len(xs))
    return k.run(k.ema, len(xs), np.asarray(xs, dtype=np.float64), period)


def _session_vwap(high: Floats, low: Floats, close: Floats, volume: Floats, ts_open: npt.NDArray[np.int64]) -> Floats:
    """``SessionVwap``: running sums of typical price x volume and of volume, restarted each IST day."""
    tp = (high + low + close) / 3.0 * volume
    pv = np.empty_like(tp)
    vol = np.empty_like(volume)
    days = (ts_open + IST_OFFSET_NS) // DAY_NS
    starts = np.flatnonzero(np.diff(days)) + 1
    for lo, hi in zip(np.r_[0, starts], np.r_[starts, len(days)], strict=True):
        np.add.accumulate(tp[lo:hi], out=pv[lo:hi])  # left to right, as the class adds bar by bar
        np.add.accumulate(volume[lo:hi], out=vol[lo:hi])
    out = np.full(len(tp), NAN)
    np.divide(pv, vol, out=out, where=vol > 0)  # a session without volume yet reads NaN
    return out


def _relative_volume(volume: npt.NDArray[np.int64], n: int) -> Floats:
    """``RelativeVolume(n)``: volume / (exact integer sum of the previous n volumes / n)."""
    out = np.full(len(volume), NAN)
    if len(volume) > n:
        sums = np.concatenate(([0], np.cumsum(volume)))  # integers: exact, like the class's int sum
        window = sums[n:-1] - sums[: -n - 1]  # the n volumes before each bar from index n
        mean = window / n  # int / int as one correctly rounded division (exact below 2**53)
        np.divide(volume[n:], mean, out=out[n:], where=window > 0)
    return out


@dataclass(frozen=True, slots=True)
class SeriesIndicators:
    """Every ``BarIndicators`` column of one series (NaN while warming up) and the engine's ATR ratio."""

    ema20: Floats
    ema50: Floats
    ema100: Floats
    ema200: Floats
    rsi14: Floats
    atr: Floats
    adx: Floats
    vwap: Floats
    rel_volume: Floats
    vol_spike: npt.NDArray[np.bool_]
    atr_ratio: Floats

    @classmethod
    def compute(
        cls,
        ts_open: npt.NDArray[np.int64],
        high: Floats,
        low: Floats,
        close: Floats,
        volume: npt.NDArray[np.int64],
        *,
        rel_volume_bars: int = DEFAULT_BARS,
        spike_threshold: float = DEFAULT_SPIKE,
        compiled: bool | None = None,
    ) -> SeriesIndicators:
        """The columns for bars given oldest first (``ts_open`` epoch ns, integer volumes).

        ``compiled``: force numba's loops (True) or Python's (False); None takes numba when installed.
        """
        n = len(close)
        k = kernels(compiled, n)
        if k.compiled:
            _warm["compiled"] = True
        tr = _true_range(high, low, close)
        atr = k.run(k.atr, n, tr, 14)
        rel = _relative_volume(volume, rel_volume_bars)
        return cls(
            ema20=k.run(k.ema, n, close, 20),
            ema50=k.run(k.ema, n, close, 50),
            ema100=k.run(k.ema, n, close, 100),
            ema200=k.run(k.ema, n, close, 200),
            rsi14=k.run(k.rsi, n, np.diff(close), 14),  # close - previous close, as the class subtracts
            atr=atr,
            adx=k.run(k.adx, n, high[1:] - high[:-1], low[:-1] - low[1:], tr, 14),
            vwap=_session_vwap(high, low, close, volume.astype(np.float64), ts_open),
            rel_volume=rel,
            vol_spike=np.greater(rel, float(spike_threshold), where=~np.isnan(rel), out=np.zeros(len(rel), bool)),
            atr_ratio=k.run(k.atr_ratio, n, atr),
        )

    def values(self, i: int) -> IndicatorValues:
        """``BarIndicators.values()`` after bar ``i``: the same dict, None where warming up."""
        adx = _or_none(self.adx[i])
        return {
            "ema20": _or_none(self.ema20[i]),
            "ema50": _or_none(self.ema50[i]),
            "ema100": _or_none(self.ema100[i]),
            "ema200": _or_none(self.ema200[i]),
            "rsi14": _or_none(self.rsi14[i]),
            "atr": _or_none(self.atr[i]),
            "adx14": adx,
            "adx": adx,
            "vwap": _or_none(self.vwap[i]),
            "rel_volume": _or_none(self.rel_volume[i]),
            "vol_spike": bool(self.vol_spike[i]),
        }

    def ratio(self, i: int) -> float | None:
        """``_Series.atr_ratio`` after bar ``i`` (None until ATR and its average exist)."""
        return _or_none(self.atr_ratio[i])


def _or_none(value: np.float64) -> float | None:
    x = float(value)
    return None if x != x else x

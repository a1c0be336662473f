"""Years of simulated 1-minute history in Kite's historical-candles layout, for people without data.

Writes a folder the backtester (and the feed's ``replay`` source) reads::

    instruments.csv                      Kite's instruments master: indices, monthly futures, stocks
    candles/NSE/<SYMBOL>.csv             date,open,high,low,close,volume (one row per minute)
    candles/NFO/<NAME><YY><MON>FUT.csv   each monthly future on the days it is the current contract

The price model is the simulator's (``shared.sim``): seeded, one market factor times each
asset's beta plus idiosyncratic noise, U-shaped intraday volatility (``intraday.step_scales``),
a small overnight gap, futures at ``S e^{rT}`` to their expiry, prices on the tick grid,
NSE's calendar (holidays, monthly expiries). Each minute is four 15-second steps, so the
candle's high and low come from a real path, not from noise around the close.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.clock import IST_OFFSET_NS, NS
from shared.errors import ConfigError
from shared.instruments import Instrument, InstrumentsMaster
from shared.sim import calendar
from shared.sim.intraday import step_scales
from shared.sim.listing import equity_instrument, future_instrument, index_instrument
from shared.sim.specs import INDEX_SPECS, RISK_FREE_RATE, IndexSpec, load_equity_specs

MINUTES: Final = 375  # 09:15 -> 15:30
SUBSTEPS: Final = 4  # 15-second steps inside a minute
GAP_SD: Final = 0.3  # overnight gap, in daily s.d.
TRADING_DAYS_A_YEAR: Final = 252


@dataclass(frozen=True, slots=True)
class _Asset:
    symbol: str  # the index name (its futures trade) or the stock's tradingsymbol
    spot: float
    beta: float
    idio_sd: float  # idiosyncratic daily s.d.
    index: IndexSpec | None
    tick: float


def _assets(names: Sequence[str], market_sd: float) -> list[_Asset]:
    stocks = {s.tradingsymbol: s for s in load_equity_specs()}
    out: list[_Asset] = []
    for name in names:
        if name in INDEX_SPECS:
            spec = INDEX_SPECS[name]
            idio = max(spec.annual_vol / math.sqrt(TRADING_DAYS_A_YEAR) - spec.beta * market_sd, 0.0)
            out.append(_Asset(name, spec.level, spec.beta, idio, spec, 0.05))
        elif name in stocks:
            st = stocks[name]
            idio = math.sqrt(max(st.daily_vol**2 - (st.beta * market_sd) ** 2, 1e-8))
            tick = equity_instrument(st, st.price).tick_size
            out.append(_Asset(name, st.price, st.beta, idio, None, tick))
        else:
            known = ", ".join([*INDEX_SPECS, *sorted(stocks)][:12])
            raise ConfigError(f"generate: unknown symbol {name!r}; expected an index or a stock ({known}, ...)")
    return out


def minute_times(day: date) -> npt.NDArray[np.int64]:
    """Epoch ns of the 375 candle starts of ``day`` (09:15 .. 15:29 IST)."""
    open_ns = calendar.session_open_ns(day)
    return open_ns + np.arange(MINUTES, dtype=np.int64) * 60 * NS


def _ohlc(path: npt.NDArray[np.float64], start: float, tick: float) -> npt.NDArray[np.float64]:
    """(MINUTES, 4) open/high/low/close on the tick grid from a 15-second log-price path."""
    prices = np.round(start * np.exp(path) / tick) * tick
    steps = prices.reshape(MINUTES, SUBSTEPS)
    first = np.concatenate(([np.round(start / tick) * tick], steps[:-1, -1]))  # open = previous close
    high = np.maximum(steps.max(axis=1), first)
    low = np.minimum(steps.min(axis=1), first)
    return np.column_stack((first, high, low, steps[:, -1]))


def _iso(ts: npt.NDArray[np.int64]) -> list[str]:
    """Kite's candle timestamp text, ``2025-01-01T09:15:00+0530``."""
    secs = (ts + IST_OFFSET_NS) // NS
    base = np.datetime64("1970-01-01T00:00:00") + secs.astype("timedelta64[s]")
    return [f"{t}+0530" for t in base.astype(str)]


def _write_candles(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if path.exists() else "w", newline="") as fh:
        if fh.tell() == 0:
            fh.write("date,open,high,low,close,volume\n")
        fh.write("".join(rows))


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def generate_history(
    folder: str | Path,
    start: date,
    end: date,
    symbols: Sequence[str] = ("NIFTY", "RELIANCE"),
    *,
    seed: int = 42,
) -> dict[str, int]:
    """Write ``start``..``end`` (trading days, both included) of ``symbols`` to ``folder``; returns candles per file.

    Index names (NIFTY, BANKNIFTY, FINNIFTY) get their monthly futures (and the index
    itself); other names are the simulator's stocks (``shared/sim/equities.csv``).
    Existing candle files in ``folder`` are replaced.
    """
    folder = Path(folder)
    days = calendar.trading_days(start, end)
    if not days:
        raise ConfigError(f"generate: no trading day between {start} and {end}")
    nifty = INDEX_SPECS["NIFTY"]
    market_sd = nifty.annual_vol / math.sqrt(TRADING_DAYS_A_YEAR)
    assets = _assets(symbols, market_sd)
    rng = np.random.default_rng(seed)
    sd, activity = step_scales(60 * NS // SUBSTEPS)
    for path in (folder / "candles").glob("*/*.csv"):
        path.unlink()

    instruments: dict[int, Instrument] = {}
    for a in assets:
        if a.index is not None:
            instruments[a.index.instrument_token] = index_instrument(a.index)
            for month_start in _months(days[0], days[-1] + timedelta(days=62)):
                fut = future_instrument(a.index, calendar.monthly_expiry(month_start.year, month_start.month))
                instruments[fut.instrument_token] = fut
        else:
            spec = next(s for s in load_equity_specs() if s.tradingsymbol == a.symbol)
            inst = equity_instrument(spec, a.spot)
            instruments[inst.instrument_token] = inst
    master = InstrumentsMaster(instruments.values(), source=str(folder / "instruments.csv"))

    level = np.array([a.spot for a in assets])
    counts: dict[str, int] = {}
    vol_shape = activity[: MINUTES * SUBSTEPS].reshape(MINUTES, SUBSTEPS).mean(axis=1)
    for day in days:
        n = MINUTES * SUBSTEPS
        market = rng.standard_normal(n) * sd * market_sd
        gap = rng.standard_normal(len(assets)) * GAP_SD
        times = minute_times(day)
        stamps = _iso(times)
        for i, a in enumerate(assets):
            idio = rng.standard_normal(n) * sd * a.idio_sd
            log_path = np.cumsum(a.beta * market + idio)
            start_level = level[i] * math.exp(gap[i] * (a.beta * market_sd + a.idio_sd) * 0.5)
            busy = rng.gamma(2.0, 500.0, MINUTES) * vol_shape  # ~1,000 a minute at midday, U-shaped
            if a.index is not None:
                fut = master.future(a.symbol, day)
                assert fut.expiry is not None
                carry = math.exp(RISK_FREE_RATE * max((fut.expiry - day).days, 0) / 365.0)
                ohlc = _ohlc(log_path, start_level * carry, fut.tick_size)
                key = f"NFO/{fut.tradingsymbol}"
                volume = (busy.astype(np.int64) + 1) * fut.lot_size  # lots a minute
            else:
                ohlc = _ohlc(log_path, start_level, a.tick)
                key = f"NSE/{a.symbol}"
                volume = (busy * 100).astype(np.int64) + 1  # shares a minute
            rows = [
                f"{stamps[m]},{_fmt(ohlc[m, 0])},{_fmt(ohlc[m, 1])},{_fmt(ohlc[m, 2])},{_fmt(ohlc[m, 3])},{volume[m]}\n"
                for m in range(MINUTES)
            ]
            _write_candles(folder / "candles" / f"{key}.csv", rows)
            counts[key] = counts.get(key, 0) + MINUTES
            level[i] = start_level * math.exp(log_path[-1])
    master.to_csv(folder / "instruments.csv")
    return counts


def _months(first: date, last: date) -> list[date]:
    out: list[date] = []
    d = first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d + timedelta(days=32)).replace(day=1)
    return out


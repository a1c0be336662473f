"""The bar path: the tick path's results from 1-minute candles, touching the system only where something happens.

``BarBacktest`` is a ``Backtest`` (the same risk engine, paper broker, OMS, journals and
trading engines, the same ``on_tick``) that is not fed every tick. Candles replay as four
ticks each (``shared.replay``); most of those ticks change nothing but prices. So:

1. **Indicators** of every series the engines build (each logical symbol and timeframe, a
   rolled future continuing its predecessor) are computed once as arrays
   (``SeriesIndicators``: the same numbers as the incremental ones, bar for bar).
2. **Strategies** declare where their decisions can change (``Strategy.vector_plan``): the
   engine is called only on those bars (with the values it would have had, and its memory
   synced), plus, while a strategy holds a position, on the bars where ``bar_exit`` fires
   and the ticks where ``tick_exit`` fires (both found with the base class's own tests).
3. **Event ticks** go through the real ``Backtest.on_tick`` (risk, broker, snapshot, the
   engine's tick decisions, the equity sample): each day's first tick (day roll, flush,
   universe roll), the broker's MIS cut-offs, the ticks that close a candidate bar, the
   exits in 2., every tick of an instrument with a working order, and any snapshot at
   which the day loss would breach ``max_daily_loss``.
4. **Quiet ticks** between two events are applied in bulk, with the effect each would have
   had: risk's last tick and price per symbol, the broker's marks, the position snapshot
   (the last one of the stretch is taken for real; the ones before are only checked for the
   day-loss rule, vectorised), the equity curve's one point a minute (vectorised, the same
   float operations as ``Portfolio.net_pnl``), the tick counter.

The journals (signals, orders, round trips), risk's decisions, the equity curve and the day
PnL come out identical to the tick path's; ``tests/unit/test_backtest_bars.py`` compares them
line for line. What the bar path does not keep up to date: the engines' candle builders and
incremental indicator objects (never read on this path; their checkpoint state is not
meaningful after a bar-path run) and the engines' bar counters.

Takes: candle data only (no ``ticks.csv``), candles on whole minutes inside the session
(09:15-15:30 IST), strategies that opt in. Anything else runs on the tick path
(``run_backtest`` chooses; ``bar_path_problem`` says why).
"""

from __future__ import annotations

import heapq
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.backtest.runner import Backtest, BacktestResult, _EngineSlot
from shared.brokers.positions import MIS_SQUARE_OFF, Position
from shared.candles import timeframe_ns
from shared.clock import IST_OFFSET_NS, MARKET_CLOSE, MARKET_OPEN, NS
from shared.contracts import Bar, Tick
from shared.errors import ConfigError
from shared.indicators.series import SeriesIndicators
from shared.instruments import Instrument, InstrumentsMaster
from shared.replay import load_candles
from shared.runtime.engine_service import session_bounds
from shared.strategies.base import BarArrays, PositionState, Strategy, VectorPlan
from shared.trading.engine import Output, TradingEngine

DAY_NS: Final = 86_400 * NS
MINUTE_NS: Final = 60 * NS
TICK_STEP_NS: Final = 15 * NS  # the replay's four ticks a candle: +0, +15, +30, +45 s
OPEN_OFF_NS: Final = (MARKET_OPEN.hour * 60 + MARKET_OPEN.minute) * MINUTE_NS
CLOSE_OFF_NS: Final = (MARKET_CLOSE.hour * 60 + MARKET_CLOSE.minute) * MINUTE_NS
_ONE: Final = (1,)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


# -- the data -------------------------------------------------------------------------------------
@dataclass(slots=True)
class CandleFile:
    """One instrument's 1-minute candles as columns (``ts``: each candle's start, epoch ns)."""

    inst: Instrument
    ts: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Ints
    oi: Ints


class BarHistory:
    """The instruments master and every candle file of ``folder`` between two IST days, as columns."""

    def __init__(self, master: InstrumentsMaster, files: list[CandleFile]) -> None:
        self.master = master
        self.files = files

    @staticmethod
    def folder_problem(folder: str | Path) -> str:
        """Why the data in ``folder`` cannot take the bar path without reading it ("" when it may)."""
        if (Path(folder) / "ticks.csv").exists():
            return "the data has ticks (ticks.csv), not only 1-minute candles"
        return ""

    @classmethod
    def load(cls, folder: str | Path, start: date | None = None, end: date | None = None) -> BarHistory:
        """Read and check the candles (``shared.replay.load_candles``), keep ``start``..``end`` (IST days)."""
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(
                f"backtest.data_path: {path} is not a folder; write simulated history with "
                f"`python -m scripts.run_trader backtest-data --out {path}` or see docs/backtesting.md"
            )
        if start and end and end < start:
            raise ConfigError(f"backtest: --to {end} is before --from {start}")
        master, loaded = load_candles(path)
        lo = session_bounds(start - timedelta(days=1))[1] if start is not None else -(1 << 62)
        hi = session_bounds(end)[1] if end is not None else 1 << 62
        files = []
        for inst, candles in loaded:
            cols = list(zip(*candles, strict=True)) if candles else [()] * 7
            ts = np.array(cols[0], dtype=np.int64)
            keep = (ts >= lo) & (ts < hi)  # whole IST days, as HistoryData cuts the ticks
            files.append(
                CandleFile(
                    inst,
                    ts[keep],
                    *(np.array(cols[i], dtype=np.float64)[keep] for i in range(1, 5)),
                    np.array(cols[5], dtype=np.int64)[keep],
                    np.array(cols[6], dtype=np.int64)[keep],
                )
            )
        return cls(master, files)

    def problem(self) -> str:
        """Why these candles cannot take the bar path ("" when they can)."""
        tokens = [f.inst.instrument_token for f in self.files]
        if len(set(tokens)) != len(tokens):
            return "two candle files are the same instrument"
        if not any(len(f.ts) for f in self.files):
            return "no candles in the date range"
        for f in self.files:
            if not len(f.ts):
                continue
            if np.any(f.ts % MINUTE_NS):
                return f"{f.inst.key} has candles that do not start on a whole minute"
            off = (f.ts + IST_OFFSET_NS) % DAY_NS
            if np.any(off < OPEN_OFF_NS) or np.any(off >= CLOSE_OFF_NS):
                return f"{f.inst.key} has candles outside the session (09:15-15:30 IST)"
        return ""


# -- the replay's ticks, as columns -------------------------------------------------------------------
class _Timeline:
    """Every tick the replay would make (four a candle), merged in its order, as arrays.

    ``pos``: a tick's index in the merged order. The replay merges files by event time,
    ties in file order (``heapq.merge`` is stable), which a stable sort reproduces.
    """

    def __init__(self, files: Sequence[CandleFile]) -> None:
        ts_parts, file_parts, price_parts, qty_parts, cum_parts, oi_parts = [], [], [], [], [], []
        offsets = np.arange(4, dtype=np.int64) * TICK_STEP_NS
        for k, f in enumerate(files):
            n = len(f.ts)
            ts_parts.append((f.ts[:, None] + offsets).ravel())
            file_parts.append(np.full(4 * n, k, dtype=np.int32))
            # open, the extreme nearer the open, the other one, close (``_candle_ticks``)
            high_first = np.abs(f.high - f.open) <= np.abs(f.open - f.low)
            first = np.where(high_first, f.high, f.low)
            second = np.where(high_first, f.low, f.high)
            price_parts.append(np.column_stack((f.open, first, second, f.close)).ravel())
            quarter = f.volume // 4
            qty = np.column_stack((quarter, quarter, quarter, f.volume - 3 * quarter)).ravel()
            qty_parts.append(qty)
            cum_parts.append(_daily_cumsum(qty, ts_parts[-1]))
            oi_parts.append(np.repeat(f.oi, 4))  # every tick of a candle carries its open interest
        ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64)
        if len(files) > 1:
            order = np.argsort(ts, kind="stable")
            self.ts: Ints = ts[order]
            self.file = np.concatenate(file_parts)[order]
            self.price: Floats = np.concatenate(price_parts)[order]
            self.qty: Ints = np.concatenate(qty_parts)[order]
            self.cum: Ints = np.concatenate(cum_parts)[order]
            self.oi: Ints = np.concatenate(oi_parts)[order]
        else:  # one file is already in order
            self.ts, self.file, self.price = ts, file_parts[0], price_parts[0]
            self.qty, self.cum, self.oi = qty_parts[0], cum_parts[0], oi_parts[0]
        self.size = len(self.ts)
        new_ts = np.ones(self.size, dtype=bool)
        new_ts[1:] = self.ts[1:] != self.ts[:-1]
        minute = self.ts // MINUTE_NS
        new_minute = np.ones(self.size, dtype=bool)
        new_minute[1:] = minute[1:] != minute[:-1]
        self.first_of_ts: Ints = np.flatnonzero(new_ts)  # a snapshot is taken on these (5 s cadence, 15 s ticks)
        self.first_of_minute: Ints = np.flatnonzero(new_minute)  # the equity curve's sampling ticks
        #: per file, the merged positions of its ticks (candle j's ticks are 4j .. 4j + 3)
        self.file_pos: list[Ints] = (
            [np.flatnonzero(self.file == k) for k in range(len(files))] if len(files) > 1 else [np.arange(self.size)]
        )
        days = (self.ts + IST_OFFSET_NS) // DAY_NS
        starts = np.ones(self.size, dtype=bool)
        starts[1:] = days[1:] != days[:-1]
        self.day_start: Ints = np.flatnonzero(starts)
        self.day_number: Ints = days[self.day_start]

    def last_in(self, k: int, lo: int, hi: int) -> int:
        """The position of file ``k``'s last tick in ``[lo, hi)``, or -1."""
        fp = self.file_pos[k]
        j = int(np.searchsorted(fp, hi)) - 1
        return int(fp[j]) if j >= 0 and fp[j] >= lo else -1

    def next_of(self, k: int, after: int) -> int:
        """The position of file ``k``'s first tick after ``after``, or ``size``."""
        fp = self.file_pos[k]
        j = int(np.searchsorted(fp, after, side="right"))
        return int(fp[j]) if j < len(fp) else self.size


def _daily_cumsum(qty: Ints, ts: Ints) -> Ints:
    """The replay's cumulative day volume per tick (it restarts each IST day)."""
    cum = np.cumsum(qty)
    days = (ts + IST_OFFSET_NS) // DAY_NS
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if len(days) else np.zeros(0, np.int64)
    before = np.r_[0, cum][starts]  # the cumulative sum before each day's first tick
    return cum - np.repeat(before, np.diff(np.r_[starts, len(qty)]))


# -- one series (logical symbol, timeframe) of one engine ----------------------------------------------
class _Series:
    """A series' bars, indicators, where each bar closes, and each strategy's plan on it.

    ``close_key``: ``2 * pos`` for a bar closed by the tick at ``pos`` (the first of its
    instrument at or after the bar's end), ``2 * pos - 1`` for one closed by the 15:30 flush
    run at the tick ``pos`` that opens the next day (``2 * size - 1``: at the end of the data).
    """

    def __init__(self, timeframe: str, bars: BarArrays, token: Ints, close_key: Ints, oi: Ints) -> None:
        self.timeframe = timeframe
        self.bars = bars
        self.token = token
        self.oi = oi  # the last candle's open interest (the candle builder keeps the last tick's)
        self.close_key = close_key
        self.ind = SeriesIndicators.compute(bars.ts_open, bars.high, bars.low, bars.close, bars.volume)
        self.plans: dict[str, VectorPlan] = {}
        # lists: the per-event lookups are scalar (bisect on a list beats numpy's per-call overhead)
        self.keys: list[int] = close_key.tolist()
        self.ts_event: list[int] = bars.ts_event.tolist()

    def bar(self, i: int, symbol: str) -> Bar:
        b = self.bars
        return Bar(
            ts_event=self.ts_event[i],
            instrument_token=int(self.token[i]),
            symbol=symbol,
            timeframe=self.timeframe,
            ts_open=int(b.ts_open[i]),
            open=float(b.open[i]),
            high=float(b.high[i]),
            low=float(b.low[i]),
            close=float(b.close[i]),
            volume=int(b.volume[i]),
            oi=int(self.oi[i]),
        )

    def at_key(self, key: int) -> range:
        """The bars closed at ``key``."""
        lo = bisect_left(self.keys, key)
        hi = lo
        while hi < len(self.keys) and self.keys[hi] == key:
            hi += 1
        return range(lo, hi)

    def seen(self, key: int, ts: int) -> int:
        """The last bar the engine has applied when it settles the bars of event time ``ts`` closed at ``key``."""
        j = bisect_left(self.keys, key)  # closed before this tick
        while j < len(self.keys) and self.keys[j] == key and self.ts_event[j] <= ts:
            j += 1
        return j - 1


def _aggregate(
    ts: Ints, o: Floats, h: Floats, lo: Floats, c: Floats, v: Ints, tf_ns: int
) -> tuple[Ints, Ints, Floats, Floats, Floats, Floats, Ints, Ints]:
    """1-minute candles (whole days) into bars of ``tf_ns`` as the candle builder folds them.

    Buckets count from 09:15 IST and never run past 15:30; OHLC are the first open, the
    highest high, the lowest low and the last close; volume the sum. Returns (ts_open,
    ts_event, open, high, low, close, volume, index of each bar's first candle).
    """
    midnight = ts - (ts + IST_OFFSET_NS) % DAY_NS
    open_ns = midnight + OPEN_OFF_NS
    start = open_ns + (ts - open_ns) // tf_ns * tf_ns
    first = np.flatnonzero(np.r_[True, start[1:] != start[:-1]]) if len(ts) else np.zeros(0, np.int64)
    last = np.r_[first[1:], len(ts)] - 1
    ts_open = start[first]
    ts_event = np.minimum(ts_open + tf_ns, midnight[first] + CLOSE_OFF_NS)
    return (
        ts_open,
        ts_event,
        o[first],
        np.maximum.reduceat(h, first) if len(first) else h[:0],
        np.minimum.reduceat(lo, first) if len(first) else lo[:0],
        c[last],
        np.add.reduceat(v, first) if len(first) else v[:0],
        first,
    )


# -- the runner -----------------------------------------------------------------------------------------
class BarBacktest(Backtest):
    """``Backtest`` on 1-minute candles through the bar path (module docstring)."""

    path = "bars"

    def bar_path_problem(self) -> str:
        """Why these strategies cannot take the bar path ("" when they can)."""
        for slot in self.slots:
            engine = slot.build({})
            for s in engine.strategies:
                why = s.bar_path_problem()
                if why:
                    return f"strategy {s.id!r} of the {slot.name} engine cannot: {why}"
        return ""

    # -- set-up ----------------------------------------------------------------------------------------
    def _prepare(self, history: BarHistory) -> None:
        files = [f for f in history.files if len(f.ts)]
        self.files = files
        self.tl = tl = _Timeline(files)
        self._file_of_token = {f.inst.instrument_token: k for k, f in enumerate(files)}
        self._file_of_symbol = {f.inst.tradingsymbol: k for k, f in enumerate(files)}
        self._pos = -1
        self._flush_key = -1
        #: (slot index, logical) -> timeframe -> series
        self._sets: dict[tuple[int, str], dict[str, _Series]] = {}
        #: slot index -> token -> first position the engine saw it (the candle builder's order)
        self._first_seen: list[dict[int, int]] = []
        self._engine_day_start: list[dict[date, int]] = []
        #: (slot index, strategy id, logical) -> index of the last bar bookkept on its timeframe
        self._done: dict[tuple[int, str, str], int] = {}
        self._views: dict[tuple[int, int, str], int] = {}  # (id(engine), token, tf) -> bar index set
        self._scanned: dict[tuple[int, str, str], tuple[object, ...] | None] = {}
        self._exit_at: dict[tuple[int, str, str], int] = {}
        self._heap: list[tuple[int, int, tuple[int, str, str] | None]] = []
        self._heap_seq = 0
        days = [_date_of(int(d)) for d in tl.day_number]
        static: list[Ints] = [tl.day_start]
        # The broker's clock (MIS square-off at 15:20 / 15:25): an event only when the book holds a
        # position or a working order then. With nothing open the square-off has nothing to cancel or
        # close, and the clock catches up at the broker's next tick; nothing it would act on can
        # appear in between: risk blocks new MIS entries on an exchange from its cut-off
        # (market_hours) and a reduce-only order against a flat book (reduce_only).
        midnight = tl.ts[tl.day_start] - (tl.ts[tl.day_start] + IST_OFFSET_NS) % DAY_NS
        next_day = np.r_[tl.day_start[1:], tl.size]
        cutoffs = []
        for cutoff in sorted(set(MIS_SQUARE_OFF.values())):
            pos = np.searchsorted(tl.ts, midnight + (cutoff.hour * 60 + cutoff.minute) * MINUTE_NS)
            cutoffs.append(pos[pos < next_day])
        self._cutoffs: list[int] = np.unique(np.concatenate(cutoffs)).tolist() if cutoffs else []
        for si, slot in enumerate(self.slots):
            static.extend(self._prepare_slot(si, slot, days))
        self._static: list[int] = np.unique(np.concatenate(static)).tolist()

    def _prepare_slot(self, si: int, slot: _EngineSlot, days: list[date]) -> list[Ints]:
        """Build the slot's series over every day of data; return the positions of candidate bars' closes."""
        tl = self.tl
        engine = slot.build({})
        timeframes = engine.timeframes
        # each day's universe, as the runner resolves it
        pieces: dict[str, list[tuple[int, int, int, int]]] = {}  # logical -> (day idx, file, lo, hi) candles
        first_seen: dict[int, int] = {}
        day_start: dict[date, int] = {}  # the engine's first tick of each day (its day roll)
        for d, day in enumerate(days):
            for token, (logical, _symbol, _exchange) in slot.resolve(self.master, day).items():
                k = self._file_of_token.get(token)
                if k is None:
                    continue
                f = self.files[k]
                lo, hi = _day_range(f.ts, day)
                if hi > lo:
                    pieces.setdefault(logical, []).append((d, k, lo, hi))
                    first_seen.setdefault(token, int(tl.file_pos[k][4 * lo]))
                    day_start[day] = min(day_start.get(day, 1 << 62), int(f.ts[lo]))
        self._first_seen.append(first_seen)
        self._engine_day_start.append(day_start)
        out: list[Ints] = []
        for logical, parts in pieces.items():
            sets: dict[str, _Series] = {}
            for tf in timeframes:
                sets[tf] = self._build_series(tf, parts)
            self._sets[(si, logical)] = sets
            for s in engine.strategies:
                ser = sets[s.timeframe]
                plan = s.vector_plan(ser.ind, ser.bars)
                if plan is None:  # bar_path_problem said yes: a plan is owed
                    raise ConfigError(f"strategy {s.id!r}: vector_plan returned no plan for {logical}")
                ser.plans[s.id] = plan
                keys = ser.close_key[plan.candidates]
                out.append(keys[keys % 2 == 0] // 2)  # flush-closed candidates are run by the flush
        return out

    def _build_series(self, tf: str, parts: list[tuple[int, int, int, int]]) -> _Series:
        """One series from its days' candles ``parts`` (day index, file, first, end), in one vectorised pass."""
        tl = self.tl
        files = self.files

        def column(get: Callable[[CandleFile, int, int], np.ndarray]) -> np.ndarray:
            return np.concatenate([get(files[k], lo, hi) for _d, k, lo, hi in parts])

        ts = column(lambda f, lo, hi: f.ts[lo:hi])
        sizes = np.array([hi - lo for _d, _k, lo, hi in parts], dtype=np.int64)
        part = np.repeat(np.arange(len(parts)), sizes)  # which day-part each candle comes from
        open_pos = np.concatenate([tl.file_pos[k][4 * lo : 4 * hi : 4] for _d, k, lo, hi in parts])
        ts_open, ts_event, o, h, low, c, v, first = _aggregate(
            ts,
            column(lambda f, lo, hi: f.open[lo:hi]),
            column(lambda f, lo, hi: f.high[lo:hi]),
            column(lambda f, lo, hi: f.low[lo:hi]),
            column(lambda f, lo, hi: f.close[lo:hi]),
            column(lambda f, lo, hi: f.volume[lo:hi]),
            timeframe_ns(tf),
        )
        last = np.r_[first[1:], len(ts)] - 1  # each bar's last candle
        oi = column(lambda f, lo, hi: f.oi[lo:hi])[last]
        token = np.array([files[k].inst.instrument_token for _d, k, _lo, _hi in parts], dtype=np.int64)[part[first]]
        # A bar closes at the first tick of its instrument at or after its end that day: the next candle's
        # open, when the day-part goes on (the next bucket starts at or after this one's end); else the flush.
        day_index = np.array([d for d, _k, _lo, _hi in parts], dtype=np.int64)[part[first]]
        next_day_pos = np.r_[tl.day_start[1:], tl.size][day_index]  # the last day's flush: 2 * size - 1
        nxt = np.minimum(last + 1, len(ts) - 1)
        same = (last + 1 < len(ts)) & (part[nxt] == part[last])
        key = np.where(same, 2 * open_pos[nxt], 2 * next_day_pos - 1)
        bars = BarArrays(ts_open=ts_open, ts_event=ts_event, open=o, high=h, low=low, close=c, volume=v)
        return _Series(tf, bars, token, key.astype(np.int64), oi.astype(np.int64))

    # -- the loop ------------------------------------------------------------------------------------
    def run(
        self, ticks: Iterable[Tick], progress: Callable[[int], None] | None = None, *, finish: bool = True
    ) -> BacktestResult:
        """Not on this class: its engines have no candles to feed ticks to (``run_bars``, or a ``Backtest``)."""
        raise TypeError("BarBacktest replays candles with run_bars(BarHistory); feed ticks to a Backtest")

    def run_bars(self, history: BarHistory) -> BacktestResult:
        """Replay ``history`` through the bar path; the same result as ``run`` on its ticks."""
        started = time.perf_counter()
        self._prepare(history)
        tl = self.tl
        static, cutoffs = self._static, self._cutoffs
        si = ci = 0
        cursor = -1
        heap = self._heap
        while True:
            while si < len(static) and static[si] <= cursor:
                si += 1
            nxt = static[si] if si < len(static) else tl.size
            while heap and (heap[0][0] <= cursor or not self._live(heap[0])):
                heapq.heappop(heap)
            if heap and heap[0][0] < nxt:
                nxt = heap[0][0]
            # a cut-off before every other event: the book cannot change until then, so decide now
            while ci < len(cutoffs) and cutoffs[ci] < nxt:
                if cutoffs[ci] > cursor and self._book_busy():
                    nxt = cutoffs[ci]
                    break
                ci += 1
            nxt = self._quiet(cursor, nxt)
            if nxt >= tl.size:
                break
            self._pos = nxt
            self._flush_key = 2 * nxt - 1
            self.on_tick(self._tick_at(nxt))
            self._after_event(nxt)
            cursor = nxt
        self._pos = tl.size
        self._flush_key = 2 * tl.size - 1
        self.finish()
        return self.result(started)

    def _book_busy(self) -> bool:
        """The paper book holds a position or a working order (the MIS square-off would act)."""
        book = self.broker
        return any(not p.is_flat for p in book.portfolio.positions.values()) or bool(book.open_orders())

    def _live(self, item: tuple[int, int, tuple[int, str, str] | None]) -> bool:
        ident = item[2]
        return ident is None or self._exit_at.get(ident) == item[0]

    def _push(self, pos: int, ident: tuple[int, str, str] | None = None) -> None:
        self._heap_seq += 1
        heapq.heappush(self._heap, (pos, self._heap_seq, ident))

    def _tick_at(self, p: int) -> Tick:
        """The replay's tick at ``p`` (``ReplaySource._tick``: one depth level each side but for indices)."""
        tl = self.tl
        inst = self.files[int(tl.file[p])].inst
        price = float(tl.price[p])
        qty = int(tl.qty[p])
        if inst.is_index:
            return Tick(
                ts_event=int(tl.ts[p]), instrument_token=inst.instrument_token, exchange=inst.exchange,
                symbol=inst.tradingsymbol, last_price=price, last_quantity=qty, volume=int(tl.cum[p]),
                oi=int(tl.oi[p]),
            )  # fmt: skip
        step = inst.tick_size or 0.05
        depth = (max(qty, 1),)
        return Tick(
            ts_event=int(tl.ts[p]),
            instrument_token=inst.instrument_token,
            exchange=inst.exchange,
            symbol=inst.tradingsymbol,
            last_price=price,
            last_quantity=qty,
            volume=int(tl.cum[p]),
            oi=int(tl.oi[p]),
            bid_prices=(max(round(price - step, 2), step),),
            bid_quantities=depth,
            bid_orders=_ONE,
            ask_prices=(round(price + step, 2),),
            ask_quantities=depth,
            ask_orders=_ONE,
        )

    def _after_event(self, p: int) -> None:
        """Events the tick at ``p`` created: the next ticks of instruments with working orders."""
        working = {o.instrument_token for o in self.broker.open_orders()}
        for token in working:
            k = self._file_of_token.get(token)
            if k is not None:
                self._push(self.tl.next_of(k, p))

    # -- quiet ticks in bulk ---------------------------------------------------------------------------
    def _quiet(self, cursor: int, nxt: int) -> int:
        """Apply the ticks strictly between ``cursor`` and ``nxt``; return where the next event is.

        That is ``nxt``, or earlier: the first snapshot at which the day loss breaches the limit.
        """
        lo, hi = cursor + 1, nxt
        if hi <= lo:
            return nxt
        tl = self.tl
        book = self.broker.portfolio
        open_pos = [p for p in book.positions.values() if p.quantity]
        snaps = tl.first_of_ts[np.searchsorted(tl.first_of_ts, lo) : np.searchsorted(tl.first_of_ts, hi)]
        if self._fill_since_snapshot and (not len(snaps) or snaps[0] != lo):
            snaps = np.r_[lo, snaps]  # the first tick after a fill snapshots the book
        if open_pos and len(snaps) and not self.risk.state.loss_halt:
            day_pnl = self._net_pnl_at(snaps, lo, open_pos)
            breached = np.flatnonzero(day_pnl <= -self.settings.risk.max_daily_loss)
            if len(breached):  # that snapshot halts and squares off: run it for real
                hi = int(snaps[breached[0]])
                snaps = snaps[: breached[0]]
                if hi <= lo:
                    return hi
        # the equity curve's samples (one a minute: the first tick at or after the next minute)
        fm = tl.first_of_minute
        samples = fm[np.searchsorted(fm, lo) : np.searchsorted(fm, hi)]
        if len(samples) and tl.ts[samples[0]] < self._next_sample_ns:
            samples = samples[1:]
        if len(samples):
            closed = self._closed_pnl()
            if open_pos:
                equity = (self.capital + closed) + self._net_pnl_at(samples, lo, open_pos)
            else:
                equity = np.full(len(samples), (self.capital + closed) + book.net_pnl)  # nothing moves it
            ts_s = tl.ts[samples].tolist()
            self.equity.extend(ts_s, equity.tolist(), bool(open_pos))
            last = ts_s[-1]
            self._next_sample_ns = last - last % MINUTE_NS + MINUTE_NS
        # prices: the broker's marks and risk's last ticks, up to the last snapshot, the snapshot, then the rest
        if len(snaps):
            q = int(snaps[-1])
            self._apply_prices(lo, q + 1)
            self.now = max(self.now, int(tl.ts[q]))
            self._snapshot()
            self._apply_prices(q + 1, hi)
        else:
            self._apply_prices(lo, hi)
        self.now = max(self.now, int(tl.ts[hi - 1]))
        self.counters["ticks"] += hi - lo
        return hi

    def _apply_prices(self, lo: int, hi: int) -> None:
        """Each instrument's last tick in ``[lo, hi)`` as risk and the broker would have it."""
        if hi <= lo:
            return
        tl = self.tl
        state = self.risk.state
        book = self.broker.portfolio
        for k, f in enumerate(self.files):
            p = tl.last_in(k, lo, hi)
            if p < 0:
                continue
            ts, price = int(tl.ts[p]), float(tl.price[p])
            symbol = f.inst.tradingsymbol
            state.on_tick(symbol, ts, price)
            book.mark(symbol, price)
        self.risk.advance(int(tl.ts[hi - 1]))

    def _net_pnl_at(self, points: Ints, lo: int, open_pos: list[Position]) -> Floats:
        """``Portfolio.net_pnl`` at each tick of ``points`` (marks then), the same float operations.

        realized + unrealized - charges, the unrealized part summed position by position in the
        book's order from 0 (what ``sum`` does up to Python 3.11; from 3.12 ``sum`` compensates,
        which gives the same for at most two terms, so more open positions are summed one point
        at a time with the real properties there).
        """
        book = self.broker.portfolio
        realized, charges = book.realized_pnl, book.total_charges
        if len(open_pos) > 2 and sys.version_info >= (3, 12):
            return self._net_pnl_slow(points, lo, open_pos)
        unrealized: Floats | float = 0
        for pos in open_pos:
            marks = self._marks_at(pos.symbol, points, lo, pos.last_price)
            unrealized = unrealized + pos.quantity * (marks - pos.avg_price)
        return (realized + unrealized) - charges

    def _net_pnl_slow(self, points: Ints, lo: int, open_pos: list[Position]) -> Floats:
        marks = {p.symbol: self._marks_at(p.symbol, points, lo, p.last_price).tolist() for p in open_pos}
        saved = {p.symbol: p.last_price for p in open_pos}
        book = self.broker.portfolio
        out = []
        for i in range(len(points)):
            for symbol, values in marks.items():
                book.mark(symbol, values[i])
            out.append(book.net_pnl)
        for symbol, price in saved.items():
            book.mark(symbol, price)
        return np.array(out)

    def _marks_at(self, symbol: str, points: Ints, lo: int, current: float) -> Floats:
        """The mark of ``symbol`` at each tick of ``points``: its last tick at or before it, else ``current``."""
        k = self._file_of_symbol.get(symbol)
        if k is None:
            return np.full(len(points), current)
        if len(self.files) == 1:  # every tick is this symbol's: at each point, that tick's price
            return self.tl.price[points]
        fp = self.tl.file_pos[k]
        j = np.searchsorted(fp, points, side="right") - 1
        ok = j >= 0
        ok[ok] = fp[j[ok]] >= lo
        return np.where(ok, self.tl.price[fp[np.maximum(j, 0)]], current)

    def _open_day(self, day: date) -> None:
        super()._open_day(day)
        self._views.clear()  # a rolled engine is a new object: its series hold nothing we set
        # Each engine starts its day (strategies drop yesterday's positions, reset day stats) on its
        # first tick of the day on the tick path; here at the day's first tick, the same day, with
        # nothing of that engine happening in between.
        for si, slot in enumerate(self.slots):
            ts = self._engine_day_start[si].get(day)
            if ts is not None and slot.engine is not None:
                slot.engine.advance_day(ts)

    def finish(self) -> None:
        super().finish()
        self._settle_strategies()

    def _settle_strategies(self) -> None:
        """The strategies' bookkeeping and memory as evaluating every bar would leave them at the end."""
        for (si, logical), sets in self._sets.items():
            engine = self.slots[si].engine
            if engine is None:
                continue
            for s in engine.strategies:
                ser = sets.get(s.timeframe)
                if ser is None or not ser.keys:
                    continue
                token = int(ser.token[-1])
                info = engine._symbols.get(token)
                symbol = info.symbol if info is not None else self.master.by_token(token).tradingsymbol
                self._bookkeep(si, s, logical, symbol, len(ser.keys) - 1)
                ser.plans[s.id].sync(s.memo_for(symbol), len(ser.keys))

    # -- the engines at an event tick --------------------------------------------------------------
    def _engines(self, tick: Tick) -> None:
        token = tick.instrument_token
        key = 2 * self._pos
        for si, slot in enumerate(self.slots):
            if token not in slot.symbols:
                continue
            engine = slot.engine
            assert engine is not None
            engine.advance_day(tick.ts_event)  # engine.on_tick's first step
            logical = slot.symbols[token][0]
            self._catch_up(si, engine, logical, token, key)
            out = self._bars_at(si, engine, logical, token, key)
            self._set_views(engine, si, logical, token, key, 1 << 62)
            out.extend(engine.on_tick_without_candles(tick))
            if out:
                self._outputs(out)
            self._rescan(si, engine, logical, token)

    def _flush_engines(self) -> None:
        key = self._flush_key
        for si, slot in enumerate(self.slots):
            engine = slot.engine
            assert engine is not None
            found: list[tuple[int, int, int, str, dict[str, int]]] = []  # (ts_event, first seen, token, ...)
            for token, (logical, _symbol, _exchange) in slot.symbols.items():
                sets = self._sets.get((si, logical))
                if not sets:
                    continue
                closing = [(sets[tf].ts_event[i], tf, i) for tf in sets for i in sets[tf].at_key(key)]
                order = self._first_seen[si].get(token, 1 << 62)
                for ts in {c[0] for c in closing}:
                    found.append((ts, order, token, logical, {tf: i for t, tf, i in closing if t == ts}))
            out: list[Output] = []
            for ts, _order, token, logical, index in sorted(found, key=lambda f: (f[0], f[1])):
                out.extend(self._group(si, engine, logical, token, key, ts, index))
            if out:
                self._outputs(out)

    def _bars_at(self, si: int, engine: TradingEngine, logical: str, token: int, key: int) -> list[Output]:
        sets = self._sets.get((si, logical))
        if not sets:
            return []
        closing = [(sets[tf].ts_event[i], tf, i) for tf in sets for i in sets[tf].at_key(key)]
        if not closing:
            return []
        out: list[Output] = []
        for ts in sorted({c[0] for c in closing}):
            out.extend(self._group(si, engine, logical, token, key, ts, {tf: i for t, tf, i in closing if t == ts}))
        return out

    def _group(
        self, si: int, engine: TradingEngine, logical: str, token: int, key: int, ts: int, index: dict[str, int]
    ) -> list[Output]:
        """The bars ``index`` (timeframe -> bar) of ``logical`` closed at ``key`` with event time ``ts``.

        ``_process_group`` on the bar path: the series' values put in place, then only the
        strategies whose decision can change here run; the others get their bookkeeping.
        """
        sets = self._sets[(si, logical)]
        symbol = engine_symbol(engine, token)
        self._set_views(engine, si, logical, token, key, ts)
        only: list[str] = []
        for s in engine.strategies:
            i = index.get(s.timeframe)
            if i is None:
                continue
            self._bookkeep(si, s, logical, symbol, i - 1)
            ser = sets[s.timeframe]
            plan = ser.plans[s.id]
            self._done[(si, s.id, logical)] = i
            if plan.candidates[i] or symbol in s.state.positions:
                plan.sync(s.memo_for(symbol), i)
                only.append(s.id)
            else:
                self._bookkeep_one(s, symbol, ser.ts_event[i])
        if not only:
            return []
        fresh = {tf: sets[tf].bar(i, symbol) for tf, i in index.items()}
        return engine.on_precomputed_bars(token, ts, fresh, only)

    def _set_views(self, engine: TradingEngine, si: int, logical: str, token: int, key: int, ts: int) -> None:
        """Each series of ``logical`` as the engine has it when it settles bars of time ``ts`` at ``key``."""
        for tf, ser in self._sets[(si, logical)].items():
            j = ser.seen(key, ts)
            if j < 0:
                continue
            cache = (id(engine), token, tf)
            if self._views.get(cache) == j:
                continue
            self._views[cache] = j
            engine.set_series_values(token, tf, ser.ind.values(j), ser.ind.ratio(j))

    def _catch_up(self, si: int, engine: TradingEngine, logical: str, token: int, key: int) -> None:
        """Bookkeeping of the bars closed before ``key``, before anything at this tick can change a position."""
        sets = self._sets.get((si, logical))
        if not sets:
            return
        symbol = engine_symbol(engine, token)
        for s in engine.strategies:
            ser = sets.get(s.timeframe)
            if ser is not None:
                self._bookkeep(si, s, logical, symbol, bisect_left(ser.keys, key) - 1)

    def _bookkeep(self, si: int, s: Strategy, logical: str, symbol: str, upto: int) -> None:
        """``evaluate_bar``'s bookkeeping for the bars skipped up to ``upto`` (bars in trade, bars since exit)."""
        done = self._done.get((si, s.id, logical), -1)
        if upto <= done:
            return
        self._done[(si, s.id, logical)] = upto
        ser = self._sets[(si, logical)][s.timeframe]
        pos = s.state.positions.get(symbol)
        if pos is not None:
            ts = ser.bars.ts_event[done + 1 : upto + 1]
            pos.bars_in_trade += int(np.count_nonzero(ts > pos.entry_ts))
        memo = s.memo_for(symbol)
        since = memo.get("bars_since_exit")
        if since is not None:
            memo["bars_since_exit"] = since + (upto - done)

    @staticmethod
    def _bookkeep_one(s: Strategy, symbol: str, ts_event: int) -> None:
        pos = s.state.positions.get(symbol)
        if pos is not None and ts_event > pos.entry_ts:
            pos.bars_in_trade += 1
        memo = s.memo_for(symbol)
        since = memo.get("bars_since_exit")
        if since is not None:
            memo["bars_since_exit"] = since + 1

    def _rescan(self, si: int, engine: TradingEngine, logical: str, token: int) -> None:
        """After the engine ran on ``token``: where each open position's exits can fire next."""
        symbol = engine_symbol(engine, token)
        for s in engine.strategies:
            ident = (si, s.id, logical)
            pos = s.state.positions.get(symbol)
            sig = (pos.side, pos.entry_ts, pos.stop, pos.target, token) if pos is not None else None
            if self._scanned.get(ident) == sig:
                continue
            self._scanned[ident] = sig
            if pos is None:
                self._exit_at.pop(ident, None)
                continue
            at = self._next_exit(si, s, logical, token, pos)
            self._exit_at[ident] = at
            if at < self.tl.size:
                self._push(at, ident)

    def _next_exit(self, si: int, s: Strategy, logical: str, token: int, pos: PositionState) -> int:
        """The first tick after now, this IST day, at which ``tick_exit`` or ``bar_exit`` can fire for ``pos``."""
        tl = self.tl
        p = self._pos
        now = int(tl.ts[p])
        midnight = now - (now + IST_OFFSET_NS) % DAY_NS
        time_exit = midnight + s.exit_time_s * NS  # both exits' time test fires from here on
        best = tl.size
        k = self._file_of_token.get(token)
        if k is not None:
            fp = tl.file_pos[k]
            a = int(np.searchsorted(fp, p, side="right"))
            b = int(np.searchsorted(fp, np.searchsorted(tl.ts, midnight + DAY_NS)))  # its ticks left today
            where = fp[a:b]
            ts = tl.ts[where]
            stop_at = int(np.searchsorted(ts, time_exit))  # the time exit, if it comes today
            best = int(where[stop_at]) if stop_at < len(where) else tl.size
            if (pos.stop > 0 or pos.target > 0) and stop_at > 0:  # a price level first?
                before = where[:stop_at]
                hit = np.flatnonzero(s.tick_exit_mask(pos, tl.ts[before], tl.price[before]))
                if len(hit):
                    best = int(before[hit[0]])
        ser = self._sets[(si, logical)][s.timeframe]
        if ser.plans[s.id].bar_exits:
            a = bisect_right(ser.keys, 2 * p)
            b = a + int(np.searchsorted(ser.bars.ts_event[a:], midnight + DAY_NS))
            if b > a:
                sub = BarArrays(*(getattr(ser.bars, f)[a:b] for f in BarArrays.__slots__))
                for h in np.flatnonzero(s.bar_exit_mask(pos, sub)).tolist():
                    key = ser.keys[a + h]
                    if key % 2 == 0:  # closed by a tick (a flush runs every strategy holding a position)
                        best = min(best, key // 2)
                        break
        return best


def engine_symbol(engine: TradingEngine, token: int) -> str:
    """The tradingsymbol the engine knows ``token`` by."""
    return engine._symbols[token].symbol


def _date_of(day_number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day_number)


def _day_range(ts: Ints, day: date) -> tuple[int, int]:
    """Indices of the candles of IST day ``day`` in a sorted ``ts``."""
    start = ist_to_ns_midnight(day)
    return int(np.searchsorted(ts, start)), int(np.searchsorted(ts, start + DAY_NS))


def ist_to_ns_midnight(day: date) -> int:
    """Epoch ns of 00:00 IST on ``day``."""
    return (day - date(1970, 1, 1)).days * DAY_NS - IST_OFFSET_NS


__all__ = ["BarBacktest", "BarHistory", "CandleFile"]


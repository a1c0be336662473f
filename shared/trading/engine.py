"""Ticks -> candles -> indicators -> strategies -> signals and order intents, on event time.

``TradingEngine`` is the pure core of the fno / options / equity services: the service
reads ticks from the bus, calls ``on_tick`` and publishes what comes back (``Signal`` s to
``signals``, ``OrderIntent`` s to ``orders.intents``); a backtest calls ``on_bars``. No
Redis, no I/O, no wall clock (``clock`` only stamps ``ts_init`` when a service passes one).

Per tick: the candle builder folds it; the bars it closes are grouped by (instrument,
event time) and, per group, every indicator series is updated FIRST and only then the
strategies run, so a 5m strategy at 09:30 sees the 15m bar that also ended at 09:30.
Then, if a strategy holds a position on the instrument (or sets ``ticks_when_flat``), its ``on_tick`` checks stops,
targets and the time exit. Decisions are settled per symbol by
``shared.trading.resolution`` and published; the strategies commit only what was taken.

docs/strategies.md has the rules in full (ids, tags, context labels, restart).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from shared.brokers.positions import mis_square_off_time
from shared.candles import CandleBuilder, timeframe_ns
from shared.clock import IST_OFFSET_NS, MARKET_CLOSE, MARKET_OPEN, NS
from shared.config import StrategyEngineConfig
from shared.contracts import Bar, OrderIntent, Signal, Tick
from shared.enums import OrderType, Product, Side, SignalKind
from shared.errors import ConfigError
from shared.indicators import SIGNAL_KEYS, BarIndicators, Ema, IndicatorValues
from shared.strategies.base import (
    DAY_NS,
    Strategy,
    StrategyContext,
    StrategyDecision,
    hhmm,
    ist_day_number,
)
from shared.strategies.registry import build_strategies
from shared.trading import records
from shared.trading.resolution import RESOLUTIONS, Proposal, resolve

SNAPSHOT_FORMAT: Final = 1
ATR_AVG_BARS: Final = 20  # the vol regime compares ATR with its EMA over this many bars

TagFn = Callable[[str, str, str], str]  # (strategy id, logical, symbol) -> tag
Output = Signal | OrderIntent


class SymbolInfo(NamedTuple):
    logical: str  # NIFTY, RELIANCE
    symbol: str  # tradingsymbol
    exchange: str


class _Series:
    """The indicators of one (instrument, timeframe) plus the ATR average for the vol regime."""

    __slots__ = ("atr_avg", "atr_ratio", "indicators", "values")

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.indicators = BarIndicators(symbol, timeframe)
        self.atr_avg = Ema(ATR_AVG_BARS)
        self.atr_ratio: float | None = None
        self.values: IndicatorValues = {}

    def update(self, bar: Bar) -> bool:
        """Apply a closed bar; False for a stale or redelivered one (nothing changes)."""
        if not self.indicators.update(bar):
            return False
        values = self.indicators.values()
        atr = values["atr"]
        if atr is not None:
            avg = self.atr_avg.value
            self.atr_ratio = atr / avg if avg == avg and avg > 0 else None  # avg == avg: not NaN
            self.atr_avg.update(atr)
        self.values = values
        return True


class TradingEngine:
    """Runs one engine's strategies over the instruments of ``symbols``.

    ``symbols``: instrument token -> (logical, tradingsymbol, exchange); ticks and bars of
    other tokens are ignored (counted). ``conflict_resolution``: ``highest_confidence``,
    ``priority`` or ``net_out`` (``shared.trading.resolution``). ``tag_fn(strategy_id,
    logical, symbol)`` gives each intent's ``tag`` (the equity service passes
    ``records.equity_tag``); None leaves it empty. ``mode``/``profile`` fill those
    ``signals.csv`` columns. Intents are MARKET orders of ``product`` with quantity 0 (risk
    sizes them) and the decision's stop and target.
    """

    def __init__(
        self,
        engine_name: str,
        strategies: Sequence[Strategy],
        conflict_resolution: str = "highest_confidence",
        *,
        symbols: Mapping[int, tuple[str, str, str]],
        mode: str = "paper",
        profile: str = "INTRADAY",
        tag_fn: TagFn | None = None,
        product: Product = Product.MIS,
        clock: Callable[[], int] | None = None,
    ) -> None:
        where = f"strategy_engine.engines.{engine_name}"
        if conflict_resolution not in RESOLUTIONS:
            raise ConfigError(
                f"strategy_engine.conflict_resolution: {conflict_resolution!r}; expected one of {RESOLUTIONS}"
            )
        ids = [s.id for s in strategies]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{where}: strategy ids {ids} repeat; give the duplicates params.id")
        self.name = engine_name
        self.strategies: tuple[Strategy, ...] = tuple(strategies)
        self.conflict_resolution = conflict_resolution
        self.mode = mode
        self.profile = profile
        self.product = product
        self._tag_fn = tag_fn
        self._clock = clock
        self._symbols = {int(token): SymbolInfo(*info) for token, info in symbols.items()}
        if product == Product.MIS:
            self._check_exit_times(where)
        needed = {tf for s in self.strategies for tf in s.timeframes}
        self.timeframes: tuple[str, ...] = tuple(sorted(needed, key=timeframe_ns))
        self._tf_ns = {tf: timeframe_ns(tf) for tf in self.timeframes}
        # an engine without strategies still takes ticks (and ignores them cheaply)
        self._candles = CandleBuilder(self.timeframes or ("1m",))
        self._series: dict[tuple[int, str], _Series] = {}
        self._open: dict[int, int] = {}  # token -> open strategy positions (> 0 only): the tick fast path
        # strategies whose on_tick is the base stop/target/time check: the engine tests the
        # levels inline and calls them only when one is reached (most ticks reach none)
        self._plain_tick = {s.id: type(s).on_tick is Strategy.on_tick for s in self.strategies}
        self._entry_tokens: frozenset[int] | None = None  # None: every token may be entered
        self._flat_tickers = any(s.ticks_when_flat for s in self.strategies)
        #: Set to a list to collect every bar the candle builder closes (the service publishes them
        #: on ``bars`` for the dashboard's charts); None collects nothing.
        self.closed_bars: list[Bar] | None = None
        self._midnight_ns = 0
        self._ticks = 0
        self._day = -1
        self._next_day_ns = 0
        self._counts = dict.fromkeys(
            (
                "unknown_ticks",
                "unknown_bars",
                "bars",
                "stale_bars",
                "signals",
                "intents",
                "dropped",
                "positions_dropped_at_day_end",
            ),
            0,
        )

    @classmethod
    def from_config(
        cls,
        engine_name: str,
        config: StrategyEngineConfig,
        *,
        symbols: Mapping[int, tuple[str, str, str]],
        **kwargs: Any,
    ) -> TradingEngine:
        """The engine ``engine_name`` (fno, options, equity) as ``config`` describes it."""
        specs = config.engines.get(engine_name, [])  # type: ignore[call-overload]  # a str key into Literal keys
        strategies = build_strategies(specs, where=f"strategy_engine.engines.{engine_name}")
        return cls(engine_name, strategies, config.conflict_resolution, symbols=symbols, **kwargs)

    def _check_exit_times(self, where: str) -> None:
        for exchange in sorted({info.exchange for info in self._symbols.values()}):
            try:
                square_off = mis_square_off_time(exchange)
            except ValueError:
                continue  # an index: never traded
            limit = square_off.hour * 3600 + square_off.minute * 60
            for s in self.strategies:
                if s.exit_time_s >= limit:
                    raise ConfigError(
                        f"{where}: strategy {s.id!r} exit_time {hhmm(s.exit_time_s)} is not before the MIS "
                        f"square-off {hhmm(limit)} of {exchange}"
                    )

    # -- input ----------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> list[Output]:
        """Fold one tick; return the signals and intents it caused (usually none)."""
        self._ticks += 1
        token = tick.instrument_token
        if token not in self._symbols:
            self._counts["unknown_ticks"] += 1
            return []
        if tick.ts_event >= self._next_day_ns:
            self._advance_day(tick.ts_event)
        bars = self._candles.on_tick(tick)
        if bars and self.closed_bars is not None:
            self.closed_bars.extend(bars)
        out = self._process_bars(bars, emit=True) if bars else []
        if token in self._open or (self._flat_tickers and (self._entry_tokens is None or token in self._entry_tokens)):
            out.extend(self._tick_decisions(token, self._symbols[token], tick))
        return out

    def on_bar(self, bar: Bar) -> list[Output]:
        """One closed bar (a bar-driven backtest); see ``on_bars`` for several timeframes."""
        return self.on_bars((bar,))

    def on_bars(self, bars: Iterable[Bar]) -> list[Output]:
        """Closed bars, oldest first; bars of one instrument with the same close are settled together.

        Pass the 5m and the 15m bar that end at the same time in one call (or the 15m one
        first) so a strategy with a 15m filter sees it, as it would from ticks.
        """
        return self._process_bars(list(bars), emit=True)

    def flush(self, ts_ns: int) -> list[Output]:
        """Close the bars that ended by event time ``ts_ns`` (a timer, 15:30) and run the strategies."""
        bars = self._candles.flush(ts_ns)
        if bars and self.closed_bars is not None:
            self.closed_bars.extend(bars)
        return self._process_bars(bars, emit=True)

    def warm_up(self, bars: Iterable[Bar]) -> int:
        """Run history through indicators and strategies without trading; return the bars applied.

        Strategies update their market memory (last cross, bars since exit) but no decision
        is taken: positions stay as they are (flat, or as ``restore`` left them), and
        nothing is returned. Bars at or before a series' last bar are skipped.
        """
        before = self._counts["bars"]
        self._process_bars(list(bars), emit=False)
        return self._counts["bars"] - before

    # -- bars -------------------------------------------------------------------------------
    def _process_bars(self, bars: list[Bar], *, emit: bool) -> list[Output]:
        out: list[Output] = []
        if len(bars) == 1:
            bar = bars[0]
            groups: Iterable[list[Bar]] = ([bar],)
        else:
            by_key: dict[tuple[int, int], list[Bar]] = {}
            for bar in bars:
                by_key.setdefault((bar.ts_event, bar.instrument_token), []).append(bar)
            groups = (by_key[key] for key in sorted(by_key, key=lambda k: k[0]))
        for group in groups:
            out.extend(self._process_group(group, emit=emit))
        return out

    def _process_group(self, group: list[Bar], *, emit: bool) -> list[Output]:
        token = group[0].instrument_token
        info = self._symbols.get(token)
        if info is None:
            self._counts["unknown_bars"] += len(group)
            return []
        ts = group[0].ts_event
        if emit and ts >= self._next_day_ns:
            self._advance_day(ts)
        fresh: dict[str, Bar] = {}
        for bar in group:
            if bar.timeframe not in self._tf_ns:
                continue  # a timeframe no strategy of this engine uses
            if self._series_for(token, info, bar.timeframe).update(bar):
                self._counts["bars"] += 1
                fresh[bar.timeframe] = bar
            else:
                self._counts["stale_bars"] += 1
        if not fresh:
            return []
        if self._entry_tokens is not None and token not in self._entry_tokens and token not in self._open:
            return []  # watched only (update_symbols): indicators stay warm, no strategy runs
        return self._decide_group(token, info, ts, fresh, emit=emit)

    def _decide_group(
        self,
        token: int,
        info: SymbolInfo,
        ts: int,
        fresh: Mapping[str, Bar],
        *,
        emit: bool,
        only: Collection[str] | None = None,
    ) -> list[Output]:
        """Run the strategies with a fresh bar (``only``: just these ids) on the series' values; settle."""
        proposals: list[Proposal] = []
        for s in self.strategies:
            bar = fresh.get(s.timeframe)
            if bar is None or (only is not None and s.id not in only):
                continue
            series = self._series[(token, s.timeframe)]
            htf = self._htf_values(token, s)
            ctx = self._context(s, token, info, ts, htf)
            for decision in s.evaluate_bar(bar, series.values, ctx):
                price = decision.price or bar.close
                proposals.append(
                    Proposal(
                        s, decision, price, s.timeframe, ts, series.values, htf, records.vol_regime(series.atr_ratio)
                    )
                )
        if not proposals or not emit:
            return []
        return self._settle(token, info, proposals, ts)

    # -- the backtester's bar path (shared.backtest.bars) ----------------------------------------
    def set_series_values(self, token: int, timeframe: str, values: IndicatorValues, atr_ratio: float | None) -> None:
        """Put indicator values computed beforehand into a series (the bar path has no candles here).

        The series' incremental indicators are not updated: what strategies, signals and tick
        decisions read is ``values`` and ``atr_ratio``, exactly what ``_Series.update`` would
        have left after the same bar.
        """
        info = self._symbols[token]
        series = self._series_for(token, info, timeframe)
        series.values = values
        series.atr_ratio = atr_ratio

    def on_precomputed_bars(self, token: int, ts: int, fresh: Mapping[str, Bar], only: Collection[str]) -> list[Output]:
        """Decide on bars closed at ``ts`` whose values ``set_series_values`` already put in place.

        ``only``: the ids of the strategies to run (the bar path runs only those whose decision
        can change on this bar; the others' bookkeeping is the caller's). The rest is
        ``_process_group``'s: the day roll, the same proposals, resolution and ids.
        """
        info = self._symbols.get(token)
        if info is None:
            return []
        if ts >= self._next_day_ns:
            self._advance_day(ts)
        return self._decide_group(token, info, ts, fresh, emit=True, only=only)

    def on_tick_without_candles(self, tick: Tick) -> list[Output]:
        """``on_tick`` less the candle builder: stops, targets and time exits of open positions only."""
        self._ticks += 1
        token = tick.instrument_token
        info = self._symbols.get(token)
        if info is None:
            self._counts["unknown_ticks"] += 1
            return []
        if tick.ts_event >= self._next_day_ns:
            self._advance_day(tick.ts_event)
        if token in self._open:
            return self._tick_decisions(token, info, tick)
        return []

    def holds(self, token: int) -> bool:
        """A strategy of this engine holds a position in ``token`` (its view)."""
        return token in self._open

    def advance_day(self, ts_ns: int) -> None:
        """Start the IST day of ``ts_ns`` if it is new (what the first tick of a day does)."""
        if ts_ns >= self._next_day_ns:
            self._advance_day(ts_ns)

    def _tick_decisions(self, token: int, info: SymbolInfo, tick: Tick) -> list[Output]:
        proposals: list[Proposal] = []
        ts, price = tick.ts_event, tick.last_price
        for s in self.strategies:
            pos = s.state.positions.get(info.symbol)
            if pos is None:
                if not s.ticks_when_flat:
                    continue
            elif self._plain_tick[s.id]:
                # the tests of Strategy.tick_exit, inline, only to skip the call when nothing is reached
                d = 1 if pos.side == "LONG" else -1
                if not (
                    (pos.stop > 0 and (price - pos.stop) * d <= 0)
                    or (pos.target > 0 and (price - pos.target) * d >= 0)
                    or ts - self._midnight_ns >= s.exit_time_s * NS
                ):
                    continue
            htf = self._htf_values(token, s)
            for decision in s.evaluate_tick(tick, self._context(s, token, info, ts, htf)):
                series = self._series.get((token, s.timeframe))
                proposals.append(
                    Proposal(
                        s,
                        decision,
                        decision.price or price,
                        s.timeframe,
                        self._bucket_end(ts, s.timeframe),
                        series.values if series else {},
                        htf,
                        records.vol_regime(series.atr_ratio if series else None),
                    )
                )
        return self._settle(token, info, proposals, ts) if proposals else []

    def _series_for(self, token: int, info: SymbolInfo, timeframe: str) -> _Series:
        series = self._series.get((token, timeframe))
        if series is None:
            series = self._series[(token, timeframe)] = _Series(info.symbol, timeframe)
        return series

    def _htf_values(self, token: int, s: Strategy) -> IndicatorValues | None:
        if s.htf_timeframe is None:
            return None
        series = self._series.get((token, s.htf_timeframe))
        return series.values if series is not None else None

    def _context(
        self, s: Strategy, token: int, info: SymbolInfo, ts: int, htf: IndicatorValues | None
    ) -> StrategyContext:
        return StrategyContext(
            symbol=info.symbol,
            logical=info.logical,
            exchange=info.exchange,
            instrument_token=token,
            ts_event=ts,
            timeframe=s.timeframe,
            position=s.state.positions.get(info.symbol),
            memo=s.memo_for(info.symbol),
            htf=htf,
        )

    def _bucket_end(self, ts: int, timeframe: str) -> int:
        """End of the session-aligned bar of ``timeframe`` holding ``ts`` (the id time of a tick decision)."""
        length = self._tf_ns[timeframe]
        midnight = ist_day_number(ts) * DAY_NS - IST_OFFSET_NS
        open_ns = midnight + (MARKET_OPEN.hour * 60 + MARKET_OPEN.minute) * 60_000_000_000
        close_ns = midnight + (MARKET_CLOSE.hour * 60 + MARKET_CLOSE.minute) * 60_000_000_000
        start = open_ns + (ts - open_ns) // length * length
        return min(start + length, close_ns) if ts < close_ns else close_ns

    def _advance_day(self, ts: int) -> None:
        """A new IST day: strategies drop positions left open (the broker squared them off)."""
        day = ist_day_number(ts)
        if day <= self._day:
            return
        self._day = day
        self._midnight_ns = day * DAY_NS - IST_OFFSET_NS
        self._next_day_ns = self._midnight_ns + DAY_NS
        for s in self.strategies:
            self._counts["positions_dropped_at_day_end"] += s.roll_day(day)
        self._recount_open()

    def _recount_open(self) -> None:
        by_symbol = {info.symbol: token for token, info in self._symbols.items()}
        self._open = {}
        for s in self.strategies:
            for symbol in s.state.positions:
                token = by_symbol.get(symbol)
                if token is not None:
                    self._open[token] = self._open.get(token, 0) + 1

    # -- settling and publishing -------------------------------------------------------------
    def _settle(self, token: int, info: SymbolInfo, proposals: list[Proposal], ts: int) -> list[Output]:
        held = {s.id: s.state.positions[info.symbol].side for s in self.strategies if info.symbol in s.state.positions}
        taken = resolve(proposals, self.conflict_resolution, held)
        out: list[Output] = []
        for p in taken:
            kind = p.decision.kind
            sid = records.signal_id(self.name, p.strategy.id, info.symbol, p.key_ts, kind)
            if kind == SignalKind.EXIT:
                side = Side.SELL if p.strategy.state.positions[info.symbol].side == SignalKind.LONG else Side.BUY
            else:
                side = Side.BUY if kind == SignalKind.LONG else Side.SELL
            out.append(self._signal(p, info, ts, sid, kind, p.decision.reason))
            out.append(self._intent(p, token, info, ts, sid, side))
            p.strategy.commit(info.symbol, p.decision, p.price, ts, sid)
        for p in proposals:
            if p.dropped:
                kind = p.decision.kind
                sid = records.signal_id(self.name, p.strategy.id, info.symbol, p.key_ts, kind)
                reason = f"{kind} dropped ({p.dropped}): {p.decision.reason}"
                out.append(self._signal(p, info, ts, sid, SignalKind.FLAT, reason))
                self._counts["dropped"] += 1
        held_now = sum(1 for s in self.strategies if info.symbol in s.state.positions)
        if held_now:
            self._open[token] = held_now
        else:
            self._open.pop(token, None)
        self._counts["signals"] += len(proposals)
        self._counts["intents"] += len(taken)
        return out

    def _signal(self, p: Proposal, info: SymbolInfo, ts: int, sid: str, kind: SignalKind, reason: str) -> Signal:
        d: StrategyDecision = p.decision
        indicators: dict[str, float | str | bool | None] = {key: p.ind.get(key) for key in SIGNAL_KEYS}
        indicators["trend_context"] = d.trend_context or records.trend_context(p.ind)
        indicators["vol_regime"] = d.vol_regime or p.vol_regime or records.UNKNOWN
        indicators["htf_trend"] = d.htf_trend or records.htf_trend(p.htf)
        indicators["playbook"] = d.playbook or p.strategy.playbook or records.UNKNOWN
        indicators["setup_type"] = d.setup_type or records.UNKNOWN
        indicators["profile"] = self.profile
        indicators["mode"] = self.mode
        return Signal(
            ts_event=ts,
            ts_init=self._clock() if self._clock is not None else 0,
            signal_id=sid,
            strategy=p.strategy.id,
            logical=info.logical,
            symbol=info.symbol,
            price=p.price,
            signal=kind,
            timeframe=p.timeframe,
            reason=reason,
            confidence=d.confidence,
            indicators=indicators,
        )

    def _intent(self, p: Proposal, token: int, info: SymbolInfo, ts: int, sid: str, side: Side) -> OrderIntent:
        d = p.decision
        entry = d.kind != SignalKind.EXIT
        return OrderIntent(
            ts_event=ts,
            ts_init=self._clock() if self._clock is not None else 0,
            intent_id=records.intent_id(self.name, p.strategy.id, info.symbol, p.key_ts, d.kind),
            strategy=p.strategy.id,
            engine=self.name,
            exchange=info.exchange,
            symbol=info.symbol,
            instrument_token=token,
            side=side,
            quantity=0,
            order_type=OrderType.MARKET,
            product=self.product,
            stop_loss=d.stop if entry else 0.0,
            target=d.target if entry else 0.0,
            signal_id=sid,
            underlying=info.logical,
            reason=f"{d.kind}: {d.reason}",
            tag=self._tag_fn(p.strategy.id, info.logical, info.symbol) if self._tag_fn is not None else "",
            reduce_only=not entry,
            ref_price=p.price,
            timeframe=p.timeframe,
            signal_ts=ts,
            profile=self.profile,
        )

    # -- state ---------------------------------------------------------------------------------
    def positions(self) -> dict[str, dict[str, str]]:
        """Strategy id -> {symbol: side} of the strategies' open positions (their view)."""
        return {s.id: {sym: pos.side for sym, pos in s.state.positions.items()} for s in self.strategies}

    def held_symbols(self) -> set[str]:
        """Tradingsymbols any strategy holds a position in (its view)."""
        return {symbol for s in self.strategies for symbol in s.state.positions}

    def update_symbols(
        self, symbols: Mapping[int, tuple[str, str, str]], entry_tokens: Iterable[int] | None = None
    ) -> None:
        """Follow ``symbols`` from now on, keeping indicator series and candles in progress.

        For a universe that moves during the day (the options engine follows ATM): a token
        that stays keeps its bars without a gap; a token that leaves and comes back resumes.
        With ``entry_tokens``, strategies run only on those and on tokens a strategy holds;
        the other tokens are watched (bars and indicators kept warm for when they qualify).
        """
        self._symbols = {int(token): SymbolInfo(*info) for token, info in symbols.items()}
        self._entry_tokens = frozenset(int(t) for t in entry_tokens) if entry_tokens is not None else None
        self._recount_open()

    def counters(self) -> dict[str, int]:
        """Counts for a heartbeat (the candle builder's too, prefixed ``candles_``)."""
        out = {"ticks": self._ticks, **self._counts}
        out.update({f"candles_{k}": v for k, v in self._candles.counters().items()})
        return out

    def snapshot(self) -> dict[str, Any]:
        """Indicators, strategy states and counters as a JSON-able dict (no NaN).

        The candles in progress are kept too, so the first bar after a restart is whole
        (the ticks replayed after the checkpoint continue it).
        """
        return {
            "format": SNAPSHOT_FORMAT,
            "engine": self.name,
            "day": self._day,
            "candles": self._candles.snapshot(),
            "series": [
                {"token": token, "timeframe": tf, "state": dump_slots(series)}
                for (token, tf), series in self._series.items()
            ],
            "strategies": [s.snapshot() for s in self.strategies],
            "counters": {"ticks": self._ticks, **self._counts},
        }

    def restore(self, data: Mapping[str, Any]) -> list[str]:
        """Load a ``snapshot``; return notes on what was skipped (a token or strategy no longer configured)."""
        where = f"engine {self.name!r} snapshot"
        if data.get("format") != SNAPSHOT_FORMAT or data.get("engine") != self.name:
            raise ValueError(
                f"{where}: format {data.get('format')!r} of engine {data.get('engine')!r}; "
                f"expected format {SNAPSHOT_FORMAT} of {self.name!r}"
            )
        notes: list[str] = []
        self._series = {}
        for entry in data["series"]:
            token, tf = int(entry["token"]), str(entry["timeframe"])
            info = self._symbols.get(token)
            if info is None or tf not in self._tf_ns:
                notes.append(f"series {token}/{tf} skipped: not in this engine")
                continue
            series = _Series(info.symbol, tf)
            load_slots(series, entry["state"], where=f"{where} series {token}/{tf}")
            self._series[(token, tf)] = series
        by_id = {s.id: s for s in self.strategies}
        seen = set()
        for snap in data["strategies"]:
            s = by_id.get(snap.get("id"))
            if s is None:
                notes.append(f"strategy {snap.get('id')!r} skipped: not configured (its positions are forgotten)")
                continue
            s.restore(snap)
            seen.add(s.id)
        notes.extend(f"strategy {sid!r} starts fresh: not in the snapshot" for sid in by_id if sid not in seen)
        counters = data.get("counters", {})
        self._counts.update({k: int(v) for k, v in counters.items() if k in self._counts})
        self._ticks = int(counters.get("ticks", 0))
        self._day = int(data.get("day", -1))
        self._midnight_ns = self._day * DAY_NS - IST_OFFSET_NS if self._day >= 0 else 0
        self._next_day_ns = self._midnight_ns + DAY_NS if self._day >= 0 else 0
        self._candles = CandleBuilder(self.timeframes or ("1m",))
        candles = data.get("candles")  # absent in checkpoints written before the candles were kept
        if candles is None or not self._candles.restore(candles, where=f"{where} candles"):
            notes.append("candles in progress not restored: the first bar of each instrument may be partial")
        self._recount_open()
        return notes


# -- plain state of __slots__ objects (the indicators) -----------------------------------------
@functools.cache
def _slot_names(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return tuple(names)


_PLAIN: Final = (str, int, float, list, dict, tuple, deque, type(None))


def _is_slotted(value: object) -> bool:
    return not isinstance(value, _PLAIN) and hasattr(type(value), "__slots__")


def dump_slots(obj: object) -> dict[str, Any]:
    """The ``__slots__`` attributes of ``obj`` (recursively) as JSON-able values; NaN -> None."""
    out: dict[str, Any] = {}
    for name in _slot_names(type(obj)):
        value = getattr(obj, name)
        if _is_slotted(value):
            out[name] = dump_slots(value)
        elif isinstance(value, deque):
            out[name] = list(value)
        elif isinstance(value, float) and value != value:
            out[name] = None
        elif isinstance(value, dict):
            out[name] = dict(value)
        else:
            out[name] = value
    return out


def load_slots(obj: object, data: Mapping[str, Any], *, where: str) -> None:
    """Write ``dump_slots`` output back into a freshly built ``obj`` of the same class."""
    for name in _slot_names(type(obj)):
        if name not in data:
            raise ValueError(f"{where}: missing {name!r} (written by another version?)")
        current, value = getattr(obj, name), data[name]
        if _is_slotted(current):
            load_slots(current, value, where=f"{where}.{name}")
        elif isinstance(current, deque):
            current.clear()
            current.extend(value)
        elif isinstance(current, float) and value is None:
            setattr(obj, name, float("nan"))
        else:
            setattr(obj, name, dict(value) if isinstance(value, dict) else value)

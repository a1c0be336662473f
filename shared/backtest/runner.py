"""One process, no Redis: ticks -> the services' engines -> risk -> paper broker -> journals in memory.

``Backtest`` plays, in event-time order, the part of every service of a paper session:

- the **fno** and **equity** engines: a ``TradingEngine`` each, built from
  ``strategy_engine.engines`` as the services build it (equity strategies long-only unless
  they say otherwise, equity tags), its universe resolved per day (an index name trades its
  current future and rolls with ``remap_snapshot``, as the engine service does), the open
  bars flushed at 15:30 event time;
- **risk**: ``shared.risk.engine.RiskEngine`` (the risk service's decisions) fed every tick,
  order event, fill and position snapshot;
- **execution**: ``PaperBroker`` (fill model, charges, MIS square-off), a fresh book each
  IST day, intents placed once (``Oms``), a ``PositionSnapshot`` every 5 s of event time or
  after a fill, the seed's journals (``MemoryJournal``).

Per tick the execution side sees the tick first (marks, square-off, fills of orders already
working), then the engines: an intent decided on a tick fills on the next tick of its
instrument, as in the services where the intent reaches execution after that tick
(``fill_timing: next_tick``). With ``same_tick`` the engines go first and a bar strategy's
order fills at the next bar's open (the convention of bar backtesters).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, overload

from services.equity.service import long_only_by_default
from services.execution.oms import Oms, OrderMeta
from shared.backtest.journal import MemoryJournal
from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.paper import STRICT_FILLS, PaperBroker
from shared.brokers.snapshot import position_snapshot
from shared.bus import streams
from shared.clock import NS, ist_day
from shared.config import Settings, StrategyEngineConfig, StrategySpec
from shared.contracts import ControlCommand, OrderIntent, RiskDecision, Signal, Tick
from shared.enums import ControlAction, OrderStatus
from shared.errors import ConfigError, InstrumentError, KiteAlgoError
from shared.instruments import InstrumentsMaster
from shared.risk.engine import RiskEngine
from shared.runtime.engine_service import Symbols, remap_snapshot, session_bounds
from shared.trading.engine import Output, TagFn, TradingEngine
from shared.trading.records import equity_tag

log = logging.getLogger(__name__)

SNAPSHOT_EVERY_NS: Final = 5 * NS  # the execution service's event-time cadence
EQUITY_SAMPLE_NS: Final = 60 * NS  # the equity curve: one point per minute of event time
ENGINES: Final = ("fno", "equity")


@dataclass(slots=True)
class EquityPoint:
    ts_ns: int
    equity: float
    exposed: bool  # a position was open


class EquityCurve(Sequence[EquityPoint]):
    """The equity curve, one point a minute of event time, kept as three columns.

    Years of minutes are millions of points: columns cost a fraction of the objects, and the
    bar path appends a whole stretch at once (``extend``). Reading it gives ``EquityPoint`` s.
    """

    __slots__ = ("equity", "exposed", "ts_ns")

    def __init__(self, points: Iterable[EquityPoint] = ()) -> None:
        self.ts_ns: list[int] = []
        self.equity: list[float] = []
        self.exposed: list[bool] = []
        for p in points:
            self.append(p)

    def append(self, point: EquityPoint) -> None:
        self.ts_ns.append(point.ts_ns)
        self.equity.append(point.equity)
        self.exposed.append(point.exposed)

    def extend(self, ts_ns: Sequence[int], equity: Sequence[float], exposed: bool) -> None:
        """Points at ``ts_ns`` with ``equity``, all with the same ``exposed``."""
        self.ts_ns.extend(ts_ns)
        self.equity.extend(equity)
        self.exposed.extend([exposed] * len(ts_ns))

    def __len__(self) -> int:
        return len(self.ts_ns)

    @overload
    def __getitem__(self, i: int) -> EquityPoint: ...
    @overload
    def __getitem__(self, i: slice) -> list[EquityPoint]: ...
    def __getitem__(self, i: int | slice) -> EquityPoint | list[EquityPoint]:
        if isinstance(i, slice):
            return [EquityPoint(*x) for x in zip(self.ts_ns[i], self.equity[i], self.exposed[i], strict=True)]
        return EquityPoint(self.ts_ns[i], self.equity[i], self.exposed[i])

    def __iter__(self) -> Iterator[EquityPoint]:
        return map(EquityPoint, self.ts_ns, self.equity, self.exposed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EquityCurve):
            return (self.ts_ns, self.equity, self.exposed) == (other.ts_ns, other.equity, other.exposed)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable


@dataclass(slots=True)
class BacktestResult:
    """What a run produced: the journals, risk's decisions, the equity curve and counters."""

    journal: MemoryJournal
    decisions: list[RiskDecision]
    equity: EquityCurve
    day_pnl: dict[date, float]  # net PnL of each IST day (after charges and fees)
    capital: float
    counters: dict[str, int]
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    path: str = "ticks"  # which replay ran: "ticks" (every tick) or "bars" (shared.backtest.bars)
    path_note: str = ""  # with path="auto": why the tick path ran ("" when the bar path ran or "ticks" was asked)

    @property
    def net_pnl(self) -> float:
        return sum(self.day_pnl.values())


class _EngineSlot:
    """One engine (fno or equity), its universe of the day and how to re-resolve it."""

    def __init__(self, name: str, names: list[str], config: StrategyEngineConfig, tag_fn: TagFn | None, mode: str):
        self.name = name
        self.names = names
        self.config = config
        self.tag_fn = tag_fn
        self.mode = mode
        self.symbols: Symbols = {}
        self.engine: TradingEngine | None = None

    def resolve(self, master: InstrumentsMaster, day: date) -> Symbols:
        out: Symbols = {}
        for name in self.names:
            if self.name == "fno":
                inst = master.future(name, day)
                out[inst.instrument_token] = (name, inst.tradingsymbol, inst.exchange)
            else:
                inst = master.by_symbol("NSE", name)
                out[inst.instrument_token] = (name, name, inst.exchange)
        return out

    def build(self, symbols: Symbols) -> TradingEngine:
        return TradingEngine.from_config(
            self.name, self.config, symbols=symbols, mode=self.mode, profile="INTRADAY", tag_fn=self.tag_fn
        )

    def roll(self, master: InstrumentsMaster, day: date) -> None:
        """The universe of ``day``; a changed one (a future rolled) keeps its indicators (remapped)."""
        symbols = self.resolve(master, day)
        if self.engine is None:
            self.engine, self.symbols = self.build(symbols), symbols
        elif symbols != self.symbols:
            engine = self.build(symbols)
            engine.restore(remap_snapshot(self.engine.snapshot(), self.symbols, symbols))
            self.engine, self.symbols = engine, symbols


def engine_config(settings: Settings, engine: str, strategies: Sequence[str]) -> StrategyEngineConfig:
    """``strategy_engine`` with only ``engine``'s specs named in ``strategies`` ([] = all configured).

    A name asked for but not configured for that engine runs with its defaults on 5m bars.
    """
    cfg = settings.strategy_engine
    specs = list(cfg.engines.get(engine, [])) if cfg.enabled else []  # type: ignore[call-overload]
    if strategies:
        kept = [s for s in specs if s.name in strategies]
        have = {s.name for s in kept}
        kept += [StrategySpec(name=n) for n in strategies if n not in have]
        specs = kept
    if engine == "equity":
        specs = long_only_by_default(specs)
    return cfg.model_copy(update={"engines": {engine: specs}})


def split_symbols(master: InstrumentsMaster, names: Sequence[str]) -> dict[str, list[str]]:
    """Names with futures in the master -> fno (index futures); NSE stocks -> equity."""
    out: dict[str, list[str]] = {"fno": [], "equity": []}
    for name in names:
        try:
            master.futures(name)
            out["fno"].append(name)
            continue
        except InstrumentError:
            pass
        try:
            inst = master.by_symbol("NSE", name)
        except InstrumentError as exc:
            raise ConfigError(
                f"backtest.symbols: {name!r} is neither an underlying with futures nor an NSE stock in "
                f"the instruments master ({master.source}): {exc}"
            ) from exc
        if not inst.is_equity:
            raise ConfigError(f"backtest.symbols: {name!r} is {inst.key}, not a stock or an index with futures")
        out["equity"].append(name)
    return out


class Backtest:
    """Runs ticks through engines, risk and the paper broker; see the module docstring."""

    path = "ticks"  # the replay this class runs (the bar path's subclass says "bars")

    def __init__(
        self,
        settings: Settings,
        master: InstrumentsMaster,
        *,
        symbols: Sequence[str] | None = None,
        strategies: Sequence[str] | None = None,
        fill_timing: str | None = None,
    ) -> None:
        bt = settings.backtest
        self.settings = settings
        self.master = master
        self.mode = settings.trading.mode
        self.capital = settings.trading.paper_capital
        self.same_tick = (fill_timing or bt.fill_timing) == "same_tick"
        names = list(symbols if symbols is not None else bt.symbols)
        wanted = list(strategies if strategies is not None else bt.strategies)
        by_engine = split_symbols(master, names)
        self.slots: list[_EngineSlot] = []
        for name in ENGINES:
            if not by_engine[name]:
                continue
            cfg = engine_config(settings, name, wanted)
            if not cfg.engines.get(name):  # type: ignore[call-overload]
                continue
            tag = equity_tag if name == "equity" else None
            self.slots.append(_EngineSlot(name, by_engine[name], cfg, tag, self.mode))
        if not self.slots:
            raise ConfigError(
                f"backtest: no strategy to run for symbols {names} (strategies {wanted or 'all configured'}); "
                "see strategy_engine.engines"
            )
        self.risk = RiskEngine(settings.risk, settings.portfolio)
        self.risk.set_master(master)
        self.oms = Oms()
        self.broker = PaperBroker(master, capital=self.capital, fill_config=STRICT_FILLS, used_ids=self.oms.order_ids)
        self.journal = MemoryJournal(self.mode)
        self.decisions: list[RiskDecision] = []
        self.equity = EquityCurve()
        self.day_pnl: dict[date, float] = {}
        self._closed: float | None = None  # the sum of day_pnl, cached (``_closed_pnl``)
        self.now = 0
        self.day: date | None = None
        self._close_ns = 0
        self._next_day_ns = 0
        self._flushed = False
        self._fill_since_snapshot = False
        self._last_snapshot_ns = -SNAPSHOT_EVERY_NS
        self._next_sample_ns = 0
        self.counters = dict.fromkeys(("ticks", "signals", "intents", "orders", "fills", "rejected", "days"), 0)

    # -- the loop ----------------------------------------------------------------------------
    def run(
        self, ticks: Iterable[Tick], progress: Callable[[int], None] | None = None, *, finish: bool = True
    ) -> BacktestResult:
        """Play ``ticks`` (event-time order); ``progress(n)`` is told every few thousand ticks.

        ``finish``: at the end of the data, close the last session as 15:30 would (flush the
        open bars, expire working orders, book the day). A paper session whose feed stops
        mid-session does neither (the parity test passes False).
        """
        started = time.perf_counter()
        n = 0
        on_tick = self.on_tick
        for tick in ticks:
            on_tick(tick)
            n += 1
            if progress is not None and n % 4096 == 0:
                progress(4096)
        if progress is not None:
            progress(n % 4096)
        if finish:
            self.finish()
        elif self.day is not None:
            self._book_day(self.day, self.broker.portfolio.net_pnl)
        return self.result(started)

    def result(self, started: float) -> BacktestResult:
        """What the run produced (``started``: its ``time.perf_counter()`` at the start)."""
        return BacktestResult(
            journal=self.journal,
            decisions=self.decisions,
            equity=self.equity,
            day_pnl=self.day_pnl,
            capital=self.capital,
            counters=dict(self.counters),
            elapsed_s=time.perf_counter() - started,
            path=self.path,
        )

    def on_tick(self, tick: Tick) -> None:
        ts = tick.ts_event
        if ts >= self._close_ns and (ts >= self._next_day_ns or not self._flushed):
            self._cross_boundary(ts)
        if ts > self.now:
            self.now = ts
        self.counters["ticks"] += 1
        self.risk.on_tick(tick)  # risk decides with the market up to this tick (it drains ticks first)
        if self.same_tick:
            self._engines(tick)
            self._execution(tick)
        else:
            self._execution(tick)
            self._engines(tick)
        if ts >= self._next_sample_ns:
            self._sample(ts)

    def _execution(self, tick: Tick) -> None:
        events = self.broker.on_tick(tick)
        if events:
            self._emit(events)
        if self._fill_since_snapshot or self.now - self._last_snapshot_ns >= SNAPSHOT_EVERY_NS:
            self._snapshot()

    def _engines(self, tick: Tick) -> None:
        token = tick.instrument_token
        for slot in self.slots:
            if token in slot.symbols:
                assert slot.engine is not None
                out = slot.engine.on_tick(tick)
                if out:
                    self._outputs(out)

    def finish(self) -> None:
        """The end of the data: close the last session's bars and book its day."""
        if self.day is None:
            return
        if not self._flushed:
            self._flush_engines()
        self._close_day()

    # -- engines' outputs -> risk -> broker ------------------------------------------------------
    def _outputs(self, out: list[Output]) -> None:
        for msg in out:
            if isinstance(msg, Signal):
                self.counters["signals"] += 1
                self.journal.signal(msg)
        for msg in out:
            if isinstance(msg, OrderIntent):
                self.counters["intents"] += 1
                for stream, decided in self.risk.on_intent(msg):
                    if isinstance(decided, RiskDecision):
                        self.decisions.append(decided)
                    elif stream == streams.ORDERS_APPROVED and isinstance(decided, OrderIntent):
                        self._place(decided)
                    elif isinstance(decided, ControlCommand):
                        self._control(decided)

    def _place(self, intent: OrderIntent) -> None:
        if self.oms.seen(intent.intent_id):
            return
        ts = max(self.now, intent.ts_event)
        try:
            order = self.broker.place(intent, ts)
        except (KiteAlgoError, ValueError) as exc:
            log.error("intent %s could not be placed: %s", intent.intent_id, exc)
            return
        evt = order_event(order, ts)
        self.oms.record(evt, OrderMeta.of_intent(intent, mode=self.mode))
        self.counters["rejected" if order.status == OrderStatus.REJECTED else "orders"] += 1
        self._emit([BrokerEvent(evt)])

    def _control(self, cmd: ControlCommand) -> None:
        if cmd.action == ControlAction.SQUARE_OFF_ALL:
            who = f"{cmd.action.value} by {cmd.issued_by or 'unknown'}" + (f": {cmd.reason}" if cmd.reason else "")
            self._emit(self.broker.square_off_all(self.now or cmd.ts_event, cmd.command_id, who))
        else:
            self.risk.on_control(cmd)

    def _emit(self, events: list[BrokerEvent]) -> None:
        for ev in events:
            evt = ev.order
            self.oms.record(evt)
            meta = self.oms.meta.get(evt.order_id)
            if meta is None:  # the broker's own orders (square-offs)
                order = self.broker.orders.get(evt.order_id)
                token = order.instrument_token if order is not None else 0
                meta = OrderMeta(extra={"instrument_token": token, "mode": self.mode})
                self.oms.meta[evt.order_id] = meta
            self.journal.order(ev, meta)
            self.risk.on_order_event(evt)
            if ev.fill is not None:
                self.risk.on_fill(ev.fill)
                self.counters["fills"] += 1
                self._fill_since_snapshot = True

    def _snapshot(self) -> None:
        snap = position_snapshot(self.now, 0, self.mode, self.broker.portfolio, None, self.broker.strategy_positions)
        self._last_snapshot_ns = self.now
        self._fill_since_snapshot = False
        for _stream, msg in self.risk.on_snapshot(snap):
            if isinstance(msg, ControlCommand):
                self._control(msg)

    # -- time ----------------------------------------------------------------------------------------
    def _cross_boundary(self, ts: int) -> None:
        day = ist_day(ts)
        if self.day is None or day > self.day:
            if self.day is not None:
                if not self._flushed:
                    self._flush_engines()
                self._close_day()
            self._open_day(day)
        if ts >= self._close_ns and not self._flushed:
            self._flush_engines()
            self._flushed = True

    def _flush_engines(self) -> None:
        for slot in self.slots:
            assert slot.engine is not None
            out = slot.engine.flush(self._close_ns)
            if out:
                self._outputs(out)

    def _open_day(self, day: date) -> None:
        self.day = day
        self._close_ns, self._next_day_ns = session_bounds(day)
        self._flushed = False
        self.counters["days"] += 1
        for slot in self.slots:
            slot.roll(self.master, day)

    def _close_day(self) -> None:
        """The execution service's day roll: expire working orders, book the day, start flat."""
        assert self.day is not None
        reason = f"expired: DAY order left open at the close of {self.day}"
        self._emit(self.broker.cancel_all(self.now, reason, expire=True))
        self._book_day(self.day, self.broker.portfolio.net_pnl)
        self.broker = PaperBroker(
            self.master, capital=self.capital, fill_config=STRICT_FILLS, used_ids=self.oms.order_ids
        )
        self.oms.forget_finished(())
        self.journal.new_day()
        self._last_snapshot_ns = -SNAPSHOT_EVERY_NS
        self._sample(self.now)

    def _book_day(self, day: date, pnl: float) -> None:
        self.day_pnl[day] = pnl
        self._closed = None

    def _closed_pnl(self) -> float:
        """``sum(day_pnl.values())``, recomputed only when a day is booked (it was summed every minute)."""
        if self._closed is None:
            self._closed = sum(self.day_pnl.values())
        return self._closed

    def _sample(self, ts: int) -> None:
        book = self.broker.portfolio
        closed = self._closed_pnl()
        exposed = any(True for _ in book.open_positions())
        self.equity.append(EquityPoint(ts, self.capital + closed + book.net_pnl, exposed))
        self._next_sample_ns = ts - ts % EQUITY_SAMPLE_NS + EQUITY_SAMPLE_NS


"""The dashboard's in-memory view: bounded, fed by history (journals) and by the live streams.

Every collection has a cap (``dashboard.max_*``): the oldest entries go first, so memory is
flat however long the session runs; the journals on disk keep everything. Updates are
idempotent (keyed by order id, signal id, bar time), so the same fact from the journal and
from the stream, or a redelivered entry, changes nothing. One lock: the stream reader writes
from its thread, request handlers read from theirs. No Redis and no files here.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.dashboard.schemas import (
    EquityPoint,
    OrderOut,
    PositionOut,
    SessionState,
    SignalOut,
    TradeMarkerOut,
)
from shared.clock import ns_to_ist
from shared.config import DashboardConfig
from shared.contracts import Bar, ControlCommand, Fill, Heartbeat, OrderEvent, PositionSnapshot, RiskDecision, Signal
from shared.enums import ControlAction, Decision
from shared.state.formats import OrderRow, SignalRow

K = TypeVar("K")
V = TypeVar("V")
MAX_TRADES_PER_SYMBOL = 2_000


def ist_text(ts_ns: int) -> str:
    """``2026-11-25 09:15:00.250`` in IST (empty for 0)."""
    if ts_ns <= 0:
        return ""
    return ns_to_ist(ts_ns).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _finite(v: Any) -> Any:
    """JSON has no NaN/inf: those become None."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def _put_capped(d: OrderedDict[K, V], key: K, value: V, cap: int) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > cap:
        d.popitem(last=False)


class BarSeries:
    """One (symbol, timeframe)'s newest bars as packed columns: about 48 bytes a bar, not ~500 as objects."""

    __slots__ = ("cap", "close", "high", "low", "open", "ts_open", "volume")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.ts_open = array("q")
        self.open, self.high, self.low, self.close = array("d"), array("d"), array("d"), array("d")
        self.volume = array("q")

    def __len__(self) -> int:
        return len(self.ts_open)

    def add(self, bar: Bar) -> bool:
        """Append ``bar``; the same bar again replaces the last one; an older one is refused (False)."""
        cols = (self.ts_open, self.open, self.high, self.low, self.close, self.volume)
        values = (bar.ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume)
        if self.ts_open and bar.ts_open <= self.ts_open[-1]:
            if bar.ts_open != self.ts_open[-1]:
                return False
            for col, v in zip(cols, values, strict=True):
                col[-1] = v
            return True
        for col, v in zip(cols, values, strict=True):
            col.append(v)
        if len(self.ts_open) > self.cap + self.cap // 10:  # trim in chunks: deleting from the front copies
            drop = len(self.ts_open) - self.cap
            for col in cols:
                del col[:drop]
        return True

    def to_bars(self, symbol: str, timeframe: str) -> list[Bar]:
        """The newest ``cap`` bars, oldest first (``ts_event`` is not kept: 0)."""
        start = max(0, len(self.ts_open) - self.cap)
        return [
            Bar(ts_event=0, instrument_token=1, symbol=symbol, timeframe=timeframe, ts_open=t, open=o, high=h, low=lo,
                close=c, volume=v)
            for t, o, h, lo, c, v in zip(self.ts_open[start:], self.open[start:], self.high[start:],
                                         self.low[start:], self.close[start:], self.volume[start:], strict=True)
        ]  # fmt: skip


@dataclass(slots=True)
class Book:
    """The newest book (from a position snapshot or the checkpoint)."""

    mode: str = "paper"
    source: str = "none"
    as_of_ns: int = 0
    capital: float = 0.0
    cash: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    charges: float = 0.0
    day_pnl: float = 0.0
    positions: list[PositionOut] = field(default_factory=list)

    @property
    def total_equity(self) -> float:
        return self.capital + self.realized_pnl + self.unrealized_pnl - self.charges


class Store:
    """Bounded state of the session for the API and the push channel."""

    def __init__(self, cfg: DashboardConfig) -> None:
        self.cfg = cfg
        self.lock = threading.RLock()
        self.orders: OrderedDict[str, OrderOut] = OrderedDict()
        self.signals: OrderedDict[str, SignalOut] = OrderedDict()
        self.trades: OrderedDict[str, deque[TradeMarkerOut]] = OrderedDict()  # symbol -> its fills
        self._fill_ids: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.bars: OrderedDict[tuple[str, str], BarSeries] = OrderedDict()
        self.book = Book()
        self.equity: deque[EquityPoint] = deque(maxlen=cfg.equity_points)
        self.heartbeats: dict[str, tuple[Heartbeat, int]] = {}  # service -> (heartbeat, received wall ns)
        self.session = SessionState(halted=False)

    # -- orders and fills -----------------------------------------------------------------
    def _apply_order(self, order_id: str, build: Callable[[OrderOut | None], OrderOut | None]) -> OrderOut | None:
        with self.lock:
            old = self.orders.get(order_id)
            new = build(old)
            if new is not None:
                _put_capped(self.orders, order_id, new, self.cfg.max_orders)
            return new

    def on_order_event(self, e: OrderEvent) -> OrderOut | None:
        """Apply an order event; returns the order as it now stands (None: an older state, ignored)."""

        def build(old: OrderOut | None) -> OrderOut | None:
            if old is not None and e.ts_event < old.updated_ns:
                return None
            return OrderOut(
                order_id=e.order_id,
                intent_id=e.intent_id,
                ts_ns=old.ts_ns if old is not None else e.ts_event,
                updated_ns=e.ts_event,
                time=ist_text(e.ts_event),
                symbol=e.symbol,
                exchange=e.exchange,
                side=e.side.value,
                order_type=e.order_type.value,
                product=e.product.value,
                quantity=e.quantity,
                filled_quantity=e.filled_quantity,
                price=e.price,
                average_price=e.average_price,
                status=e.status.value,
                strategy=e.strategy,
                status_message=e.status_message,
            )

        return self._apply_order(e.order_id, build)

    def on_order_row(self, row: OrderRow) -> None:
        """History: one orders.csv row (and the fill it reports)."""

        def build(old: OrderOut | None) -> OrderOut | None:
            if old is not None and row.ts_ns < old.updated_ns:
                return None
            return OrderOut(
                order_id=row.order_id,
                intent_id=row.intent_id,
                ts_ns=old.ts_ns if old is not None else row.ts_ns,
                updated_ns=row.ts_ns,
                time=ist_text(row.ts_ns),
                symbol=row.symbol,
                exchange=row.exchange,
                side=row.side.value,
                order_type=row.order_type.value if row.order_type else "",
                product=row.product.value if row.product else "",
                quantity=row.quantity,
                filled_quantity=row.filled_quantity,
                price=row.order_price,
                average_price=row.average_price,
                status=row.status.value,
                strategy=row.strategy,
                status_message=str(row.extra.get("status_message", "")),
            )

        self._apply_order(row.order_id, build)
        if row.fill is not None:
            self._add_trade(
                row.symbol,
                row.order_id,
                row.fill.fill_id,
                TradeMarkerOut(
                    ts_ns=row.fill.ts_ns,
                    side=row.side.value,
                    quantity=row.fill.quantity,
                    price=row.fill.price,
                    order_id=row.order_id,
                    strategy=row.strategy,
                ),
            )

    def on_fill(self, f: Fill) -> bool:
        """Apply a fill; False when it was already known."""
        return self._add_trade(
            f.symbol,
            f.order_id,
            f.fill_id,
            TradeMarkerOut(
                ts_ns=f.ts_event, side=f.side.value, quantity=f.quantity, price=f.price, order_id=f.order_id,
                strategy=f.strategy,
            ),
        )  # fmt: skip

    def _add_trade(self, symbol: str, order_id: str, fill_id: str, marker: TradeMarkerOut) -> bool:
        with self.lock:
            key = (order_id, fill_id)
            if key in self._fill_ids:
                return False
            _put_capped(self._fill_ids, key, None, self.cfg.max_trades)
            series = self.trades.get(symbol)
            if series is None:
                series = deque(maxlen=MAX_TRADES_PER_SYMBOL)
            _put_capped(self.trades, symbol, series, self.cfg.max_series)
            series.append(marker)
            return True

    # -- signals ----------------------------------------------------------------------------
    def on_signal(self, s: Signal) -> SignalOut | None:
        out = SignalOut(
            signal_id=s.signal_id, ts_ns=s.ts_event, time=ist_text(s.ts_event), strategy=s.strategy,
            logical=s.logical, symbol=s.symbol, price=s.price, signal=s.signal.value, timeframe=s.timeframe,
            reason=s.reason, confidence=s.confidence, indicators={k: _finite(v) for k, v in s.indicators.items()},
        )  # fmt: skip
        with self.lock:
            if s.signal_id in self.signals:
                return None
            _put_capped(self.signals, s.signal_id, out, self.cfg.max_signals)
        return out

    def on_signal_row(self, row: SignalRow) -> None:
        self.on_signal(row.to_signal())

    # -- book, session, health ---------------------------------------------------------------
    def on_snapshot(self, snap: PositionSnapshot, *, source: str = "stream") -> bool:
        """Take a position snapshot; False when older than the book shown."""
        with self.lock:
            if snap.ts_event < self.book.as_of_ns:
                return False
            self.book = Book(
                mode=snap.mode, source=source, as_of_ns=snap.ts_event, capital=snap.capital, cash=snap.cash,
                realized_pnl=snap.realized_pnl, unrealized_pnl=snap.unrealized_pnl, charges=snap.charges,
                day_pnl=snap.day_pnl,
                positions=[
                    PositionOut(
                        symbol=p.symbol, exchange=p.exchange, product=p.product.value, quantity=p.quantity,
                        avg_price=p.avg_price, last_price=p.last_price, realized_pnl=p.realized_pnl,
                        unrealized_pnl=p.unrealized_pnl, strategy=p.strategy, by_strategy=dict(p.by_strategy),
                    )
                    for p in snap.positions
                ],
            )  # fmt: skip
            point = EquityPoint(ts_ns=snap.ts_event, equity=self.book.total_equity, day_pnl=snap.day_pnl)
            if self.equity and self.equity[-1].ts_ns >= point.ts_ns:
                if self.equity[-1].ts_ns == point.ts_ns:
                    self.equity[-1] = point
            else:
                self.equity.append(point)
            return True

    def on_checkpoint(self, data: dict[str, Any]) -> None:
        """History: the book and the risk view of the runtime (or mode) checkpoint, if nothing newer is known."""
        equity = data.get("equity") or {}
        risk = data.get("risk") or {}
        execution = data.get("execution") or {}
        with self.lock:
            if isinstance(risk, dict):
                self.session = SessionState(
                    halted=bool(risk.get("halted")),
                    halt_reason="halted (runtime checkpoint)" if risk.get("halted") else "",
                    killed_symbols=[str(s) for s in risk.get("killed_symbols") or []],
                    last_command=str((risk.get("last_command") or {}).get("action", "")),
                )
            as_of = int(execution.get("last_event_ns") or 0) if isinstance(execution, dict) else 0
            if self.book.source == "stream" or not isinstance(equity, dict):
                return
            self.book = Book(
                mode=str(data.get("mode", "paper")), source="checkpoint", as_of_ns=as_of,
                capital=float(equity.get("paper_capital", 0.0)), cash=float(equity.get("cash", 0.0)),
                realized_pnl=float(equity.get("realized_pnl", 0.0)),
                unrealized_pnl=float(equity.get("unrealized_pnl", 0.0)),
                charges=float(equity.get("charges", 0.0)), day_pnl=float(equity.get("day_pnl", 0.0)),
                positions=[
                    PositionOut(
                        symbol=str(p.get("symbol", "")), exchange=str(p.get("exchange", "")),
                        product=str(p.get("product", "")), quantity=int(p.get("quantity", 0)),
                        avg_price=float(p.get("avg_price", 0.0)), last_price=float(p.get("last_price", 0.0)),
                        realized_pnl=float(p.get("realized_pnl", 0.0)),
                        unrealized_pnl=float(p.get("unrealized_pnl", 0.0)),
                    )
                    for p in data.get("positions") or []
                    if isinstance(p, dict)
                ],
            )  # fmt: skip

    def on_control(self, cmd: ControlCommand) -> SessionState:
        """Follow the halt and kill state as risk applies it (``shared.risk.rules.apply_control``)."""
        with self.lock:
            s = self.session
            killed = set(s.killed_symbols)
            halted, reason = s.halted, s.halt_reason
            who = f" by {cmd.issued_by}" if cmd.issued_by else ""
            if cmd.action == ControlAction.HALT:
                halted, reason = True, f"manual halt{who}" + (f": {cmd.reason}" if cmd.reason else "")
            elif cmd.action == ControlAction.RESUME:
                halted, reason = False, ""
            elif cmd.action == ControlAction.KILL_SYMBOL and cmd.symbol:
                killed.add(cmd.symbol)
            elif cmd.action == ControlAction.REVIVE_SYMBOL:
                killed.discard(cmd.symbol)
            self.session = SessionState(
                halted=halted, halt_reason=reason, killed_symbols=sorted(killed),
                last_command=f"{cmd.action.value}{' ' + cmd.symbol if cmd.symbol else ''}{who}",
            )  # fmt: skip
            return self.session

    def on_decision(self, d: RiskDecision) -> SessionState | None:
        """A HALT_SESSION decision (the day's loss limit) halts the session."""
        if d.decision != Decision.HALT_SESSION:
            return None
        with self.lock:
            self.session = self.session.model_copy(update={"halted": True, "halt_reason": d.reason})
            return self.session

    def on_heartbeat(self, hb: Heartbeat, received_ns: int) -> None:
        with self.lock:
            old = self.heartbeats.get(hb.service)
            if old is None or hb.ts_event >= old[0].ts_event:
                self.heartbeats[hb.service] = (hb, received_ns)

    # -- bars -------------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> bool:
        """Add a closed bar to its (symbol, timeframe) series; False for an older one."""
        key = (bar.symbol, bar.timeframe)
        with self.lock:
            series = self.bars.get(key)
            if series is None:
                series = BarSeries(self.cfg.max_bars_per_series)
            _put_capped(self.bars, key, series, self.cfg.max_series)
            return series.add(bar)

    # -- reads ------------------------------------------------------------------------------
    def order_list(self) -> list[OrderOut]:
        """Orders, newest first."""
        with self.lock:
            return sorted(self.orders.values(), key=lambda o: (o.ts_ns, o.order_id), reverse=True)

    def signal_list(self) -> list[SignalOut]:
        with self.lock:
            return sorted(self.signals.values(), key=lambda s: (s.ts_ns, s.signal_id), reverse=True)

    def trades_of(self, symbol: str) -> list[TradeMarkerOut]:
        with self.lock:
            return list(self.trades.get(symbol, ()))

    def bars_of(self, symbol: str, timeframe: str) -> list[Bar]:
        with self.lock:
            series = self.bars.get((symbol, timeframe))
            return series.to_bars(symbol, timeframe) if series is not None else []

    def timeframes_of(self, symbol: str) -> list[str]:
        with self.lock:
            return sorted(tf for (sym, tf) in self.bars if sym == symbol)

    def symbols(self) -> tuple[list[str], list[str]]:
        """(symbols with fills, symbols with candles), sorted."""
        with self.lock:
            return sorted(self.trades), sorted({sym for sym, _ in self.bars})

    def sizes(self) -> dict[str, int]:
        """How much is held, per collection (the memory benchmark and /api/health read it)."""
        with self.lock:
            return {
                "orders": len(self.orders),
                "signals": len(self.signals),
                "fills": len(self._fill_ids),
                "series": len(self.bars),
                "bars": sum(min(len(s), s.cap) for s in self.bars.values()),
                "equity_points": len(self.equity),
            }


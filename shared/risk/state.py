"""The risk service's memory: day counters, halts, kills, throttle, positions, decisions.

``RiskState`` is a mutable ``msgspec.Struct`` so ``snapshot()`` gives plain JSON-able
builtins and ``restore()`` validates them back. Every time in it is event time (UTC epoch ns).

Positions have three layers, so that limits hold between two portfolio snapshots:

- ``positions``: the last ``PositionSnapshot`` (authoritative up to ``snapshot_ts``), net per
  symbol and split per strategy (``PositionView.by_strategy``);
- ``fills``: fills with an event time after ``snapshot_ts`` (the next snapshot includes them),
  each with its strategy;
- ``pending``: entries risk approved whose quantity has not filled yet. They count towards
  exposure and the open-position count until they fill, are rejected or cancelled
  (``on_order_event``), or the IST day rolls over.
- ``pending_exits``: exits risk approved that have not filled yet. They do not change exposure
  (the position is held until the fills say otherwise) but the units they will close are no
  longer there for the strategy's next reduce-only exit (``strategy_quantity_left``): two
  exits approved before either fills (the slices of an exit split at the freeze limit) close
  the position once, not twice.

The broker (and so the account) nets every strategy's fills per symbol; the platform also
keeps each strategy's own position (``strategy_quantity``), because two strategies may hold
opposite positions in one symbol while the net is flat. Account-level limits (leverage, a
symbol's exposure, open positions, Greeks) use the net; a strategy's exits and its budget
use its own units.

Exposure is notional x the symbol's margin rate (``margin_rates``, set by the service from
the instruments master: ``futures_margin_pct`` for futures; 1 for every other symbol).

Day roll-over (the first event of a new IST day): day PnL, per-symbol PnL, trade counts,
pending entries and exits, symbol kills and a loss halt reset; a manual halt stays until RESUME.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import msgspec

from shared.clock import ist_day
from shared.contracts import Fill, OrderEvent, PositionLine, PositionSnapshot, RiskDecision
from shared.enums import OrderStatus, Side

STATE_VERSION: Final = 1
#: Decisions kept for duplicate intent ids: a busy day has a few thousand intents.
MAX_DECISIONS: Final = 20_000
MAX_SEEN_FILLS: Final = 20_000
THROTTLE_WINDOW_NS: Final = 60 * 1_000_000_000

_TERMINAL: Final = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED})


class PositionView(msgspec.Struct, kw_only=True):
    """Net units in one symbol (all products), its mark, and each strategy's part of it."""

    quantity: int
    last_price: float
    strategy: str = ""
    #: Signed units per strategy (all products), summing to ``quantity``. None: not known (a
    #: checkpoint or snapshot written before the split existed); see ``split``.
    by_strategy: dict[str, int] | None = None

    def split(self) -> dict[str, int] | None:
        """Units per strategy; None when unknown (then every strategy is taken to hold the net)."""
        if self.by_strategy is not None:
            return self.by_strategy
        if self.strategy:  # an old single-owner line
            return {self.strategy: self.quantity} if self.quantity else {}
        return None if self.quantity else {}


class FillView(msgspec.Struct, kw_only=True):
    """A fill newer than the last snapshot (signed quantity)."""

    ts: int
    symbol: str
    quantity: int
    price: float
    strategy: str = ""


class PendingEntry(msgspec.Struct, kw_only=True):
    """An approved entry not yet (fully) filled."""

    ts: int
    symbol: str
    strategy: str
    side: Side
    quantity: int
    price: float
    filled: int = 0

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.filled, 0)


class RiskState(msgspec.Struct, kw_only=True):
    """Everything the risk rules remember. Mutated by ``shared.risk.rules``."""

    version: int = STATE_VERSION
    day: str = ""  # IST date, ISO
    day_pnl: float = 0.0
    symbol_pnl: dict[str, float] = {}  # realized + unrealized of today, from the snapshot
    trades: dict[str, int] = {}  # approved entries per symbol today
    equity: float = 0.0
    snapshot_ts: int = 0  # 0: no portfolio snapshot yet
    positions: dict[str, PositionView] = {}
    fills: dict[str, FillView] = {}  # "order_id:fill_id" -> fill newer than the snapshot
    seen_fills: dict[str, int] = {}  # fill key -> ts, bounded, so a redelivered fill counts once
    pending: dict[str, PendingEntry] = {}  # intent_id -> approved entry
    pending_exits: dict[str, PendingEntry] = {}  # intent_id -> approved exit not filled yet
    manual_halt: str = ""  # reason; non-empty = halted by an operator until RESUME
    loss_halt: str = ""  # reason; non-empty = halted by max_daily_loss until RESUME or the next day
    killed: dict[str, str] = {}  # symbol -> reason
    order_times: list[int] = []  # event times of approved orders, last THROTTLE_WINDOW_NS
    decisions: dict[str, RiskDecision] = {}  # intent_id -> decision, oldest first, bounded
    last_tick: dict[str, int] = {}  # symbol -> event time of its last tick
    last_price: dict[str, float] = {}  # symbol -> last traded price
    margin_rates: dict[str, float] = {}  # symbol -> fraction of notional carried as margin; absent = 1

    # -- persistence ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain builtins (``json.dumps``-able) for a checkpoint."""
        return msgspec.to_builtins(self)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> RiskState:
        """The state a ``snapshot()`` came from; ``ValueError`` naming the bad key otherwise."""
        try:
            state = msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"risk state checkpoint: {exc}") from None
        if state.version != STATE_VERSION:
            raise ValueError(f"risk state checkpoint: version {state.version}, expected {STATE_VERSION}")
        return state

    # -- views -----------------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        return bool(self.manual_halt or self.loss_halt)

    @property
    def halt_reason(self) -> str:
        return "; ".join(r for r in (self.manual_halt, self.loss_halt) if r)

    def mark(self, symbol: str) -> float:
        """The newest known price of ``symbol`` (0.0 when unknown)."""
        price = self.last_price.get(symbol)
        if price:
            return price
        pos = self.positions.get(symbol)
        return pos.last_price if pos else 0.0

    def margin_rate(self, symbol: str) -> float:
        """The fraction of ``symbol``'s notional that counts as exposure (1.0 unless set)."""
        return self.margin_rates.get(symbol, 1.0)

    def position_quantity(self, symbol: str) -> int:
        """Signed net units held: the snapshot plus fills after it (pending entries excluded)."""
        pos = self.positions.get(symbol)
        qty = pos.quantity if pos else 0
        return qty + sum(f.quantity for f in self.fills.values() if f.symbol == symbol)

    def strategy_quantity(self, symbol: str, strategy: str) -> int:
        """Signed units ``strategy`` itself holds in ``symbol``: its part of the snapshot plus its later fills.

        When the snapshot's split is unknown (written before there was one) the strategy is
        taken to hold the whole net, as risk did before: an exit can still close it, and a
        budget counts it in full (the cautious side).
        """
        pos = self.positions.get(symbol)
        qty = 0
        if pos is not None:
            split = pos.split()
            qty = pos.quantity if split is None else split.get(strategy, 0)
        return qty + sum(f.quantity for f in self.fills.values() if f.symbol == symbol and f.strategy == strategy)

    def closing_quantity(self, symbol: str, strategy: str) -> int:
        """Units of ``strategy``'s position in ``symbol`` that approved exits will close (not filled yet)."""
        return sum(p.remaining for p in self.pending_exits.values() if p.symbol == symbol and p.strategy == strategy)

    def strategy_quantity_left(self, symbol: str, strategy: str) -> int:
        """``strategy_quantity`` less what ``strategy``'s approved exits not filled yet will close.

        What the strategy's next reduce-only exit may close (``rules.own_units``).
        """
        moving = sum(
            p.remaining if p.side == Side.BUY else -p.remaining
            for p in self.pending_exits.values()
            if p.symbol == symbol and p.strategy == strategy
        )
        return self.strategy_quantity(symbol, strategy) + moving

    def _held(self) -> dict[str, int]:
        """Signed net units per symbol: the snapshot plus the fills after it."""
        held: dict[str, int] = {s: p.quantity for s, p in self.positions.items()}
        for f in self.fills.values():
            held[f.symbol] = held.get(f.symbol, 0) + f.quantity
        return held

    def _strategy_symbols(self, strategy: str) -> set[str]:
        """Symbols where ``strategy`` may hold units (its snapshot split, unknown splits, its fills)."""
        out: set[str] = set()
        for symbol, pos in self.positions.items():
            split = pos.split()
            if split is None or split.get(strategy):
                out.add(symbol)
        out.update(f.symbol for f in self.fills.values() if f.strategy == strategy)
        return out

    def open_symbols(self) -> set[str]:
        """Symbols with a net position or an approved entry still pending."""
        out = {s for s, q in self._held().items() if q}
        out.update(p.symbol for p in self.pending.values() if p.remaining)
        return out

    def open_positions_count(self) -> int:
        return len(self.open_symbols())

    def symbol_exposure(self, symbol: str) -> float:
        """Gross exposure (₹) in ``symbol``: held units at the mark plus pending entries, x its margin rate."""
        held = abs(self.position_quantity(symbol)) * self.mark(symbol)
        pending = sum(p.remaining * p.price for p in self.pending.values() if p.symbol == symbol)
        return (held + pending) * self.margin_rate(symbol)

    def gross_exposure(self, strategy: str | None = None) -> float:
        """Gross exposure (₹, notional x margin rate) of positions and pending entries, of one ``strategy`` or all.

        All: each symbol's *net* position (what the account holds and the broker margins).
        One strategy: its *own* position in each symbol, so a strategy whose long is netted
        away by another's short still uses its budget.
        """
        if strategy is None:
            held = self._held()
        else:
            held = {sym: self.strategy_quantity(sym, strategy) for sym in self._strategy_symbols(strategy)}
        total = 0.0
        for sym, qty in held.items():
            if qty:
                total += abs(qty) * self.mark(sym) * self.margin_rate(sym)
        for p in self.pending.values():
            if strategy is None or p.strategy == strategy:
                total += p.remaining * p.price * self.margin_rate(p.symbol)
        return total

    def throttle_count(self, now_ns: int) -> int:
        """Approved orders in the sliding window ``(now - 60 s, ...]`` of event time."""
        return sum(1 for t in self.order_times if t > now_ns - THROTTLE_WINDOW_NS)

    # -- updates ---------------------------------------------------------------------------

    def roll_day(self, now_ns: int) -> bool:
        """Reset the day counters if ``now_ns`` is on a later IST day; True if it rolled."""
        today = ist_day(now_ns).isoformat()
        if self.day == today:
            return False
        if self.day and today < self.day:
            return False  # a late event of an earlier day does not roll back
        first = not self.day
        self.day = today
        if first:
            return False
        self.day_pnl = 0.0
        self.symbol_pnl = {}
        self.trades = {}
        self.pending = {}  # orders do not outlive their day
        self.pending_exits = {}
        self.killed = {}
        self.loss_halt = ""
        return True

    def on_tick(self, symbol: str, ts_ns: int, last_price: float = 0.0) -> None:
        """Market data seen for ``symbol`` at event time ``ts_ns`` (feeds the staleness rule)."""
        if ts_ns >= self.last_tick.get(symbol, 0):
            self.last_tick[symbol] = ts_ns
            if last_price > 0:
                self.last_price[symbol] = last_price

    def on_snapshot(self, snap: PositionSnapshot) -> bool:
        """Take the execution service's book; an older snapshot than the last is ignored (False)."""
        if snap.ts_event < self.snapshot_ts:
            return False
        self.roll_day(snap.ts_event)
        if self.day and ist_day(snap.ts_event).isoformat() < self.day:
            return False
        positions: dict[str, PositionView] = {}
        symbol_pnl: dict[str, float] = {}
        for line in snap.positions:
            split = _line_split(line)
            view = positions.get(line.symbol)
            if view is None:
                positions[line.symbol] = PositionView(
                    quantity=line.quantity, last_price=line.last_price, strategy=line.strategy, by_strategy=split
                )
            else:  # another product of the symbol: add its units, strategy by strategy
                view.quantity += line.quantity
                view.strategy = view.strategy or line.strategy
                if view.by_strategy is None or split is None:
                    view.by_strategy = None  # one product's split unknown: the symbol's is too
                else:
                    for strategy, qty in split.items():
                        view.by_strategy[strategy] = view.by_strategy.get(strategy, 0) + qty
            symbol_pnl[line.symbol] = symbol_pnl.get(line.symbol, 0.0) + line.realized_pnl + line.unrealized_pnl
        self.positions = positions
        self.symbol_pnl = symbol_pnl
        self.day_pnl = snap.day_pnl
        self.equity = snap.capital + snap.realized_pnl + snap.unrealized_pnl - snap.charges
        self.snapshot_ts = snap.ts_event
        self.fills = {k: f for k, f in self.fills.items() if f.ts > snap.ts_event}
        return True

    def on_fill(self, fill: Fill) -> bool:
        """Count a fill once: it shrinks its pending entry and, if newer than the snapshot, moves the position."""
        key = f"{fill.order_id}:{fill.fill_id}"
        if key in self.seen_fills:
            return False
        self.seen_fills[key] = fill.ts_event
        _trim(self.seen_fills, MAX_SEEN_FILLS)
        for book in (self.pending, self.pending_exits):
            pending = book.get(fill.intent_id)
            if pending is not None:
                pending.filled += fill.quantity
                if pending.remaining == 0:
                    del book[fill.intent_id]
        if fill.ts_event > self.snapshot_ts:
            signed = fill.quantity if fill.side == Side.BUY else -fill.quantity
            self.fills[key] = FillView(
                ts=fill.ts_event, symbol=fill.symbol, quantity=signed, price=fill.price, strategy=fill.strategy
            )
        return True

    def on_order_event(self, event: OrderEvent) -> None:
        """A rejected or cancelled order frees what its pending entry (or exit) held."""
        if event.status in _TERMINAL:
            self.pending.pop(event.intent_id, None)
            self.pending_exits.pop(event.intent_id, None)

    def record_decision(self, decision: RiskDecision) -> None:
        self.decisions[decision.intent_id] = decision
        _trim(self.decisions, MAX_DECISIONS)

    def record_order(self, now_ns: int) -> None:
        self.order_times = [t for t in self.order_times if t > now_ns - THROTTLE_WINDOW_NS]
        self.order_times.append(now_ns)


def _line_split(line: PositionLine) -> dict[str, int] | None:
    """A snapshot line's units per strategy; None when it has none to give (an old message)."""
    if line.by_strategy:
        return {s: q for s, q in line.by_strategy.items() if q}
    if line.strategy:
        return {line.strategy: line.quantity} if line.quantity else {}
    return None if line.quantity else {}


def _trim(d: dict[str, Any], limit: int) -> None:
    """Drop the oldest keys (insertion order) beyond ``limit``."""
    extra = len(d) - limit
    if extra > 0:
        for key in list(itertools.islice(d, extra)):
            del d[key]

"""Round trips per strategy: the pnl.csv rows and the checkpoint's per-strategy counters.

A trade is one (strategy, symbol, product) going from flat to a position and back to flat.
Adding to the position keeps the trade open; a fill that flips the position closes the trade
and opens a new one with the remainder. A fill's charges are split between the closing and
the opening part in proportion to quantity.

The portfolio nets every strategy's fills per (symbol, product); here each strategy keeps its
own position, so when two strategies trade one symbol against each other the strategies'
PnL does not sum to the portfolio's. Event times only; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.brokers.positions import Position
from shared.clock import NS
from shared.enums import Product, Side
from shared.state.formats import PnlRecord

if TYPE_CHECKING:
    from shared.brokers.base import BrokerEvent


@dataclass(frozen=True, slots=True)
class StrategyStats:
    """The checkpoint's ``strategies.<name>`` block (plus what it is made of)."""

    day_pnl: float  # realized + unrealized - charges
    open_trades: int
    win_trades: int  # closed with net_pnl > 0
    loss_trades: int  # closed with net_pnl <= 0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    charges: float = 0.0

    def seed_dict(self) -> dict[str, float | int]:
        """The seed's four keys, then the parts ``day_pnl`` is made of."""
        return {
            "day_pnl": self.day_pnl,
            "open_trades": self.open_trades,
            "win_trades": self.win_trades,
            "loss_trades": self.loss_trades,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "charges": self.charges,
        }


@dataclass(slots=True)
class _Trade:
    side: Side
    entry_ts_ns: int
    entry_quantity: int = 0
    entry_value: float = 0.0
    exit_quantity: int = 0
    exit_value: float = 0.0
    realized: float = 0.0
    charges: float = 0.0
    fills: int = 0

    def add_entry(self, quantity: int, price: float, charges: float) -> None:
        self.entry_quantity += quantity
        self.entry_value += quantity * price
        self.charges += charges


@dataclass(slots=True)
class _Book:
    """One strategy's position and open trade in one (symbol, product)."""

    position: Position
    trade: _Trade | None = None


@dataclass(slots=True)
class _Totals:
    realized: float = 0.0
    charges: float = 0.0
    wins: int = 0
    losses: int = 0


@dataclass(slots=True)
class TradeBook:
    """Follows fills per strategy and reports each trade as it closes."""

    _books: dict[tuple[str, str, Product], _Book] = field(default_factory=dict)
    _totals: dict[str, _Totals] = field(default_factory=dict)

    def on_fill(
        self,
        ts_ns: int,
        strategy: str,
        symbol: str,
        product: Product,
        side: Side,
        quantity: int,
        price: float,
        charges: float = 0.0,
        exchange: str = "",
    ) -> list[PnlRecord]:
        """Book a fill; returns the trade it closed, if any (a flip closes one and opens another)."""
        key = (strategy, symbol, product)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = _Book(Position(symbol, product, exchange))
        totals = self._totals.setdefault(strategy, _Totals())
        pos = book.position
        old = pos.quantity
        closing = 0 if old == 0 or (old > 0) == (side == Side.BUY) else min(quantity, abs(old))
        close_charges = charges * closing / quantity
        realized = pos.apply_fill(side, quantity, price)
        for other in self._same_symbol(symbol):
            other.last_price = price
        totals.realized += realized
        totals.charges += charges
        closed: list[PnlRecord] = []
        if closing:
            trade = book.trade
            assert trade is not None  # a non-flat position always has an open trade
            trade.exit_quantity += closing
            trade.exit_value += closing * price
            trade.realized += realized
            trade.charges += close_charges
            trade.fills += 1
            if abs(old) == closing:  # flat (or flipped): the trade is over
                closed.append(self._close(book, strategy, symbol, product, exchange, ts_ns, totals))
        opening = quantity - closing
        if opening:
            if book.trade is None:  # a new trade (after a flip, the same fill also closed the last one)
                book.trade = _Trade(side=side, entry_ts_ns=ts_ns)
            book.trade.add_entry(opening, price, charges - close_charges)
            book.trade.fills += 1
        return closed

    def _close(
        self, book: _Book, strategy: str, symbol: str, product: Product, exchange: str, ts_ns: int, totals: _Totals
    ) -> PnlRecord:
        trade = book.trade
        assert trade is not None
        book.trade = None
        net = trade.realized - trade.charges
        if net > 0:
            totals.wins += 1
        else:
            totals.losses += 1
        return PnlRecord(
            ts_ns=ts_ns,
            symbol=symbol,
            strategy=strategy,
            side=trade.side,
            quantity=trade.entry_quantity,
            entry_price=trade.entry_value / trade.entry_quantity,
            exit_price=trade.exit_value / trade.exit_quantity,
            gross_pnl=trade.realized,
            charges=trade.charges,
            net_pnl=net,
            holding_seconds=(ts_ns - trade.entry_ts_ns) / NS,
            extra={
                "product": product.value,
                "exchange": exchange or book.position.exchange,
                "entry_ts_ns": trade.entry_ts_ns,
                "fills": trade.fills,
            },
        )

    def on_broker_event(self, ev: BrokerEvent) -> list[PnlRecord]:
        """Apply one order change (its fill, its fee); returns the round trips it closed."""
        evt, fill = ev.order, ev.fill
        closed: list[PnlRecord] = []
        if fill is not None:
            closed = self.on_fill(fill.ts_event, evt.strategy, evt.symbol, evt.product, evt.side, fill.quantity,
                                  fill.price, fill.charges, evt.exchange)  # fmt: skip
        if ev.fee:
            self.charge(evt.strategy, ev.fee)
        return closed

    def charge(self, strategy: str, amount: float) -> None:
        """A charge not tied to a fill (auto square-off fee), booked to ``strategy``'s day PnL."""
        self._totals.setdefault(strategy, _Totals()).charges += amount

    def _same_symbol(self, symbol: str) -> Iterator[Position]:
        return (b.position for (_, sym, _), b in self._books.items() if sym == symbol)

    def mark(self, symbol: str, price: float) -> None:
        """Mark every strategy's position in ``symbol`` (unrealized PnL is measured there)."""
        for pos in self._same_symbol(symbol):
            pos.mark(price)

    def stats(self) -> dict[str, StrategyStats]:
        """Per strategy: day PnL net of charges, open trades, wins and losses, sorted by name."""
        out: dict[str, StrategyStats] = {}
        for name in sorted(self._totals):
            totals = self._totals[name]
            books = [b for (s, _, _), b in self._books.items() if s == name]
            unrealized = sum(b.position.unrealized_pnl for b in books)
            out[name] = StrategyStats(
                day_pnl=totals.realized + unrealized - totals.charges,
                open_trades=sum(1 for b in books if not b.position.is_flat),
                win_trades=totals.wins,
                loss_trades=totals.losses,
                realized_pnl=totals.realized,
                unrealized_pnl=unrealized,
                charges=totals.charges,
            )
        return out

"""Rebuild the book from orders.csv alone: positions, realized PnL, charges, cash, open orders.

Replays the fills recorded in the journal, in file order (the single writer appends in the
order it booked them), through the same ``Portfolio`` the execution service uses, so the
result matches the live book to the last bit, not only to the paisa. Idempotent: a fill is
identified by (order_id, fill_id) and counted once however often its row appears (a
re-journaled event after a restart); the same id with a different quantity or price is a
``DataError``. A fee (``extra.fee``) counts once per order.

A row marked ``extra.internal`` (a square-off's cross between two strategies,
``shared.brokers.netting``) moves the strategies' trades but not the portfolio: it never
reached the exchange.

Order status: the last row of an order wins, except that a terminal status (FILLED,
CANCELLED, REJECTED) is never undone by a later non-terminal duplicate. Orders whose status
is not terminal are the open orders. Unrealized PnL is measured at each symbol's last fill
price; mark the portfolio with fresh prices after rebuilding.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.brokers.orders import TERMINAL
from shared.brokers.positions import Portfolio, Position
from shared.clock import ist_day
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.errors import DataError
from shared.state.formats import OrderRow, PnlRecord
from shared.state.journal import read_orders
from shared.state.timefmt import format_ts
from shared.state.trades import StrategyStats, TradeBook

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OrderState:
    """An order as the journal last saw it."""

    order_id: str
    intent_id: str
    symbol: str
    exchange: str
    side: Side
    order_type: OrderType | None
    product: Product | None
    quantity: int
    price: float  # the order's own price (limit), 0 for MARKET
    status: OrderStatus
    filled_quantity: int
    average_price: float
    strategy: str
    tf: str
    profile: str
    underlying: str
    parent_signal_timestamp: str
    ts_ns: int
    line: int  # the journal line of the last update

    @classmethod
    def from_row(cls, row: OrderRow) -> OrderState:
        return cls(
            order_id=row.order_id,
            intent_id=row.intent_id,
            symbol=row.symbol,
            exchange=row.exchange,
            side=row.side,
            order_type=row.order_type,
            product=row.product,
            quantity=row.quantity,
            price=row.order_price,
            status=row.status,
            filled_quantity=row.filled_quantity,
            average_price=row.average_price,
            strategy=row.strategy,
            tf=row.tf,
            profile=row.profile,
            underlying=row.underlying,
            parent_signal_timestamp=row.parent_signal_timestamp,
            ts_ns=row.ts_ns,
            line=row.line,
        )

    def update(self, row: OrderRow) -> None:
        if not (self.status in TERMINAL and row.status not in TERMINAL):
            self.status = row.status
        if row.filled_quantity >= self.filled_quantity:
            self.filled_quantity = row.filled_quantity
            self.average_price = row.average_price
        self.ts_ns = max(self.ts_ns, row.ts_ns)
        self.line = row.line

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``open_orders[]`` entry."""
        return {
            "order_id": self.order_id,
            "intent_id": self.intent_id,
            "symbol": self.symbol,
            "exchange": self.exchange,
            "side": self.side.value,
            "order_type": self.order_type.value if self.order_type else "",
            "product": self.product.value if self.product else "",
            "quantity": self.quantity,
            "price": self.price,
            "status": self.status.value,
            "filled_quantity": self.filled_quantity,
            "average_price": self.average_price,
            "strategy": self.strategy,
            "timestamp": format_ts(self.ts_ns),
        }


@dataclass(slots=True)
class RebuiltState:
    """What the journal says the book is."""

    portfolio: Portfolio
    trades: TradeBook
    orders: dict[str, OrderState] = field(default_factory=dict)
    closed_trades: list[PnlRecord] = field(default_factory=list)
    rows: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    skipped: list[str] = field(default_factory=list)  # "file:line: why" for rows not used
    last_ts_ns: int = 0

    @property
    def positions(self) -> list[Position]:
        """Every (symbol, product) traded, flat ones included (their realized PnL counts)."""
        return sorted(self.portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value))

    @property
    def realized_pnl(self) -> float:
        return self.portfolio.realized_pnl

    @property
    def unrealized_pnl(self) -> float:
        return self.portfolio.unrealized_pnl

    @property
    def charges(self) -> float:
        return self.portfolio.total_charges

    @property
    def cash(self) -> float:
        """``Portfolio.cash``: capital - bought + sold notional - charges."""
        return self.portfolio.cash

    @property
    def open_orders(self) -> list[OrderState]:
        """Orders not yet FILLED, CANCELLED or REJECTED, in the order first seen."""
        return [o for o in self.orders.values() if o.is_open]

    @property
    def strategies(self) -> dict[str, StrategyStats]:
        return self.trades.stats()


class _Rebuilder:
    def __init__(self, source: str, starting_capital: float) -> None:
        self.source = source
        self.state = RebuiltState(Portfolio(starting_capital), TradeBook())
        self._fills: dict[tuple[str, str], OrderRow] = {}
        self._filled: dict[str, int] = {}
        self._fees: set[str] = set()

    def where(self, row: OrderRow) -> str:
        return f"{self.source}:{row.line}"

    def apply(self, row: OrderRow) -> None:
        st = self.state
        st.rows += 1
        if not row.order_id:
            st.skipped.append(f"{self.where(row)}: no extra.order_id; not an order row this journal wrote")
            return
        st.last_ts_ns = max(st.last_ts_ns, row.ts_ns)
        order = st.orders.get(row.order_id)
        if order is None:
            st.orders[row.order_id] = OrderState.from_row(row)
        else:
            order.update(row)
        if row.fill is not None:
            self._apply_fill(row)
        if row.fee and row.order_id not in self._fees:
            self._fees.add(row.order_id)
            st.portfolio.charge(row.fee)
            st.trades.charge(row.strategy, row.fee)

    def _apply_fill(self, row: OrderRow) -> None:
        fill = row.fill
        assert fill is not None
        key = (row.order_id, fill.fill_id)
        seen = self._fills.get(key)
        if seen is not None:
            if seen.fill != fill or seen.symbol != row.symbol or seen.side != row.side:
                raise DataError(
                    f"{self.where(row)}: fill {fill.fill_id} of order {row.order_id} differs from line {seen.line} "
                    f"({fill} vs {seen.fill})"
                )
            self.state.duplicate_fills += 1
            return
        if row.product is None:
            raise DataError(f"{self.where(row)}: a fill row needs extra.product (MIS, NRML or CNC)")
        filled = self._filled.get(row.order_id, 0) + fill.quantity
        if filled > row.quantity:
            raise DataError(
                f"{self.where(row)}: fills of order {row.order_id} add up to {filled}, more than its quantity "
                f"{row.quantity}"
            )
        self._fills[key] = row
        self._filled[row.order_id] = filled
        st = self.state
        if not row.internal:  # a cross between strategies moved their positions, not the broker's
            st.portfolio.apply_fill(
                row.symbol, row.product, row.side, fill.quantity, fill.price, fill.charges, exchange=row.exchange
            )
        st.closed_trades += st.trades.on_fill(
            fill.ts_ns,
            row.strategy,
            row.symbol,
            row.product,
            row.side,
            fill.quantity,
            fill.price,
            fill.charges,
            row.exchange,
        )
        st.fills += 1


def rebuild_from_rows(rows: Iterable[OrderRow], starting_capital: float, source: str = "<rows>") -> RebuiltState:
    """Replay parsed orders.csv rows (see ``rebuild_from_journal``)."""
    builder = _Rebuilder(source, starting_capital)
    for row in rows:
        builder.apply(row)
    return builder.state


def rebuild_from_journal(
    orders_csv: str | os.PathLike[str], starting_capital: float, *, day: date | None = None
) -> RebuiltState:
    """The book as orders.csv records it, starting from ``starting_capital``.

    With ``day``, only rows of that IST trading day are replayed: the book of an intraday
    account that starts each day flat. Without it the whole file is replayed (positions
    carried across days stay right; PnL is then cumulative since the file began).
    A missing file gives an empty book. Torn last lines are ignored; bad rows raise
    ``DataError`` naming file:line.
    """
    rows = read_orders(orders_csv)
    if day is not None:
        rows = [r for r in rows if ist_day(r.ts_ns) == day]
    state = rebuild_from_rows(rows, starting_capital, str(orders_csv))
    if state.skipped:
        log.warning("%s: %d row(s) not replayed, first: %s", orders_csv, len(state.skipped), state.skipped[0])
    return state

"""Net positions, PnL and cash, and Zerodha's MIS auto square-off times.

A ``Position`` is one (symbol, product): signed net quantity, weighted average price (reset
when the position flips side), realized PnL on reductions, unrealized PnL at the last price.
A ``Portfolio`` adds cash and charges and keeps the money identity

    starting_capital + realized + unrealized - charges == cash + market value == equity.

Quantities are units (not lots), so PnL is price difference x quantity for every segment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time as dtime
from typing import Final

from shared.brokers.charges import ChargeBreakdown
from shared.clock import ns_to_ist
from shared.enums import Exchange, Product, Side

#: Zerodha's RMS squares MIS positions off from these IST times (reference §2.6).
MIS_SQUARE_OFF: Final = {
    Exchange.NSE: dtime(15, 20),
    Exchange.BSE: dtime(15, 20),
    Exchange.NFO: dtime(15, 25),
    Exchange.BFO: dtime(15, 25),
}


def mis_square_off_time(exchange: str) -> dtime:
    """The IST time from which MIS positions on ``exchange`` are squared off."""
    try:
        return MIS_SQUARE_OFF[Exchange(exchange)]
    except (KeyError, ValueError):
        raise ValueError(
            f"mis_square_off_time: no MIS square-off time for exchange {exchange!r}; expected NSE, BSE, NFO or BFO"
        ) from None


def mis_square_off_due(product: str, exchange: str, ts_ns: int) -> bool:
    """True if an MIS position on ``exchange`` must be (or have been) squared off at event time ``ts_ns``.

    Also the rule for new orders: Zerodha takes no new MIS orders after the same time.
    """
    if product != Product.MIS:
        return False
    return ns_to_ist(ts_ns).time() >= mis_square_off_time(exchange)


@dataclass(slots=True)
class Position:
    """The net position in one (symbol, product)."""

    symbol: str
    product: Product
    exchange: str = ""
    quantity: int = 0  # signed: > 0 long, < 0 short
    avg_price: float = 0.0
    last_price: float = 0.0  # the mark: last fill or last ``mark``
    realized_pnl: float = 0.0
    charges: float = 0.0
    buy_quantity: int = 0
    buy_value: float = 0.0
    sell_quantity: int = 0
    sell_value: float = 0.0

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.last_price - self.avg_price) if self.quantity else 0.0

    @property
    def market_value(self) -> float:
        return self.quantity * self.last_price

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def apply_fill(self, side: Side, quantity: int, price: float, charges: float = 0.0) -> float:
        """Add a fill; returns the PnL it realized (before charges)."""
        if quantity <= 0 or price <= 0:
            raise ValueError(f"position {self.symbol}/{self.product}: fill {quantity} @ {price}; expected both > 0")
        signed = quantity if side == Side.BUY else -quantity
        if side == Side.BUY:
            self.buy_quantity += quantity
            self.buy_value += quantity * price
        else:
            self.sell_quantity += quantity
            self.sell_value += quantity * price
        self.charges += charges
        self.last_price = price
        realized = 0.0
        old = self.quantity
        if old == 0 or (old > 0) == (signed > 0):  # opening or adding
            self.avg_price = (abs(old) * self.avg_price + quantity * price) / (abs(old) + quantity)
        else:  # reducing, closing or flipping
            closed = min(quantity, abs(old))
            realized = closed * (price - self.avg_price) * (1 if old > 0 else -1)
            self.realized_pnl += realized
            if quantity > abs(old):
                self.avg_price = price  # flipped: the remainder opened at this price
            elif quantity == abs(old):
                self.avg_price = 0.0
        self.quantity = old + signed
        return realized

    def mark(self, price: float) -> None:
        """Set the price unrealized PnL is measured at."""
        if price <= 0:
            raise ValueError(f"position {self.symbol}/{self.product}: mark {price}; expected > 0")
        self.last_price = price


@dataclass(slots=True)
class Portfolio:
    """Positions, cash and charges of one account (paper or backtest)."""

    starting_capital: float
    cash: float = field(init=False)
    total_charges: float = 0.0
    positions: dict[tuple[str, Product], Position] = field(default_factory=dict)
    _by_symbol: dict[str, list[Position]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.cash = self.starting_capital

    def position(self, symbol: str, product: Product) -> Position | None:
        return self.positions.get((symbol, product))

    def open_positions(self) -> Iterator[Position]:
        return (p for p in self.positions.values() if not p.is_flat)

    def apply_fill(
        self,
        symbol: str,
        product: Product,
        side: Side,
        quantity: int,
        price: float,
        charges: float | ChargeBreakdown = 0.0,
        exchange: str = "",
    ) -> Position:
        """Book a fill and its charges: the position, cash and the charge total move together."""
        cost = charges.total if isinstance(charges, ChargeBreakdown) else charges
        pos = self.positions.get((symbol, product))
        if pos is None:
            pos = Position(symbol, product, exchange)
            self.positions[(symbol, product)] = pos
            self._by_symbol.setdefault(symbol, []).append(pos)
        pos.apply_fill(side, quantity, price, cost)
        notional = quantity * price
        self.cash += -notional if side == Side.BUY else notional
        self.cash -= cost
        self.total_charges += cost
        # every product of the symbol now shares the newest price, as a tick would set it
        for other in self._by_symbol[symbol]:
            other.last_price = price
        return pos

    def ensure(self, symbol: str, product: Product, exchange: str = "") -> Position:
        """The position in (symbol, product), created flat if there is none (reconciliation adopts into it)."""
        pos = self.positions.get((symbol, product))
        if pos is None:
            pos = Position(symbol, product, exchange)
            self.positions[(symbol, product)] = pos
            self._by_symbol.setdefault(symbol, []).append(pos)
        return pos

    def charge(self, amount: float) -> None:
        """A charge not tied to a fill (e.g. Zerodha's auto square-off fee)."""
        self.cash -= amount
        self.total_charges += amount

    def mark(self, symbol: str, price: float) -> None:
        """Mark every position in ``symbol`` at ``price`` (unknown symbols are ignored)."""
        for pos in self._by_symbol.get(symbol, ()):
            pos.mark(price)

    @property
    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    @property
    def unrealized_pnl(self) -> float:
        return sum(p.unrealized_pnl for p in self.positions.values())

    @property
    def market_value(self) -> float:
        return sum(p.market_value for p in self.positions.values())

    @property
    def equity(self) -> float:
        """Cash plus the marked value of open positions."""
        return self.cash + self.market_value

    @property
    def net_pnl(self) -> float:
        """Realized + unrealized - charges (== equity - starting capital)."""
        return self.realized_pnl + self.unrealized_pnl - self.total_charges

"""The ``PositionSnapshot`` message of a book (the execution service and the backtester publish it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from shared.brokers.positions import Portfolio
from shared.contracts import PositionLine, PositionSnapshot

if TYPE_CHECKING:
    from shared.risk.greeks import OptionBook


def position_snapshot(
    ts_ns: int, ts_init: int, mode: str, portfolio: Portfolio, option_book: OptionBook | None = None
) -> PositionSnapshot:
    """The book at event time ``ts_ns``: every (symbol, product) traded, cash as in the checkpoint.

    ``cash`` is the seed's (capital + realized - charges: margin products, positions at
    cost); ``day_pnl`` is realized + unrealized - charges. With ``option_book``, each open
    option line carries its IV and Greeks (x quantity) from its last premium.
    """
    realized = portfolio.realized_pnl
    charges = portfolio.total_charges
    lines = []
    for p in sorted(portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value)):
        line = PositionLine(
            symbol=p.symbol,
            exchange=p.exchange,
            product=p.product,
            quantity=p.quantity,
            avg_price=p.avg_price,
            last_price=p.last_price,
            realized_pnl=p.realized_pnl,
            unrealized_pnl=p.unrealized_pnl,
        )
        if option_book is not None and p.quantity and p.last_price > 0:
            inst = option_book.instrument(p.exchange, p.symbol)
            g = option_book.line(inst, p.quantity, ts_ns, p.last_price) if inst and inst.is_option else None
            if g is not None:
                line = msgspec.structs.replace(line, iv=g.iv, delta=g.delta, gamma=g.gamma, theta=g.theta, vega=g.vega)
        lines.append(line)
    return PositionSnapshot(
        ts_event=ts_ns,
        ts_init=ts_init,
        mode=mode,
        positions=tuple(lines),
        capital=portfolio.starting_capital,
        cash=portfolio.starting_capital + realized - charges,
        realized_pnl=realized,
        unrealized_pnl=portfolio.unrealized_pnl,
        charges=charges,
        day_pnl=portfolio.net_pnl,
    )

"""The ``PositionSnapshot`` message of a book (the execution service and the backtester publish it)."""

from __future__ import annotations

from shared.brokers.positions import Portfolio
from shared.contracts import PositionLine, PositionSnapshot


def position_snapshot(ts_ns: int, ts_init: int, mode: str, portfolio: Portfolio) -> PositionSnapshot:
    """The book at event time ``ts_ns``: every (symbol, product) traded, cash as in the checkpoint.

    ``cash`` is the seed's (capital + realized - charges: margin products, positions at
    cost); ``day_pnl`` is realized + unrealized - charges.
    """
    realized = portfolio.realized_pnl
    charges = portfolio.total_charges
    lines = tuple(
        PositionLine(
            symbol=p.symbol,
            exchange=p.exchange,
            product=p.product,
            quantity=p.quantity,
            avg_price=p.avg_price,
            last_price=p.last_price,
            realized_pnl=p.realized_pnl,
            unrealized_pnl=p.unrealized_pnl,
        )
        for p in sorted(portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value))
    )
    return PositionSnapshot(
        ts_event=ts_ns,
        ts_init=ts_init,
        mode=mode,
        positions=lines,
        capital=portfolio.starting_capital,
        cash=portfolio.starting_capital + realized - charges,
        realized_pnl=realized,
        unrealized_pnl=portfolio.unrealized_pnl,
        charges=charges,
        day_pnl=portfolio.net_pnl,
    )

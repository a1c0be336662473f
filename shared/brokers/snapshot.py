"""The ``PositionSnapshot`` message of a book (the execution service and the backtester publish it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from shared.brokers.positions import Portfolio, Position
from shared.contracts import PositionLine, PositionSnapshot
from shared.enums import Product

if TYPE_CHECKING:
    from shared.risk.greeks import OptionBook


StrategyPositions = Mapping[tuple[str, str, Product], int]


def strategy_split(pos: Position, strategy_positions: StrategyPositions) -> dict[str, int]:
    """Signed units of each strategy in ``pos``'s (symbol, product), summing to ``pos.quantity``.

    Units the strategies' fills do not account for (adopted from the broker, an unattributed
    square-off) go under ``""`` so that the split always adds up to the broker's net position.
    """
    split = {
        strategy: qty
        for (strategy, symbol, product), qty in sorted(strategy_positions.items())
        if qty and symbol == pos.symbol and product == pos.product
    }
    rest = pos.quantity - sum(split.values())
    if rest:
        split[""] = split.get("", 0) + rest
        if not split[""]:
            del split[""]
    return split


def position_snapshot(
    ts_ns: int,
    ts_init: int,
    mode: str,
    portfolio: Portfolio,
    option_book: OptionBook | None = None,
    strategy_positions: StrategyPositions | None = None,
) -> PositionSnapshot:
    """The book at event time ``ts_ns``: every (symbol, product) traded, cash as in the checkpoint.

    ``cash`` is the seed's (capital + realized - charges: margin products, positions at
    cost); ``day_pnl`` is realized + unrealized - charges. With ``option_book``, each open
    option line carries its IV and Greeks (x quantity) from its last premium.
    ``strategy_positions`` (the broker's signed units per (strategy, symbol, product)) gives
    each line its ``by_strategy`` split; without it the net is unattributed (``""``).
    """
    realized = portfolio.realized_pnl
    charges = portfolio.total_charges
    owned: StrategyPositions = strategy_positions or {}
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
            by_strategy=strategy_split(p, owned),
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

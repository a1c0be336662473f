"""Squaring off a (symbol, product) that several strategies hold: net at the broker, crosses inside.

The broker (Kite, and the paper broker that imitates it) holds one net position per
(symbol, product); the platform also keeps each strategy's own units
(``strategy_positions``), which may point in opposite directions. A square-off must leave
the account flat *and* every strategy flat with its round trip closed in pnl.csv, without
trading more at the exchange than the net:

1. ``square_off_plan`` pairs the strategies on the side opposite to the net with those on
   the net's side. Each pair is settled by an **internal cross**: both strategies trade the
   paired units with each other at the mark, with no charges. It never reaches the
   exchange and does not move the broker's book (``BrokerEvent.internal``; the journal marks
   the row ``extra.internal`` and the rebuild leaves it out of the portfolio).
2. What is left on the net's side (it adds up to the net) is closed by real MARKET orders,
   one per strategy, as before, so each strategy pays the charges of its own exit.

A net-flat (symbol, product) then places no order at all; a cross moves no money, so the
strategies' PnL still adds up to the account's (each trade is marked at the same price on
both sides). Which strategies on the net's side are crossed first is by name (any choice
gives the same totals; a fixed one makes runs repeatable).
"""

from __future__ import annotations

from typing import Final

from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.orders import Order, OrderFill
from shared.contracts import Fill
from shared.enums import OrderType, Product, Side

CROSS_TAG: Final = "cross"
CROSS_SUFFIX: Final = "-X"


def square_off_plan(parts: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split signed strategy parts of one (symbol, product) into (crosses, closes).

    Both lists hold (strategy, signed units of its position that go): ``crosses`` settle
    between strategies (they sum to 0), ``closes`` go to the broker (they sum to the net,
    each on the net's side). Strategies are taken in name order; zero parts are dropped.
    """
    live = sorted((s, q) for s, q in parts if q)
    net = sum(q for _, q in live)
    if net == 0:
        return live, []  # long and short cancel exactly: everything crosses, nothing is sent
    sign = 1 if net > 0 else -1
    crosses = [(s, q) for s, q in live if q * sign < 0]  # the side against the net crosses in full
    left = -sum(q for _, q in crosses)  # units of the net's side they offset (the net's sign)
    closes: list[tuple[str, int]] = []
    for strategy, qty in live:
        if qty * sign < 0:
            continue
        take = min(abs(qty), abs(left)) * sign
        if take:
            crosses.append((strategy, take))
            left -= take
        if qty != take:
            closes.append((strategy, qty - take))
    return sorted(crosses), closes


def cross_order(
    order_id: str,
    *,
    strategy: str,
    symbol: str,
    exchange: str,
    instrument_token: int,
    product: Product,
    units: int,
    price: float,
    ts_ns: int,
    reason: str,
) -> tuple[Order, BrokerEvent]:
    """The FILLED internal order that closes ``units`` (signed, of the position) of ``strategy`` at ``price``.

    One event carries the order and its one fill (no charges: nothing reached the
    exchange); ``BrokerEvent.internal`` tells the journal and the book to leave it out of the
    broker's positions.
    """
    side = Side.SELL if units > 0 else Side.BUY
    order = Order(
        order_id=order_id,
        intent_id=order_id,
        symbol=symbol,
        exchange=exchange,
        instrument_token=instrument_token,
        side=side,
        quantity=abs(units),
        order_type=OrderType.MARKET,
        product=product,
        tag=CROSS_TAG,
        strategy=strategy,
        ts_created=ts_ns,
    )
    order.accept(ts_ns)
    fill = OrderFill(f"{order_id}-1", abs(units), price, ts_ns)
    order.apply_fill(fill)
    order.status_message = f"{reason}: internal cross between strategies at the mark {price:g} (not sent)"
    event = BrokerEvent(
        order_event(order, ts_ns),
        Fill(
            ts_event=ts_ns,
            fill_id=fill.fill_id,
            order_id=order_id,
            intent_id=order_id,
            symbol=symbol,
            exchange=exchange,
            side=side,
            quantity=abs(units),
            price=price,
            charges=0.0,
            strategy=strategy,
        ),
        internal=True,
    )
    return order, event

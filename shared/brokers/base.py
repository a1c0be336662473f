"""The broker interface the execution service drives: paper (``paper.py``) or Kite (``kite.py``).

A broker takes approved intents as orders, changes and cancels them, and turns market data
into order updates: every change of an order's state comes back as a ``BrokerEvent`` (the
bus ``OrderEvent``, and the ``Fill`` it reports, if any) for the caller to publish and
journal. Times are event times (UTC epoch ns) passed in by the caller; a broker never
reads the wall clock for its decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shared.brokers.orders import Order
from shared.brokers.positions import Position
from shared.contracts import Fill, OrderEvent, OrderIntent, Tick


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    """One change of an order: its state after the change, the fill it reports, a fee it cost.

    ``fee`` is a charge not tied to a fill (Zerodha's ₹50 + GST auto square-off fee), at most
    one per order, carried by the event that placed the order. ``internal``: an order between
    two of our strategies that never reached the exchange (a square-off's cross,
    ``shared.brokers.netting``): it moves the strategies' positions, not the broker's.
    """

    order: OrderEvent
    fill: Fill | None = None
    fee: float = 0.0
    internal: bool = False


def order_event(order: Order, ts_ns: int) -> OrderEvent:
    """The bus ``OrderEvent`` of ``order`` as it is now (``ts_init`` left 0: the caller stamps it)."""
    return OrderEvent(
        ts_event=ts_ns,
        order_id=order.order_id,
        intent_id=order.intent_id,
        symbol=order.symbol,
        exchange=order.exchange,
        side=order.side,
        order_type=order.order_type,
        product=order.product,
        quantity=order.quantity,
        filled_quantity=order.filled_quantity,
        price=order.price,
        average_price=order.average_price,
        status=order.status,
        strategy=order.strategy,
        status_message=order.status_message,
    )


@runtime_checkable
class Broker(Protocol):
    """What execution needs from a broker (``PaperBroker``, ``KiteBroker``)."""

    def place(self, intent: OrderIntent, ts_ns: int) -> Order:
        """Place an approved intent; a refused one comes back REJECTED with the reason."""
        ...

    def modify(
        self,
        order_id: str,
        ts_ns: int,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        """Change a working order's quantity or prices."""
        ...

    def cancel(self, order_id: str, ts_ns: int, reason: str = "") -> Order:
        """Cancel a working order (``OrderError`` for an unknown or finished one)."""
        ...

    def on_market_data(self, tick: Tick) -> list[BrokerEvent]:
        """Feed one tick; returns the order changes it caused (triggers, fills, square-offs)."""
        ...

    def open_orders(self) -> list[Order]:
        """Orders that can still trade, in the order they were placed."""
        ...

    def positions(self) -> list[Position]:
        """Every (symbol, product) traded in this book, flat ones included."""
        ...

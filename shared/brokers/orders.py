"""An order and its state machine, the transitions written down as data.

An order is created ``PENDING`` (placed, not yet acknowledged). The events are those of
NautilusTrader's order FSM, mapped onto Kite's statuses (``shared.enums.OrderStatus``):

    PENDING --accept--> OPEN             (MARKET, LIMIT)
    PENDING --accept--> TRIGGER_PENDING  (SL, SL-M)
    TRIGGER_PENDING --trigger--> OPEN
    OPEN / PARTIALLY_FILLED --fill_partial--> PARTIALLY_FILLED, --fill--> FILLED
    any live status --cancel / expire--> CANCELLED (Kite has no EXPIRED: a DAY order
    left at the close is CANCELLED)

Fills are also accepted straight from PENDING and TRIGGER_PENDING, because a live
order's updates can skip the statuses in between. ``TRANSITIONS`` is the whole table;
anything not in it raises ``IllegalTransition``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from shared.enums import OrderStatus, OrderType, Product, Side
from shared.errors import KiteAlgoError


class OrderError(KiteAlgoError):
    """An order was asked to do something its state or its fields do not allow."""


class IllegalTransition(OrderError):
    """An event that the transition table does not allow from the order's status."""


class OrderEventKind(StrEnum):
    """What can happen to an order."""

    SUBMIT = "submit"
    ACCEPT = "accept"
    TRIGGER = "trigger"
    FILL_PARTIAL = "fill_partial"
    FILL = "fill"
    CANCEL = "cancel"
    REJECT = "reject"
    EXPIRE = "expire"


_S = OrderStatus
_E = OrderEventKind

TRANSITIONS: Final = MappingProxyType(
    {
        (_S.PENDING, _E.SUBMIT): _S.PENDING,  # sent to the venue; status unchanged until acknowledged
        (_S.PENDING, _E.ACCEPT): _S.OPEN,  # stop orders: TRIGGER_PENDING (see ACCEPTED_STATUS)
        (_S.PENDING, _E.REJECT): _S.REJECTED,
        (_S.PENDING, _E.CANCEL): _S.CANCELLED,
        (_S.PENDING, _E.EXPIRE): _S.CANCELLED,
        (_S.PENDING, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.PENDING, _E.FILL): _S.FILLED,
        (_S.TRIGGER_PENDING, _E.TRIGGER): _S.OPEN,
        (_S.TRIGGER_PENDING, _E.REJECT): _S.REJECTED,
        (_S.TRIGGER_PENDING, _E.CANCEL): _S.CANCELLED,
        (_S.TRIGGER_PENDING, _E.EXPIRE): _S.CANCELLED,
        (_S.TRIGGER_PENDING, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.TRIGGER_PENDING, _E.FILL): _S.FILLED,
        (_S.OPEN, _E.REJECT): _S.REJECTED,  # an RMS rejection can follow the OMS acknowledgement
        (_S.OPEN, _E.CANCEL): _S.CANCELLED,
        (_S.OPEN, _E.EXPIRE): _S.CANCELLED,
        (_S.OPEN, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.OPEN, _E.FILL): _S.FILLED,
        (_S.PARTIALLY_FILLED, _E.CANCEL): _S.CANCELLED,
        (_S.PARTIALLY_FILLED, _E.EXPIRE): _S.CANCELLED,
        (_S.PARTIALLY_FILLED, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.PARTIALLY_FILLED, _E.FILL): _S.FILLED,
    }
)

#: Where ``accept`` leads, by order type: stop orders wait for their trigger.
ACCEPTED_STATUS: Final = MappingProxyType(
    {
        OrderType.MARKET: _S.OPEN,
        OrderType.LIMIT: _S.OPEN,
        OrderType.SL: _S.TRIGGER_PENDING,
        OrderType.SLM: _S.TRIGGER_PENDING,
    }
)

TERMINAL: Final = frozenset({_S.FILLED, _S.CANCELLED, _S.REJECTED})
#: Statuses in which an order can trade (or trigger) against the market.
WORKING: Final = frozenset({_S.OPEN, _S.TRIGGER_PENDING, _S.PARTIALLY_FILLED})
STOP_TYPES: Final = frozenset({OrderType.SL, OrderType.SLM})


def next_status(status: OrderStatus, event: OrderEventKind, order_type: OrderType = OrderType.MARKET) -> OrderStatus:
    """The status after ``event``, or ``IllegalTransition`` if the table does not allow it."""
    target = TRANSITIONS.get((status, event))
    if target is None:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s == status)
        raise IllegalTransition(
            f"order event {event.value!r} is illegal in status {status.value!r}; allowed: {allowed or 'none'}"
        )
    if event is _E.ACCEPT:
        return ACCEPTED_STATUS[order_type]
    return target


@dataclass(frozen=True, slots=True)
class OrderFill:
    """One execution against an order. ``fill_id`` is unique per order (Kite's trade_id)."""

    fill_id: str
    quantity: int
    price: float
    ts_ns: int


@dataclass(slots=True)
class Order:
    """A broker order, mutated only through its event methods. Times are event-time ns."""

    order_id: str
    intent_id: str
    symbol: str
    exchange: str
    instrument_token: int
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    price: float = 0.0  # limit price of LIMIT and SL
    trigger_price: float = 0.0  # of SL and SL-M
    tag: str = ""
    strategy: str = ""
    ts_created: int = 0
    ts_updated: int = 0
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: int = 0
    average_price: float = 0.0
    status_message: str = ""
    fills: list[OrderFill] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = f"order {self.order_id}"
        if self.quantity <= 0:
            raise OrderError(f"{where}: quantity {self.quantity}; expected > 0")
        if self.order_type in (OrderType.LIMIT, OrderType.SL) and self.price <= 0:
            raise OrderError(f"{where}: {self.order_type.value} needs price > 0, got {self.price}")
        if self.order_type in STOP_TYPES and self.trigger_price <= 0:
            raise OrderError(f"{where}: {self.order_type.value} needs trigger_price > 0, got {self.trigger_price}")
        if self.ts_updated < self.ts_created:
            self.ts_updated = self.ts_created

    # -- views ---------------------------------------------------------------------------

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_working(self) -> bool:
        return self.status in WORKING

    @property
    def is_stop(self) -> bool:
        return self.order_type in STOP_TYPES

    @property
    def filled_turnover(self) -> float:
        """Sum of price x quantity over the fills (what charges are computed on)."""
        return sum(f.price * f.quantity for f in self.fills)

    # -- events --------------------------------------------------------------------------

    def _apply(self, event: OrderEventKind, ts_ns: int) -> None:
        self.status = next_status(self.status, event, self.order_type)
        self.ts_updated = ts_ns

    def submit(self, ts_ns: int) -> None:
        self._apply(_E.SUBMIT, ts_ns)

    def accept(self, ts_ns: int) -> None:
        self._apply(_E.ACCEPT, ts_ns)

    def trigger(self, ts_ns: int) -> None:
        self._apply(_E.TRIGGER, ts_ns)

    def cancel(self, ts_ns: int, reason: str = "") -> None:
        self._apply(_E.CANCEL, ts_ns)
        self.status_message = reason

    def reject(self, ts_ns: int, reason: str) -> None:
        self._apply(_E.REJECT, ts_ns)
        self.status_message = reason

    def expire(self, ts_ns: int, reason: str = "expired at the close") -> None:
        self._apply(_E.EXPIRE, ts_ns)
        self.status_message = reason

    def apply_fill(self, fill: OrderFill) -> bool:
        """Record a fill; False (and no change) if this ``fill_id`` was already applied.

        Raises ``OrderError`` for a fill beyond the order's quantity, a non-positive
        quantity or price, or a known ``fill_id`` carrying different values.
        """
        where = f"order {self.order_id}, fill {fill.fill_id}"
        for seen in self.fills:
            if seen.fill_id == fill.fill_id:
                if seen != fill:
                    raise OrderError(f"{where}: fill id reused with different values ({seen} vs {fill})")
                return False
        if fill.quantity <= 0 or fill.price <= 0:
            raise OrderError(f"{where}: quantity {fill.quantity} and price {fill.price}; expected both > 0")
        if fill.quantity > self.remaining_quantity:
            raise OrderError(
                f"{where}: {fill.quantity} exceeds the remaining {self.remaining_quantity} of {self.quantity}"
            )
        filled = self.filled_quantity + fill.quantity
        event = _E.FILL if filled == self.quantity else _E.FILL_PARTIAL
        self._apply(event, fill.ts_ns)
        self.average_price = (self.average_price * self.filled_quantity + fill.price * fill.quantity) / filled
        self.filled_quantity = filled
        self.fills.append(fill)
        return True

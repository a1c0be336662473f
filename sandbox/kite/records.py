"""Kite-shaped records: an order as ``orders()``/``order_history()`` and postbacks show it, trades.

Times are market (event) time, written as Kite does: ``YYYY-MM-DD HH:MM:SS`` IST wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.brokers.orders import Order
from shared.clock import IST, NS
from shared.enums import OrderStatus

#: Our order statuses as Kite spells them (a partly filled order is still OPEN on Kite).
KITE_STATUS = {
    OrderStatus.PENDING: "OPEN PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.TRIGGER_PENDING: "TRIGGER PENDING",
    OrderStatus.FILLED: "COMPLETE",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.REJECTED: "REJECTED",
}
TERMINAL = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


def kite_time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS, tz=UTC).astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(slots=True)
class KiteOrder:
    """One order in the sandbox's book; ``paper`` is the matching engine's order (None if refused)."""

    order_id: str
    exchange_order_id: str | None
    variety: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: str
    order_type: str  # as placed: MARKET stays MARKET even when matched as a protected limit
    product: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    market_protection: float
    tag: str
    guid: str
    placed_by: str
    ts_placed: int
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    status_message_raw: str | None = None
    filled_quantity: int = 0
    average_price: float = 0.0
    cancelled_quantity: int = 0
    modifications: int = 0
    ts_updated: int = 0
    paper: Order | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def sync(self, ts_ns: int) -> None:
        """Copy the matching engine's state; a cancel records the unfilled rest."""
        p = self.paper
        if p is None:
            return
        self.status = KITE_STATUS[p.status]
        self.filled_quantity = p.filled_quantity
        self.average_price = round(p.average_price, 2)
        self.quantity = p.quantity
        if p.status == OrderStatus.CANCELLED:
            self.cancelled_quantity = p.quantity - p.filled_quantity
            self.status_message = p.status_message or None
        elif p.status == OrderStatus.REJECTED:
            self.status_message = self.status_message_raw = p.status_message
        self.ts_updated = ts_ns

    def record(self, status: str | None = None) -> None:
        """Append the current state (or ``status``) to the order's history."""
        snap = self.as_dict()
        if status is not None:
            snap["status"] = status
        self.history.append(snap)

    def as_dict(self) -> dict[str, Any]:
        ts = self.ts_updated or self.ts_placed
        return {
            "placed_by": self.placed_by,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": None,
            "status": self.status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message_raw,
            "order_timestamp": kite_time(ts),
            "exchange_update_timestamp": kite_time(ts) if self.exchange_order_id else None,
            "exchange_timestamp": kite_time(self.ts_placed) if self.exchange_order_id else None,
            "variety": self.variety,
            "modified": self.modifications > 0,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": 0,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": 0,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "average_price": self.average_price,
            "filled_quantity": self.filled_quantity,
            "pending_quantity": 0 if self.is_terminal else self.quantity - self.filled_quantity,
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": self.market_protection,
            "meta": {},
            "tag": self.tag or None,
            "tags": [self.tag] if self.tag else [],
            "guid": self.guid,
        }

    def postback(self, user_id: str, app_id: str) -> dict[str, Any]:
        """The WebSocket order update: the postback shape with a blank checksum (as Kite sends it)."""
        d = self.as_dict()
        d.update(user_id=user_id, app_id=app_id, unfilled_quantity=d["pending_quantity"], checksum="")
        return d

    def trade(self, trade_id: str, quantity: int, price: float, ts_ns: int) -> dict[str, Any]:
        t = {
            "trade_id": trade_id,
            "order_id": self.order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product,
            "average_price": price,
            "quantity": quantity,
            "exchange_order_id": self.exchange_order_id,
            "transaction_type": self.transaction_type,
            "fill_timestamp": kite_time(ts_ns),
            "order_timestamp": kite_time(ts_ns)[11:],
            "exchange_timestamp": kite_time(ts_ns),
        }
        self.trades.append(t)
        return t

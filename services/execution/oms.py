"""Order management: intent id -> order (once, ever), each order's journal context, recovery.

The journal (orders.csv) is the record of truth. At start ``recover`` reads it once:

- every intent id and order id in the file (all days) is "seen": a redelivered intent,
  or a control command already acted on, places nothing again;
- the book of the journal's last IST day is rebuilt with ``rebuild_from_rows`` (the same
  replay as ``rebuild_from_journal(..., day=...)``), so positions, PnL and charges equal
  what the live book had;
- that day's open orders come back as ``Order`` objects with their fills (fill ids, so the
  next fill gets the next id, and the filled turnover that charges are computed on), for
  the paper broker to keep working, as an exchange would have kept them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from shared.brokers.orders import Order, OrderError, OrderFill
from shared.clock import ist_day
from shared.contracts import OrderEvent, OrderIntent
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.state.formats import ORDER_EXTRA_KEYS, OrderRow
from shared.state.journal import read_orders
from shared.state.recovery import OrderState, RebuiltState, rebuild_from_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderMeta:
    """What orders.csv carries about an order beyond the ``OrderEvent``: the seed's columns and extras."""

    tf: str = ""
    profile: str = ""
    parent_signal_ts: int | str | None = None
    underlying: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_intent(cls, intent: OrderIntent, *, mode: str) -> OrderMeta:
        """The journal context of an order placed for ``intent``."""
        extra: dict[str, Any] = {"instrument_token": intent.instrument_token, "mode": mode}
        if intent.trigger_price:
            extra["trigger_price"] = intent.trigger_price
        for key in ("tag", "signal_id", "engine"):
            if getattr(intent, key):
                extra[key] = getattr(intent, key)
        if intent.reduce_only:
            extra["reduce_only"] = True
        if intent.option_type:  # an option: the contract, for the journal reader
            extra.update(strike=intent.strike, expiry=intent.expiry, option_type=intent.option_type)
        return cls(
            tf=intent.timeframe,
            profile=intent.profile,
            parent_signal_ts=intent.signal_ts or None,
            underlying=intent.underlying,
            extra=extra,
        )

    @classmethod
    def of_row(cls, row: OrderRow) -> OrderMeta:
        """The context journaled with an order (its first row), for orders recovered from the journal."""
        extra = {k: v for k, v in row.extra.items() if k not in ORDER_EXTRA_KEYS}
        return cls(
            tf=row.tf,
            profile=row.profile,
            parent_signal_ts=row.parent_signal_timestamp or None,
            underlying=row.underlying,
            extra=extra,
        )


@dataclass(slots=True)
class Oms:
    """Seen intent ids and order ids (never placed twice), and each order's journal context."""

    intents: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    meta: dict[str, OrderMeta] = field(default_factory=dict)

    def seen(self, intent_id: str) -> bool:
        return intent_id in self.intents

    def record(self, evt: OrderEvent, meta: OrderMeta | None = None) -> None:
        """Remember an order (its ids, and its context the first time it is given)."""
        self.intents.add(evt.intent_id)
        self.order_ids.add(evt.order_id)
        if meta is not None and evt.order_id not in self.meta:
            self.meta[evt.order_id] = meta

    def forget_finished(self, live_order_ids: Iterable[str]) -> None:
        """Drop the context of orders no longer working (their ids stay seen)."""
        keep = set(live_order_ids)
        self.meta = {k: v for k, v in self.meta.items() if k in keep}


@dataclass(slots=True)
class Recovered:
    """What the journal says at start: the registry, the last day's book and its open orders."""

    oms: Oms
    day: date | None
    state: RebuiltState
    open_orders: list[Order]
    unrestorable: list[OrderState]
    strategy_positions: dict[tuple[str, str, Product], int]
    last_ts_ns: int
    rows: int


def recover(orders_csv: Path, capital: float) -> Recovered:
    """Read orders.csv once: seen ids (all days), and the book and open orders of its last day."""
    rows = read_orders(orders_csv)
    oms = Oms()
    for row in rows:
        if row.intent_id:
            oms.intents.add(row.intent_id)
        if row.order_id:
            oms.order_ids.add(row.order_id)
    last_ts = max((r.ts_ns for r in rows if r.order_id), default=0)
    day = ist_day(last_ts) if last_ts else None
    day_rows = [r for r in rows if r.order_id and ist_day(r.ts_ns) == day]
    state = rebuild_from_rows(day_rows, capital, str(orders_csv))
    by_order: dict[str, list[OrderRow]] = {}
    for row in day_rows:
        by_order.setdefault(row.order_id, []).append(row)
    open_orders: list[Order] = []
    unrestorable: list[OrderState] = []
    for st in state.open_orders:
        own = by_order[st.order_id]
        oms.meta[st.order_id] = OrderMeta.of_row(own[0])
        order = order_from_rows(st, own)
        if order is None:
            unrestorable.append(st)
        else:
            open_orders.append(order)
    return Recovered(
        oms=oms,
        day=day,
        state=state,
        open_orders=open_orders,
        unrestorable=unrestorable,
        strategy_positions=strategy_positions(day_rows),
        last_ts_ns=last_ts,
        rows=len(rows),
    )


def _num(extra: Mapping[str, Any], key: str) -> float:
    value = extra.get(key, 0)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else 0.0


def order_from_rows(st: OrderState, rows: list[OrderRow]) -> Order | None:
    """A working ``Order`` rebuilt from its journal rows (None if the rows cannot make one).

    Its status is reached through the order's own events (accept, trigger, fills), and its
    fills keep their journaled ids.
    """
    first = rows[0]
    token = int(_num(first.extra, "instrument_token"))
    trigger = max((_num(r.extra, "trigger_price") for r in rows), default=0.0)
    try:
        order = Order(
            order_id=st.order_id,
            intent_id=st.intent_id,
            symbol=st.symbol,
            exchange=st.exchange,
            instrument_token=token,
            side=st.side,
            quantity=st.quantity,
            order_type=st.order_type or OrderType.MARKET,
            product=st.product or Product.MIS,
            price=st.price,
            trigger_price=trigger,
            tag=str(first.extra.get("tag", "")),
            strategy=st.strategy,
            ts_created=first.ts_ns,
        )
        order.accept(first.ts_ns)
        fills: dict[str, OrderFill] = {}
        for row in rows:
            if row.fill is not None and row.fill.fill_id not in fills:
                fills[row.fill.fill_id] = OrderFill(row.fill.fill_id, row.fill.quantity, row.fill.price, row.fill.ts_ns)
        if order.status == OrderStatus.TRIGGER_PENDING and st.status == OrderStatus.OPEN and not fills:
            order.trigger(st.ts_ns)
        for fill in fills.values():
            order.apply_fill(fill)
    except OrderError as exc:
        log.error("orders.csv line %d: cannot restore open order %s: %s", rows[-1].line, st.order_id, exc)
        return None
    return order if order.is_working else None


def strategy_positions(rows: Iterable[OrderRow]) -> dict[tuple[str, str, Product], int]:
    """Signed units per (strategy, symbol, product) from the journaled fills (each fill once)."""
    seen: set[tuple[str, str]] = set()
    out: dict[tuple[str, str, Product], int] = {}
    for row in rows:
        if row.fill is None or row.product is None or (row.order_id, row.fill.fill_id) in seen:
            continue
        seen.add((row.order_id, row.fill.fill_id))
        key = (row.strategy, row.symbol, row.product)
        signed = row.fill.quantity if row.side == Side.BUY else -row.fill.quantity
        out[key] = out.get(key, 0) + signed
    return out

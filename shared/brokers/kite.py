"""The Kite broker: intents become Kite orders, Kite's order book becomes our order events.

Safety rules (docs/kite.md):

- Every order carries a tag of at most 20 alphanumerics derived from its intent id (and
  slice number), and ``market_protection`` on MARKET and SL-M (Kite refuses them without).
- The order is handed to ``journal`` (the caller writes it to orders.csv) *before* it is
  sent, so a crash between sending and hearing back leaves a row naming the tag.
- An ambiguous outcome (timeout, connection error, 5xx, NetworkException other than 429)
  is never a rejection: the broker looks the tag up in Kite's order book and adopts what
  it finds; only when the book shows no such tag does it send again. If even the look-up
  fails the order stays PENDING and is looked up again on the next ``pump``: nothing is
  ever placed twice.
- A 429 (rate limit) means "not taken": the order waits and is sent again (delayed, not
  lost). ``OrderPacer`` keeps the broker under Kite's 10/s and 400/min in the first place.
- Orders above the freeze quantity are split into slices (each its own order and tag).
- Order updates come from the ticker socket (``on_order_update``, any thread) and, as the
  fallback, from polling the order book every ``poll_seconds``. Fills come from Kite's
  trades (``trade_id`` is the fill id), so the two paths never double-count.

Times: ``ts_ns`` arguments are event times from the caller, as for the paper broker.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.charges import ZERODHA_RATES, fill_charges, segment_for
from shared.brokers.netting import cross_order, square_off_plan
from shared.brokers.orders import Order, OrderError, OrderFill
from shared.brokers.positions import Portfolio, Position
from shared.clock import ist_day, ist_to_ns
from shared.contracts import Fill, OrderIntent, Tick
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.errors import InstrumentError, KiteAlgoError
from shared.instruments import InstrumentsMaster

log = logging.getLogger(__name__)

ORDER_ID_PREFIX: Final = "K-"
TAG_LENGTH: Final = 20
#: NSE quantity freeze limits (units per order) from 1 Feb 2026; config may override.
FREEZE_QUANTITY: Final = {"NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800, "MIDCPNIFTY": 2800, "NIFTYNXT50": 600}
MAX_SLICES: Final = 10  # SEBI's cap on slicing


class KiteSessionExpired(KiteAlgoError):
    """Kite answered 403 TokenException: a new login is needed before trading can go on."""


def kite_tag(intent_id: str, slice_no: int = 1) -> str:
    """A deterministic Kite tag (20 letters/digits) for an intent's slice: the same intent, the same tag."""
    digest = hashlib.blake2b(f"{intent_id}#{slice_no}".encode(), digest_size=12).digest()
    return ("KA" + base64.b32encode(digest).decode().rstrip("="))[:TAG_LENGTH]


def _split_order_id(order_id: str) -> tuple[str, int]:
    """``K-<intent_id>[/<slice>]`` -> (intent id, slice number)."""
    body = order_id.removeprefix(ORDER_ID_PREFIX)
    head, sep, tail = body.rpartition("/")
    return (head, int(tail)) if sep and tail.isdigit() else (body, 1)


def slice_quantities(quantity: int, lot_size: int, freeze: int | None) -> list[int]:
    """``quantity`` cut into slices of at most the freeze limit (whole lots); one slice when no limit."""
    if not freeze or quantity <= freeze:
        return [quantity]
    per = max(lot_size, freeze // lot_size * lot_size)
    slices = [per] * (quantity // per)
    if quantity % per:
        slices.append(quantity % per)
    if len(slices) > MAX_SLICES:
        raise OrderError(f"quantity {quantity} needs {len(slices)} slices of {per}; at most {MAX_SLICES} are allowed")
    return slices


class OrderPacer:
    """Waits so that order requests stay under ``per_second`` and ``per_minute`` (sliding windows)."""

    def __init__(self, per_second: int = 8, per_minute: int = 350, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.limits = ((1.0, per_second), (60.0, per_minute))
        self.clock, self.sleep = clock, sleep
        self.sent: deque[float] = deque()
        self.waited = 0.0

    def wait(self) -> None:
        while True:
            now = self.clock()
            while self.sent and now - self.sent[0] >= 60.0:
                self.sent.popleft()
            delay = 0.0
            for window, limit in self.limits:
                recent = [t for t in self.sent if now - t < window]
                if len(recent) >= limit:
                    delay = max(delay, recent[-limit] + window - now)
            if delay <= 0:
                self.sent.append(now)
                return
            self.waited += delay
            self.sleep(delay)


@dataclass(slots=True)
class _Link:
    """What ties our order to Kite's: the tag, the Kite order id once known, the trades applied."""

    tag: str
    variety: str = "regular"
    kite_id: str | None = None
    unresolved: bool = False  # sent, outcome unknown, look-up failed: look again before anything else
    filled_seen: int = 0


class KiteBroker:
    """Orders through ``kiteconnect.KiteConnect``; events back through ``pump``/``on_market_data``."""

    def __init__(
        self,
        kite: KiteConnect,
        master: InstrumentsMaster,
        *,
        capital: float,
        journal: Callable[[Order], None] = lambda _o: None,
        pacer: OrderPacer | None = None,
        market_protection: float = -1,
        freeze_quantity: Mapping[str, int] = FREEZE_QUANTITY,
        poll_seconds: float = 2.0,
        lookup_delay_seconds: float = 0.5,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kite = kite
        self.master = master
        self.journal = journal
        self.pacer = pacer or OrderPacer()
        self.market_protection = market_protection
        self.freeze_quantity = dict(freeze_quantity)
        self.poll_seconds = poll_seconds
        self.lookup_delay = lookup_delay_seconds
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.portfolio = Portfolio(capital)
        self.orders: dict[str, Order] = {}
        self.links: dict[str, _Link] = {}
        #: signed units per (strategy, symbol, product), what a square-off closes
        self.strategy_positions: dict[tuple[str, str, Product], int] = {}
        self._by_kite_id: dict[str, str] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._update_lock = threading.Lock()
        self._next_poll = 0.0
        self.session_expired = False
        self.counters = {"placed": 0, "ambiguous": 0, "adopted_after_ambiguity": 0, "resent": 0,
                         "rate_limited": 0, "socket_updates": 0, "polls": 0}  # fmt: skip

    # -- placing ----------------------------------------------------------------------------------
    def place(self, intent: OrderIntent, ts_ns: int) -> Order:
        """Place ``intent`` (sliced at the freeze quantity); returns the first slice's order."""
        return self.place_sliced(intent, ts_ns)[0]

    def place_sliced(self, intent: OrderIntent, ts_ns: int) -> list[Order]:
        first_id = ORDER_ID_PREFIX + intent.intent_id
        if first_id in self.orders:  # a redelivered intent
            return [o for oid, o in self.orders.items() if oid == first_id or oid.startswith(first_id + "/")]
        try:
            inst = self.master.by_token(intent.instrument_token)
            freeze = self.freeze_quantity.get(inst.name) if inst.exchange in ("NFO", "BFO") else None
            sizes = slice_quantities(intent.quantity, inst.lot_size, freeze)
        except (InstrumentError, OrderError) as exc:
            order = self._new_order(first_id, intent, intent.quantity or 1, ts_ns, kite_tag(intent.intent_id))
            order.reject(ts_ns, str(exc))
            self.journal(order)
            return [order]
        out = []
        for n, qty in enumerate(sizes, 1):
            oid = first_id if n == 1 else f"{first_id}/{n}"
            order = self._new_order(oid, intent, qty, ts_ns, kite_tag(intent.intent_id, n))
            self.journal(order)  # before it is sent: a crash from here on leaves the tag on record
            self._send(order, ts_ns)
            out.append(order)
        return out

    def _new_order(self, oid: str, intent: OrderIntent, qty: int, ts_ns: int, tag: str) -> Order:
        order = Order(
            order_id=oid, intent_id=intent.intent_id, symbol=intent.symbol, exchange=intent.exchange,
            instrument_token=intent.instrument_token, side=intent.side, quantity=qty, order_type=intent.order_type,
            product=intent.product, price=intent.price if intent.order_type in (OrderType.LIMIT, OrderType.SL) else 0,
            trigger_price=intent.trigger_price if intent.order_type in (OrderType.SL, OrderType.SLM) else 0,
            tag=tag, strategy=intent.strategy, ts_created=ts_ns,
        )  # fmt: skip
        self.orders[oid] = order
        self.links[oid] = _Link(tag)
        return order

    def _params(self, order: Order) -> dict[str, Any]:
        p: dict[str, Any] = {
            "variety": "regular", "exchange": order.exchange, "tradingsymbol": order.symbol,
            "transaction_type": order.side.value, "quantity": order.quantity, "product": order.product.value,
            "order_type": order.order_type.value, "validity": "DAY", "tag": self.links[order.order_id].tag,
        }  # fmt: skip
        if order.order_type in (OrderType.LIMIT, OrderType.SL):
            p["price"] = order.price
        if order.is_stop:
            p["trigger_price"] = order.trigger_price
        if order.order_type in (OrderType.MARKET, OrderType.SLM):
            p["market_protection"] = self.market_protection
        return p

    def _send(self, order: Order, ts_ns: int) -> None:
        link = self.links[order.order_id]
        for attempt in range(1, self.max_attempts + 1):
            self.pacer.wait()
            try:
                link.kite_id = str(self.kite.place_order(**self._params(order)))
            except kex.TokenException as exc:
                self.session_expired = True
                order.reject(ts_ns, f"Kite session expired ({exc}); log in again: python -m scripts.run_trader --login")
                return
            except kex.KiteException as exc:
                if isinstance(exc, kex.NetworkException) and exc.code == 429:
                    self.counters["rate_limited"] += 1  # refused by the rate limit: not placed; send again later
                    self.sleep(min(1.0, 0.2 * attempt))
                    continue
                if exc.code < 500 and not isinstance(exc, kex.NetworkException):
                    order.reject(ts_ns, f"Kite refused the order: {exc}")  # a definite answer (input, margin, ...)
                    return
                if self._resolve_ambiguous(order, exc, ts_ns):
                    return
                continue
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                if self._resolve_ambiguous(order, exc, ts_ns):
                    return
                continue
            self._linked(order, ts_ns)
            return
        order.reject(ts_ns, f"not placed after {self.max_attempts} attempts (Kite's book never showed tag {link.tag})")

    def _resolve_ambiguous(self, order: Order, exc: BaseException, ts_ns: int) -> bool:
        """After an unclear answer: True when the outcome is settled (found, or parked unresolved)."""
        link = self.links[order.order_id]
        self.counters["ambiguous"] += 1
        log.warning("order %s (tag %s): ambiguous outcome %s: %s; looking the tag up before anything else",
                    order.order_id, link.tag, type(exc).__name__, exc)  # fmt: skip
        self.sleep(self.lookup_delay)
        try:
            found = self._find_by_tag(link.tag)
        except Exception as lookup_exc:  # the look-up failed too: never send blind, look again later
            log.error("order %s: order book look-up failed (%s); the order stays PENDING until it succeeds",
                      order.order_id, lookup_exc)  # fmt: skip
            link.unresolved = True
            return True
        if found is None:
            self.counters["resent"] += 1
            log.warning("order %s: tag %s is not in Kite's book; sending again", order.order_id, link.tag)
            return False
        self.counters["adopted_after_ambiguity"] += 1
        link.kite_id = str(found["order_id"])
        self._linked(order, ts_ns)
        return True

    def _find_by_tag(self, tag: str) -> dict[str, Any] | None:
        for row in self.kite.orders():
            if row.get("tag") == tag or tag in (row.get("tags") or []):
                return row
        return None

    def _linked(self, order: Order, ts_ns: int) -> None:
        link = self.links[order.order_id]
        link.unresolved = False
        assert link.kite_id is not None
        self._by_kite_id[link.kite_id] = order.order_id
        self.counters["placed"] += 1
        if order.status == OrderStatus.PENDING:
            order.submit(ts_ns)

    # -- changing -----------------------------------------------------------------------------------
    def _kite_id(self, order_id: str) -> tuple[Order, str]:
        order = self.orders.get(order_id)
        link = self.links.get(order_id)
        if order is None or link is None or link.kite_id is None:
            raise OrderError(f"kite broker: order {order_id!r} is unknown or not yet acknowledged by Kite")
        if order.is_terminal:
            raise OrderError(f"kite broker: order {order_id} is {order.status.value}; only working orders change")
        return order, link.kite_id

    def modify(self, order_id: str, ts_ns: int, *, quantity: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> Order:  # fmt: skip
        order, kite_id = self._kite_id(order_id)
        self.pacer.wait()
        try:
            self.kite.modify_order("regular", kite_id, quantity=quantity, price=price, trigger_price=trigger_price)
        except kex.KiteException as exc:
            raise OrderError(f"Kite refused to modify {order_id}: {exc}") from None
        if quantity is not None:
            order.quantity = quantity
        if price is not None:
            order.price = price
        if trigger_price is not None:
            order.trigger_price = trigger_price
        order.status_message = "modified"
        order.ts_updated = ts_ns
        return order

    def cancel(self, order_id: str, ts_ns: int, reason: str = "") -> Order:
        order, kite_id = self._kite_id(order_id)
        self.pacer.wait()
        try:
            self.kite.cancel_order("regular", kite_id)
        except kex.KiteException as exc:
            raise OrderError(f"Kite refused to cancel {order_id}: {exc}") from None
        self._apply_row(self.kite.order_history(kite_id)[-1], ts_ns)
        return order

    # -- updates ----------------------------------------------------------------------------------
    def on_order_update(self, data: dict[str, Any]) -> None:
        """An order update from the ticker socket (any thread); applied at the next ``pump``."""
        with self._update_lock:
            self._updates.append(data)

    def on_market_data(self, tick: Tick) -> list[BrokerEvent]:
        if tick.last_price > 0:
            self.portfolio.mark(tick.symbol, tick.last_price)
        return self.pump(tick.ts_event)

    on_tick = on_market_data

    def pump(self, ts_ns: int, *, force_poll: bool = False) -> list[BrokerEvent]:
        """Apply socket updates, retry unresolved look-ups, and poll the book when due."""
        events: list[BrokerEvent] = []
        with self._update_lock:
            updates, self._updates = list(self._updates), deque()
        for data in updates:
            self.counters["socket_updates"] += 1
            events += self._apply_row(data, ts_ns)
        for oid, link in self.links.items():
            if link.unresolved:
                self._retry_unresolved(self.orders[oid], ts_ns)
        now = time.monotonic()
        if force_poll or (now >= self._next_poll and self.open_orders()):
            self._next_poll = now + self.poll_seconds
            events += self.poll(ts_ns)
        return events

    def _retry_unresolved(self, order: Order, ts_ns: int) -> None:
        link = self.links[order.order_id]
        try:
            found = self._find_by_tag(link.tag)
        except Exception as exc:
            log.warning("order %s: look-up of tag %s failed again: %s", order.order_id, link.tag, exc)
            return
        if found is not None:
            link.kite_id = str(found["order_id"])
            self.counters["adopted_after_ambiguity"] += 1
            self._linked(order, ts_ns)
        else:
            link.unresolved = False
            self._send(order, ts_ns)

    def poll(self, ts_ns: int) -> list[BrokerEvent]:
        self.counters["polls"] += 1
        try:
            rows = self.kite.orders()
        except kex.TokenException:
            self.session_expired = True
            log.error("Kite session expired: order updates stop until a new login")
            return []
        except Exception as exc:
            log.warning("polling Kite's order book failed: %s", exc)
            return []
        events: list[BrokerEvent] = []
        for row in rows:
            events += self._apply_row(row, ts_ns)
        return events

    def _apply_row(self, row: Mapping[str, Any], ts_ns: int) -> list[BrokerEvent]:
        """Bring our order in line with a Kite order row (from the socket or the book)."""
        oid = self._by_kite_id.get(str(row.get("order_id")))
        if oid is None:
            return []  # not ours (placed elsewhere; reconciliation looks at those)
        order, link = self.orders[oid], self.links[oid]
        if order.is_terminal:
            return []
        events: list[BrokerEvent] = []
        status = row.get("status", "")
        if order.status == OrderStatus.PENDING and status in ("OPEN", "TRIGGER PENDING", "COMPLETE"):
            order.accept(ts_ns)
            events.append(BrokerEvent(order_event(order, ts_ns)))
        if order.status == OrderStatus.TRIGGER_PENDING and status in ("OPEN", "COMPLETE"):
            order.trigger(ts_ns)
        filled = int(row.get("filled_quantity") or 0)
        if filled > link.filled_seen:
            events += self._fills(order, link, ts_ns)
        if status == "REJECTED":
            order.reject(ts_ns, str(row.get("status_message") or row.get("status_message_raw") or "rejected"))
            events.append(BrokerEvent(order_event(order, ts_ns)))
        elif status == "CANCELLED":
            order.cancel(ts_ns, str(row.get("status_message") or "cancelled"))
            events.append(BrokerEvent(order_event(order, ts_ns)))
        return events

    def _fills(self, order: Order, link: _Link, ts_ns: int) -> list[BrokerEvent]:
        assert link.kite_id is not None
        try:
            trades = self.kite.order_trades(link.kite_id)
        except Exception as exc:
            log.warning("order %s: trades not readable yet (%s); next update or poll", order.order_id, exc)
            return []
        inst = self.master.by_token(order.instrument_token)
        segment = segment_for(inst.exchange, order.product, inst.instrument_type)
        events = []
        for t in trades:
            when = t.get("fill_timestamp")
            fill_ts = ist_to_ns(when) if hasattr(when, "year") else ts_ns  # naive = IST on Kite's REST
            before = order.filled_turnover
            fill = OrderFill(str(t["trade_id"]), int(t["quantity"]), float(t["average_price"]), fill_ts)
            if not order.apply_fill(fill):
                continue
            charges = fill_charges(segment, order.side, before, fill.quantity * fill.price, ist_day(fill_ts),
                                   ZERODHA_RATES)  # fmt: skip
            self.portfolio.apply_fill(order.symbol, order.product, order.side, fill.quantity, fill.price,
                                      charges.total, order.exchange)  # fmt: skip
            key = (order.strategy, order.symbol, order.product)
            signed = fill.quantity if order.side == Side.BUY else -fill.quantity
            self.strategy_positions[key] = self.strategy_positions.get(key, 0) + signed
            events.append(BrokerEvent(order_event(order, fill_ts), Fill(
                ts_event=fill_ts, fill_id=fill.fill_id, order_id=order.order_id, intent_id=order.intent_id,
                symbol=order.symbol, exchange=order.exchange, side=order.side, quantity=fill.quantity,
                price=fill.price, charges=charges.total, strategy=order.strategy)))  # fmt: skip
        link.filled_seen = order.filled_quantity
        return events

    # -- what the execution service needs besides the Broker protocol -------------------------------
    def set_master(self, master: InstrumentsMaster) -> None:
        self.master = master

    def adopt(self, orders: list[Order], strategy_positions: Mapping[tuple[str, str, Product], int]) -> list[Order]:
        """After a restart: tie the journal's open orders to Kite's book by tag; send those Kite never got.

        An order journaled but absent from Kite's book was never placed (the crash came between
        the journal and the send), so it is sent now, once. Returns the orders it cannot place.
        """
        for key, qty in strategy_positions.items():
            if qty:
                self.strategy_positions[key] = qty
        book = {row.get("tag"): row for row in self.kite.orders() if row.get("tag")}
        lost: list[Order] = []
        for order in orders:
            intent_id, slice_no = _split_order_id(order.order_id)
            tag = kite_tag(intent_id, slice_no)
            self.orders[order.order_id] = order
            self.links[order.order_id] = link = _Link(tag, filled_seen=order.filled_quantity)
            row = book.get(tag)
            if row is not None:
                link.kite_id = str(row["order_id"])
                self._by_kite_id[link.kite_id] = order.order_id
                log.info("order %s found in Kite's book by tag %s (%s)", order.order_id, tag, row.get("status"))
            elif order.filled_quantity == 0:
                log.warning("order %s (tag %s) is journaled but not in Kite's book: sending it now", order.order_id,
                            tag)  # fmt: skip
                order.status = OrderStatus.PENDING  # not acknowledged by anyone yet
                self._send(order, order.ts_updated)
                if order.is_terminal:
                    lost.append(order)
            else:
                lost.append(order)
        return lost

    def cancel_all(self, ts_ns: int, reason: str, *, which: Callable[[Order], bool] | None = None,
                   expire: bool = False) -> list[BrokerEvent]:  # fmt: skip
        """Cancel working orders at Kite (``expire``: Kite expires DAY orders itself; read its book)."""
        if expire:
            return self.poll(ts_ns)
        events: list[BrokerEvent] = []
        for order in self.open_orders():
            if (which is None or which(order)) and self.kite_order_id(order.order_id):
                try:
                    before = order.status
                    self.cancel(order.order_id, ts_ns, reason)
                    if order.status != before:
                        events.append(BrokerEvent(order_event(order, ts_ns)))
                except OrderError as exc:
                    log.error("cancel-all: %s", exc)
        return events

    def square_off_all(self, ts_ns: int, command_id: str, reason: str = "square off all") -> list[BrokerEvent]:
        """Cancel working orders, then close every strategy's open position, sending Kite only the net.

        Per (symbol, product), strategies on opposite sides cross internally at the mark (never
        sent, ``shared.brokers.netting``); the rest, which adds up to their net, is closed with
        one MARKET order per strategy. Units no strategy owns (adopted from Kite) are left alone.
        """
        own = f"{command_id}:"  # the same command again (redelivered, repeated) keeps its own closes working
        events = self.cancel_all(ts_ns, reason, which=lambda o: not o.intent_id.startswith(own))
        for (symbol, product), parts in sorted(self._strategy_parts().items()):
            pos = self.portfolio.position(symbol, product)
            if pos is None:
                continue
            inst = self.master.by_symbol(pos.exchange, symbol)
            crosses, closes = square_off_plan(parts) if pos.last_price > 0 else ([], parts)
            for strategy, units in crosses:
                oid = f"X-{command_id}:{strategy}:{symbol}:{product.value}"
                if oid in self.orders:  # the same command again: crossed already
                    continue
                order, event = cross_order(oid, strategy=strategy, symbol=symbol, exchange=inst.exchange,
                                           instrument_token=inst.instrument_token, product=product, units=units,
                                           price=pos.last_price, ts_ns=ts_ns, reason=reason)  # fmt: skip
                self.orders[oid] = order
                key = (strategy, symbol, product)
                self.strategy_positions[key] = self.strategy_positions.get(key, 0) - units
                events.append(event)
            for strategy, qty in closes:
                intent_id = self._close_intent_id(f"{command_id}:{strategy}:{symbol}:{product.value}")
                if intent_id is None:
                    continue  # this command's close is still working at Kite: it is closing these units
                closing = OrderIntent(
                    ts_event=ts_ns, intent_id=intent_id, strategy=strategy,
                    engine="execution", exchange=inst.exchange, symbol=symbol, instrument_token=inst.instrument_token,
                    side=Side.SELL if qty > 0 else Side.BUY, quantity=abs(qty), order_type=OrderType.MARKET,
                    product=product, reason=reason, reduce_only=True,
                )  # fmt: skip
                for order in self.place_sliced(closing, ts_ns):
                    events.append(BrokerEvent(order_event(order, ts_ns)))
        return events

    def _close_intent_id(self, base: str) -> str | None:
        """The intent id of a square-off close: ``base`` the first time; None while an earlier
        close of it is working; ``base:rN`` once every earlier one ended (rejected, cancelled or
        filled short), so repeating the command retries instead of doing nothing."""
        mine = [o for o in self.orders.values() if o.intent_id == base or o.intent_id.startswith(base + ":r")]
        if any(not o.is_terminal for o in mine):
            return None
        earlier = {o.intent_id for o in mine}
        return f"{base}:r{len(earlier) + 1}" if earlier else base

    def _strategy_parts(self) -> dict[tuple[str, Product], list[tuple[str, int]]]:
        """Each (symbol, product)'s non-zero strategy positions, as (strategy, signed units)."""
        out: dict[tuple[str, Product], list[tuple[str, int]]] = {}
        for (strategy, symbol, product), qty in sorted(self.strategy_positions.items()):
            if qty:
                out.setdefault((symbol, product), []).append((strategy, qty))
        return out

    # -- views ----------------------------------------------------------------------------------
    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.is_terminal]

    def positions(self) -> list[Position]:
        return sorted(self.portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value))

    def kite_order_id(self, order_id: str) -> str | None:
        link = self.links.get(order_id)
        return link.kite_id if link else None

    def preflight(self) -> dict[str, Any]:
        """Profile and margins before trading: ``KiteSessionExpired`` when the token is dead."""
        try:
            profile = self.kite.profile()
            margins = self.kite.margins()
        except kex.TokenException as exc:
            self.session_expired = True
            raise KiteSessionExpired(
                f"Kite session expired or invalid ({exc}); log in again: python -m scripts.run_trader live --login"
            ) from None
        return {"user_id": profile.get("user_id"), "equity_net": margins.get("equity", {}).get("net")}

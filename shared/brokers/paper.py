"""The paper broker: orders, fills against depth, charges, positions and MIS square-off.

Pure (no I/O, no Redis, no wall clock), so the backtester runs the same code as the
execution service. Every time is the event time the caller passes in.

- ``place(intent, ts)`` checks the intent against the instruments master (known,
  tradable instrument; product allowed on the exchange; quantity a lot multiple; prices
  on the tick grid; no new MIS position after the square-off time) and returns the order
  OPEN (TRIGGER PENDING for stops) or REJECTED with the reason in ``status_message``.
  The order id is ``P-<intent_id>``; placing the same intent again returns the same order.
- Nothing fills at placement: a MARKET order placed between ticks fills on the **next
  tick of its instrument** (one with ``ts_event >= `` the order's time), like an order
  that reaches the exchange after the quote the strategy saw.
- ``on_tick(tick)`` marks positions, runs the MIS auto square-off when the tick's event
  time reaches Zerodha's cut-off (15:20 IST NSE/BSE, 15:25 IST NFO/BFO), then matches the
  instrument's working orders against the tick's depth with ``fill_model.match``. Orders
  are matched in the order they were placed, and the quantity one takes is removed from
  the book the next one sees (within this tick only: every tick is a fresh snapshot).
- Each fill books ``fill_charges`` (segment from exchange, product and instrument type)
  into the ``Portfolio``; the ₹50 + GST auto square-off fee is charged once per
  square-off order, on the event that places it.

Square-offs close every strategy's position in each (symbol, product), so each strategy's
round trip closes in pnl.csv, while the exchange sees only the net
(``shared.brokers.netting``): strategies on opposite sides cross internally at the mark
(no charges, no order sent, the net book untouched), and what is left, which adds up to the
net, is closed with one MARKET order per strategy. A net-flat (symbol, product) that
strategies hold long and short places no order at all. The pieces are described in
docs/paper-broker.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from datetime import time as dtime
from typing import Final

from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.charges import ZERODHA_RATES, RateCard, Segment, fill_charges, segment_for, square_off_charge
from shared.brokers.fill_model import BookSnapshot, FillConfig, Level, match, to_tick
from shared.brokers.netting import CROSS_SUFFIX, cross_order, square_off_plan
from shared.brokers.orders import Order, OrderError, OrderFill
from shared.brokers.positions import MIS_SQUARE_OFF, Portfolio, Position
from shared.brokers.snapshot import strategy_split
from shared.clock import NS, ist_datetime, ist_day, ist_to_ns
from shared.contracts import Fill, OrderIntent, Tick
from shared.enums import Exchange, OrderType, Product, Side
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster

ORDER_ID_PREFIX: Final = "P-"
DAY_NS: Final = 86_400 * NS
#: Products Zerodha takes on each exchange.
PRODUCTS: Final[Mapping[str, frozenset[Product]]] = {
    Exchange.NSE: frozenset({Product.MIS, Product.CNC}),
    Exchange.BSE: frozenset({Product.MIS, Product.CNC}),
    Exchange.NFO: frozenset({Product.MIS, Product.NRML}),
    Exchange.BFO: frozenset({Product.MIS, Product.NRML}),
}
_EPS: Final = 1e-9
#: The fill model's defaults: depth only, no slippage.
STRICT_FILLS: Final = FillConfig()


def paper_order_id(intent_id: str) -> str:
    """The paper order id of an intent: deterministic, so a redelivered intent maps to one order."""
    return ORDER_ID_PREFIX + intent_id


def on_grid(price: float, tick_size: float) -> bool:
    """True when ``price`` is a whole number of ticks."""
    return abs(to_tick(price, tick_size, up=True) - price) < _EPS * max(1.0, abs(price))


class PaperBroker:
    """A simulated Zerodha account: working orders, fills, charges and the Portfolio.

    ``used_ids`` is the set of order ids ever placed (the caller may share its own
    registry, so ids stay unique across restarts and day rolls): a square-off whose
    deterministic id is in it is not placed again.
    """

    def __init__(
        self,
        master: InstrumentsMaster | None = None,
        *,
        capital: float,
        fill_config: FillConfig = STRICT_FILLS,
        portfolio: Portfolio | None = None,
        rates: Sequence[RateCard] = ZERODHA_RATES,
        used_ids: set[str] | None = None,
        quote_fills: bool = False,
    ) -> None:
        self.master = master
        self.fill_config = fill_config
        #: ``paper.fill_timing: last_quote``: keep each instrument's newest tick and fill new
        #: orders against it on arrival (``fill_on_arrival``).
        self.quote_fills = quote_fills
        self._quotes: dict[int, Tick] = {}
        self.rates = rates
        self.portfolio = portfolio if portfolio is not None else Portfolio(capital)
        self.orders: dict[str, Order] = {}
        self.used_ids: set[str] = used_ids if used_ids is not None else set()
        #: signed units per (strategy, symbol, product): what a square-off closes
        self.strategy_positions: dict[tuple[str, str, Product], int] = {}
        self._working: dict[int, list[Order]] = {}  # instrument token -> working orders, placement order
        self._inst: dict[str, Instrument] = {}  # order id -> its instrument (the master may be replaced)
        self._segment: dict[str, Segment] = {}
        self._inst_by_symbol: dict[tuple[str, str], Instrument] = {}
        #: adopted orders ignore ticks up to their last journaled fill (redelivered after a crash)
        self._resume_after: dict[str, int] = {}
        self._day: date | None = None
        self._day_end_ns = 0
        self._cutoffs: dict[str, int] = {}  # exchange -> today's MIS square-off time (ns), until done
        self._next_clock_ns = 0

    # -- setup ---------------------------------------------------------------------------

    def set_master(self, master: InstrumentsMaster) -> None:
        """Use a new instruments master for new orders (working orders keep their instrument)."""
        self.master = master

    def adopt(self, orders: Iterable[Order], strategy_positions: Mapping[tuple[str, str, Product], int]) -> list[Order]:
        """Take over working orders and per-strategy positions (a restart); returns orders it cannot resolve.

        An adopted order needs its instrument: from the master by token (or by symbol when
        the token is 0). The caller cancels the ones returned. An adopted order does not
        trade on ticks up to its last fill's time: those are ticks redelivered after a
        crash, whose fills the journal already holds.
        """
        unresolved: list[Order] = []
        for order in orders:
            self.used_ids.add(order.order_id)
            inst = self._resolve(order.exchange, order.symbol, order.instrument_token)
            if inst is None or order.is_terminal:
                unresolved.append(order)
                continue
            if order.instrument_token != inst.instrument_token:
                order.instrument_token = inst.instrument_token
            self._register(order, inst)
            if order.fills:
                self._resume_after[order.order_id] = order.fills[-1].ts_ns
        for key, qty in strategy_positions.items():
            if qty:
                self.strategy_positions[key] = qty
        return unresolved

    def _resolve(self, exchange: str, symbol: str, token: int = 0) -> Instrument | None:
        cached = self._inst_by_symbol.get((exchange, symbol))
        if cached is not None:
            return cached
        if self.master is None:
            return None
        try:
            inst = self.master.by_token(token) if token else self.master.by_symbol(exchange, symbol)
        except InstrumentError:
            return None
        if inst.tradingsymbol != symbol or inst.exchange != exchange:
            return None
        return inst

    # -- views ---------------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        """Working orders (OPEN, TRIGGER PENDING, PARTIALLY_FILLED), in placement order."""
        return [o for o in self.orders.values() if o.is_working]

    def positions(self) -> list[Position]:
        """Every (symbol, product) traded in this book, flat ones included, sorted."""
        return sorted(self.portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value))

    # -- placing -------------------------------------------------------------------------

    def place(self, intent: OrderIntent, ts_ns: int) -> Order:
        """Place ``intent`` at event time ``ts_ns``: OPEN / TRIGGER PENDING, or REJECTED with the reason."""
        order_id = paper_order_id(intent.intent_id)
        existing = self.orders.get(order_id)
        if existing is not None:
            return existing
        inst, reason = self._check(intent, ts_ns)
        if inst is None or reason:
            order = _rejected_order(order_id, intent, ts_ns, reason)
            self.orders[order_id] = order
            self.used_ids.add(order_id)
            return order
        order = Order(
            order_id=order_id,
            intent_id=intent.intent_id,
            symbol=intent.symbol,
            exchange=intent.exchange,
            instrument_token=intent.instrument_token,
            side=intent.side,
            quantity=intent.quantity,
            order_type=intent.order_type,
            product=intent.product,
            price=intent.price if intent.order_type in (OrderType.LIMIT, OrderType.SL) else 0.0,
            trigger_price=intent.trigger_price if intent.order_type in (OrderType.SL, OrderType.SLM) else 0.0,
            tag=intent.tag,
            strategy=intent.strategy,
            ts_created=ts_ns,
        )
        order.accept(ts_ns)
        self._register(order, inst)
        return order

    def _check(self, intent: OrderIntent, ts_ns: int) -> tuple[Instrument | None, str]:
        """The instrument and "" when the intent can be placed; else the rejection reason."""
        inst, reason = self._instrument_of(intent)
        if inst is None:
            return None, reason
        reason = (
            _product_problem(intent, inst)
            or _quantity_problem(intent, inst)
            or _price_problem(intent, inst)
            or self._cutoff_problem(intent, ts_ns)
        )
        return inst, reason

    def _instrument_of(self, intent: OrderIntent) -> tuple[Instrument | None, str]:
        if self.master is None:
            return None, "instruments master not loaded yet; cannot check lot and tick sizes"
        try:
            inst = self.master.by_token(intent.instrument_token)
        except InstrumentError:
            return None, (
                f"unknown instrument: token {intent.instrument_token} ({intent.exchange}:{intent.symbol}) "
                f"is not in the instruments master ({self.master.source})"
            )
        if inst.tradingsymbol != intent.symbol or inst.exchange != intent.exchange:
            return None, (
                f"unknown instrument: token {intent.instrument_token} is {inst.key} in the instruments master, "
                f"not {intent.exchange}:{intent.symbol}"
            )
        if inst.is_index:
            return None, f"{inst.key} is an index and cannot be traded"
        return inst, ""

    def _cutoff_problem(self, intent: OrderIntent, ts_ns: int) -> str:
        if intent.product != Product.MIS:
            return ""
        cutoff = MIS_SQUARE_OFF[Exchange(intent.exchange)]
        if ist_day_time_ns(ts_ns) < cutoff.hour * 3600 * NS + cutoff.minute * 60 * NS:
            return ""
        if self._reduces(intent):
            return ""
        return (
            f"MIS orders that open or add to a position are not accepted at or after {cutoff:%H:%M} IST on "
            f"{intent.exchange} (Zerodha's auto square-off time)"
        )

    def _reduces(self, intent: OrderIntent) -> bool:
        pos = self.portfolio.position(intent.symbol, intent.product)
        if pos is None or pos.is_flat:
            return False
        closing = pos.quantity < 0 if intent.side == Side.BUY else pos.quantity > 0
        return closing and intent.quantity <= abs(pos.quantity)

    def _register(self, order: Order, inst: Instrument) -> None:
        self.orders[order.order_id] = order
        self.used_ids.add(order.order_id)
        self._inst[order.order_id] = inst
        self._inst_by_symbol[(inst.exchange, inst.tradingsymbol)] = inst
        self._segment[order.order_id] = segment_for(inst.exchange, order.product, inst.instrument_type)
        if order.is_working:
            self._working.setdefault(inst.instrument_token, []).append(order)

    # -- changing and cancelling ----------------------------------------------------------

    def _working_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderError(f"paper broker: unknown order {order_id!r}")
        if not order.is_working:
            raise OrderError(f"paper broker: order {order_id} is {order.status.value}; only working orders change")
        return order

    def modify(
        self,
        order_id: str,
        ts_ns: int,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        """Change a working order (Kite's modify: the status stays); ``OrderError`` says what is wrong."""
        order = self._working_order(order_id)
        inst = self._inst[order_id]
        if quantity is not None and (quantity <= order.filled_quantity or quantity % inst.lot_size):
            raise OrderError(
                f"order {order_id}: quantity {quantity}; expected a multiple of the lot size {inst.lot_size} "
                f"above the filled {order.filled_quantity}"
            )
        for name, value in (("price", price), ("trigger_price", trigger_price)):
            if value is not None and (value <= 0 or not on_grid(value, inst.tick_size)):
                raise OrderError(f"order {order_id}: {name} {value}; expected > 0 on the tick grid {inst.tick_size}")
        if quantity is not None:
            order.quantity = quantity
        if price is not None and order.order_type in (OrderType.LIMIT, OrderType.SL):
            order.price = price
        if trigger_price is not None and order.is_stop:
            order.trigger_price = trigger_price
        order.status_message = "modified"
        order.ts_updated = ts_ns
        return order

    def cancel(self, order_id: str, ts_ns: int, reason: str = "cancelled") -> Order:
        """Cancel a working order; ``OrderError`` for an unknown or finished one."""
        order = self._working_order(order_id)
        order.cancel(ts_ns, reason)
        self._unlist(order)
        return order

    def cancel_all(
        self, ts_ns: int, reason: str, *, which: Callable[[Order], bool] | None = None, expire: bool = False
    ) -> list[BrokerEvent]:
        """Cancel (or expire: a DAY order left at the close) every working order ``which`` selects."""
        events: list[BrokerEvent] = []
        for order in self.open_orders():
            if which is not None and not which(order):
                continue
            if expire:
                order.expire(ts_ns, reason)
            else:
                order.cancel(ts_ns, reason)
            self._unlist(order)
            events.append(BrokerEvent(order_event(order, ts_ns)))
        return events

    def _unlist(self, order: Order) -> None:
        token = self._inst[order.order_id].instrument_token
        working = self._working.get(token)
        if working is not None and order in working:
            working.remove(order)
            if not working:
                del self._working[token]

    # -- market data -----------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> list[BrokerEvent]:
        """Mark, square off MIS at the cut-off, then match the instrument's working orders."""
        ts = tick.ts_event
        if tick.last_price > 0:
            self.portfolio.mark(tick.symbol, tick.last_price)
        if self.quote_fills:
            self._quotes[tick.instrument_token] = tick
        events: list[BrokerEvent] = []
        if ts >= self._next_clock_ns:
            events += self._on_clock(ts)
        working = self._working.get(tick.instrument_token)
        if working:
            events += self._match(working, tick)
        return events

    on_market_data = on_tick

    def fill_on_arrival(self, order: Order, not_before_ns: int) -> list[BrokerEvent]:
        """Match a just-placed order against its instrument's newest quote (``quote_fills``).

        Only a quote at or after ``not_before_ns`` (the intent's event time: the market the
        strategy decided on, or newer) counts; without one the order waits for the next tick.
        The fills carry the order's time. SL / SL-M orders are left to the ticks.
        """
        if not (self.quote_fills and order.is_working and order.order_type in (OrderType.MARKET, OrderType.LIMIT)):
            return []
        quote = self._quotes.get(order.instrument_token)
        if quote is None or quote.ts_event < not_before_ns:
            return []
        return self._match([order], quote, ts=order.ts_created)

    def _match(self, working: list[Order], tick: Tick, ts: int | None = None) -> list[BrokerEvent]:
        ts = tick.ts_event if ts is None else ts
        book = BookSnapshot.from_tick(tick)
        events: list[BrokerEvent] = []
        for order in list(working):
            if order.ts_created > ts:
                continue  # placed after this quote (the tick consumer is behind): wait for a newer one
            if self._resume_after and ts <= self._resume_after.get(order.order_id, -1):
                continue  # a tick this order already traded on before a restart
            inst = self._inst[order.order_id]
            result = match(order, book, inst.tick_size, self.fill_config)
            if result.triggered:
                order.trigger(ts)
                events.append(BrokerEvent(order_event(order, ts)))
            for level in result.fills:
                events.append(self._book_fill(order, level, ts))
            if result.fills:
                book = _deplete(book, order.side, result.fills)
            if not order.is_working:
                self._unlist(order)
        return events

    def _book_fill(self, order: Order, level: Level, ts: int) -> BrokerEvent:
        before = order.filled_turnover
        fill = OrderFill(f"{order.order_id}-{len(order.fills) + 1}", level.quantity, level.price, ts)
        order.apply_fill(fill)
        segment = self._segment[order.order_id]
        charges = fill_charges(segment, order.side, before, level.quantity * level.price, ist_day(ts), self.rates)
        self.portfolio.apply_fill(
            order.symbol, order.product, order.side, level.quantity, level.price, charges.total, order.exchange
        )
        key = (order.strategy, order.symbol, order.product)
        signed = level.quantity if order.side == Side.BUY else -level.quantity
        self.strategy_positions[key] = self.strategy_positions.get(key, 0) + signed
        return BrokerEvent(
            order_event(order, ts),
            Fill(
                ts_event=ts,
                fill_id=fill.fill_id,
                order_id=order.order_id,
                intent_id=order.intent_id,
                symbol=order.symbol,
                exchange=order.exchange,
                side=order.side,
                quantity=level.quantity,
                price=level.price,
                charges=charges.total,
                strategy=order.strategy,
            ),
        )

    # -- the MIS auto square-off -----------------------------------------------------------

    def _on_clock(self, ts: int) -> list[BrokerEvent]:
        if ts >= self._day_end_ns:
            self._start_day(ist_day(ts))
        events: list[BrokerEvent] = []
        for exchange, cutoff in sorted(self._cutoffs.items(), key=lambda kv: kv[1]):
            if ts >= cutoff:
                del self._cutoffs[exchange]
                events += self.mis_square_off(exchange, ts)
        self._next_clock_ns = min([self._day_end_ns, *self._cutoffs.values()])
        return events

    def _start_day(self, day: date) -> None:
        self._day = day
        start = ist_to_ns(ist_datetime(day, dtime(0, 0)))
        self._day_end_ns = start + DAY_NS
        self._cutoffs = {str(ex): ist_to_ns(ist_datetime(day, at)) for ex, at in MIS_SQUARE_OFF.items()}

    def mis_square_off(self, exchange: str, ts_ns: int) -> list[BrokerEvent]:
        """Zerodha's RMS at the cut-off: cancel working MIS orders on ``exchange``, close its MIS positions.

        Each square-off order costs ``square_off_charge`` (₹50 + GST), booked when it is placed.
        """
        day = ist_day(ts_ns)
        reason = f"auto square-off of MIS at {MIS_SQUARE_OFF[Exchange(exchange)]:%H:%M} IST"
        prefix = f"ASQ-{day.isoformat()}-"
        events = self.cancel_all(
            ts_ns,
            reason,
            which=lambda o: o.product == Product.MIS and o.exchange == exchange and not o.order_id.startswith(prefix),
        )
        events += self._close_positions(
            ts_ns,
            lambda p: p.product == Product.MIS and p.exchange == exchange,
            lambda symbol, _product, strategy: prefix + symbol + (f"-{strategy}" if strategy else ""),
            reason,
            fee=square_off_charge(day, self.rates),
        )
        return events

    def square_off_all(self, ts_ns: int, command_id: str, reason: str = "square off all") -> list[BrokerEvent]:
        """Cancel every working order, then close every position with MARKET orders (no fee).

        Order ids are ``SQ-<command_id>-<symbol>-<product>[-<strategy>]``: a command seen again
        places nothing new and leaves its own working orders alone.
        """
        prefix = f"SQ-{command_id}-"
        events = self.cancel_all(ts_ns, reason, which=lambda o: not o.order_id.startswith(prefix))
        events += self._close_positions(
            ts_ns,
            lambda _p: True,
            lambda symbol, product, strategy: (
                f"{prefix}{symbol}-{product.value}" + (f"-{strategy}" if strategy else "")
            ),
            reason,
        )
        return events

    def _close_positions(
        self,
        ts_ns: int,
        which: Callable[[Position], bool],
        order_id_of: Callable[[str, Product, str], str],
        reason: str,
        fee: float = 0.0,
    ) -> list[BrokerEvent]:
        events: list[BrokerEvent] = []
        for pos in self.positions():
            if not which(pos):
                continue
            # Every strategy's units (those no strategy owns under ""): a net-flat position may
            # still be one strategy's long against another's short, and both must end flat.
            parts = list(strategy_split(pos, self.strategy_positions).items())
            if not parts:
                continue
            # No mark to cross at (never seen a price): close every part at the exchange instead.
            crosses, closes = square_off_plan(parts) if pos.last_price > 0 else ([], parts)
            for strategy, units in crosses:
                order_id = order_id_of(pos.symbol, pos.product, strategy) + CROSS_SUFFIX
                if order_id not in self.used_ids:
                    events.append(self._cross(order_id, pos, strategy, units, ts_ns, reason))
            for strategy, qty in closes:
                order_id = order_id_of(pos.symbol, pos.product, strategy)
                if order_id not in self.used_ids:
                    events.append(self._place_closing(order_id, pos, strategy, qty, ts_ns, reason, fee))
        return events

    def _cross(self, order_id: str, pos: Position, strategy: str, units: int, ts_ns: int, reason: str) -> BrokerEvent:
        """Close ``units`` of ``strategy``'s position against another strategy's: booked here, never sent."""
        inst = self._resolve(pos.exchange, pos.symbol)
        order, event = cross_order(
            order_id,
            strategy=strategy,
            symbol=pos.symbol,
            exchange=pos.exchange,
            instrument_token=inst.instrument_token if inst else 0,
            product=pos.product,
            units=units,
            price=pos.last_price,
            ts_ns=ts_ns,
            reason=reason,
        )
        self.orders[order_id] = order
        self.used_ids.add(order_id)
        key = (strategy, pos.symbol, pos.product)
        self.strategy_positions[key] = self.strategy_positions.get(key, 0) - units
        return event

    def _place_closing(
        self, order_id: str, pos: Position, strategy: str, qty: int, ts_ns: int, reason: str, fee: float
    ) -> BrokerEvent:
        side = Side.SELL if qty > 0 else Side.BUY
        inst = self._resolve(pos.exchange, pos.symbol)
        order = Order(
            order_id=order_id,
            intent_id=order_id,
            symbol=pos.symbol,
            exchange=pos.exchange,
            instrument_token=inst.instrument_token if inst else 0,
            side=side,
            quantity=abs(qty),
            order_type=OrderType.MARKET,
            product=pos.product,
            tag="squareoff",
            strategy=strategy,
            ts_created=ts_ns,
        )
        if inst is None:
            order.reject(ts_ns, f"{reason}: {pos.exchange}:{pos.symbol} is not in the instruments master")
            self.orders[order_id] = order
            self.used_ids.add(order_id)
            return BrokerEvent(order_event(order, ts_ns))
        order.accept(ts_ns)
        order.status_message = reason
        self._register(order, inst)
        if fee:
            self.portfolio.charge(fee)
        return BrokerEvent(order_event(order, ts_ns), fee=fee)


# -- helpers ------------------------------------------------------------------------------------


def ist_day_time_ns(ts_ns: int) -> int:
    """Nanoseconds since IST midnight of an event time."""
    return (ts_ns + 19_800 * NS) % DAY_NS


def _product_problem(intent: OrderIntent, inst: Instrument) -> str:
    allowed = PRODUCTS.get(inst.exchange, frozenset())
    if intent.product not in allowed:
        names = ", ".join(sorted(p.value for p in allowed)) or "none"
        return f"product {intent.product.value} is not allowed on {inst.exchange} (allowed: {names})"
    return ""


def _quantity_problem(intent: OrderIntent, inst: Instrument) -> str:
    if intent.quantity <= 0:
        return f"quantity {intent.quantity}; expected a positive number of units (risk sizes the intent)"
    if inst.lot_size > 0 and intent.quantity % inst.lot_size:
        return f"quantity {intent.quantity} is not a multiple of the lot size {inst.lot_size} of {inst.key}"
    return ""


def _price_problem(intent: OrderIntent, inst: Instrument) -> str:
    kind = intent.order_type
    checks: list[tuple[str, float]] = []
    if kind in (OrderType.LIMIT, OrderType.SL):
        checks.append(("price", intent.price))
    if kind in (OrderType.SL, OrderType.SLM):
        checks.append(("trigger price", intent.trigger_price))
    for name, value in checks:
        if not (value > 0 and math.isfinite(value)):
            return f"{kind.value} order needs a {name} > 0, got {value}"
        if inst.tick_size > 0 and not on_grid(value, inst.tick_size):
            return f"{name} {value} is off the tick grid of {inst.key} (tick size {inst.tick_size})"
    if kind == OrderType.SL:
        if intent.side == Side.BUY and intent.trigger_price > intent.price:
            return f"BUY SL: trigger price {intent.trigger_price} is above the limit price {intent.price}"
        if intent.side == Side.SELL and intent.trigger_price < intent.price:
            return f"SELL SL: trigger price {intent.trigger_price} is below the limit price {intent.price}"
    return ""


def _rejected_order(order_id: str, intent: OrderIntent, ts_ns: int, reason: str) -> Order:
    """A REJECTED order carrying the intent's values as asked, even ones ``Order`` would refuse."""
    order = Order(
        order_id=order_id,
        intent_id=intent.intent_id,
        symbol=intent.symbol,
        exchange=intent.exchange,
        instrument_token=intent.instrument_token,
        side=intent.side,
        quantity=1,  # placeholders so the constructor's checks pass; the real values follow
        order_type=OrderType.MARKET,
        product=intent.product,
        tag=intent.tag,
        strategy=intent.strategy,
        ts_created=ts_ns,
    )
    order.quantity = intent.quantity
    order.order_type = intent.order_type
    order.price = intent.price
    order.trigger_price = intent.trigger_price
    order.reject(ts_ns, reason)
    return order


def _deplete(book: BookSnapshot, side: Side, fills: Sequence[Level]) -> BookSnapshot:
    """``book`` without the quantity ``fills`` took (one fill per level, best level first)."""
    levels = book.asks if side == Side.BUY else book.bids
    live = sorted((lv for lv in levels if lv.price > 0 and lv.quantity > 0), reverse=side == Side.SELL)
    if not live:
        return book  # filled at the last price (no depth): nothing to take away
    left = [Level(lv.price, lv.quantity) for lv in live]
    for i, fill in enumerate(fills[: len(left)]):
        left[i] = Level(left[i].price, max(0, left[i].quantity - fill.quantity))
    rest = tuple(lv for lv in left if lv.quantity > 0)
    if side == Side.BUY:
        return BookSnapshot(book.last_price, book.bids, rest)
    return BookSnapshot(book.last_price, rest, book.asks)


__all__ = [
    "ORDER_ID_PREFIX",
    "PRODUCTS",
    "STRICT_FILLS",
    "BrokerEvent",
    "PaperBroker",
    "on_grid",
    "paper_order_id",
]

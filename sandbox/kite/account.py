"""The sandbox's Kite account over the simulated market: sessions, orders, fills, portfolio.

Single-threaded by design: the server calls it from its one event loop, so no locks. The
matching engine is the paper broker (``shared.brokers.paper``: depth walking, partial fills,
MIS square-off, charges); this module adds what Kite adds on top: order ids, statuses and
history, the API's validations and rate limits, market protection, sessions and faults.

A MARKET (or SL-M) order is matched as a LIMIT (SL) at its protection price, as Kite does:
last price +/- ``market_protection`` percent (``-1``: ``auto_market_protection_pct``), so it
can rest unfilled when the book is thin.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sandbox.kite import validate as v
from sandbox.kite.config import SandboxConfig
from sandbox.kite.errors import NETWORK, KiteError, input_error, token_error, too_many_requests
from sandbox.kite.ratelimit import OrderRateLimiter
from sandbox.kite.records import KiteOrder, kite_time
from shared.brokers.base import BrokerEvent
from shared.brokers.fill_model import to_tick
from shared.brokers.orders import OrderError
from shared.brokers.paper import PaperBroker
from shared.candles import CandleBuilder
from shared.clock import IST, ist_datetime, ist_day, ist_to_ns, wall_ns
from shared.contracts import Bar, OrderIntent, Tick
from shared.enums import OrderType, Product, Side
from shared.instruments import Instrument
from shared.sim import calendar
from shared.sim.market import SimMarket

#: Kite's candle intervals and our timeframes
INTERVALS = {
    "minute": "1m", "3minute": "3m", "5minute": "5m", "10minute": "10m",
    "15minute": "15m", "30minute": "30m", "60minute": "60m",
}  # fmt: skip
TOKEN_EXPIRY = dtime(6, 0)  # access tokens die at 06:00 IST the next day


@dataclass(slots=True)
class Faults:
    """Misbehaviour on demand (``POST /_sandbox/faults``); each place fault applies to the next N calls."""

    hang_after_place: int = 0  # place the order, then hold the response ``hang_seconds``
    hang_seconds: float = 10.0
    error_after_place: int = 0  # place the order, then answer 503 NetworkException
    reject_next: int = 0  # the next N orders are REJECTED by the RMS with ``reject_reason``
    reject_reason: str = "RMS:Rule: Check circuit limit including square off order exceeds"


def _margin_rate(inst: Instrument, product: str) -> float:
    if inst.is_equity:
        return 1.0 if product == "CNC" else 0.2
    return 0.15  # futures and short options: SPAN + exposure is roughly 15% of the notional


class KiteAccount:
    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        day = cfg.day or datetime.fromtimestamp(wall_ns() / 1e9, tz=IST).date()
        if not calendar.is_trading_day(day):
            day = calendar.next_trading_day(day)
        self.market = SimMarket(cfg.seed, day, step_ms=cfg.step_ms)
        self.master = self.market.master
        self.broker = PaperBroker(self.master, capital=cfg.capital)
        self.limiter = OrderRateLimiter(cfg.orders_per_second, cfg.orders_per_minute, cfg.orders_per_day)
        self.faults = Faults()
        self.orders: dict[str, KiteOrder] = {}
        self._by_paper: dict[str, KiteOrder] = {}
        self.last_tick: dict[int, Tick] = {}
        self.candles = CandleBuilder(INTERVALS.values())
        self.bars: dict[tuple[int, str], list[Bar]] = {}
        self.request_tokens: set[str] = set()
        self.access_tokens: dict[str, int] = {}  # token -> expiry (market time, ns)
        self.updates: list[KiteOrder] = []  # changed orders for the socket, drained by the server
        self._seq = itertools.count(1)
        self._trade_seq = itertools.count(1)

    @property
    def now_ns(self) -> int:
        return self.market.now_ns

    # -- sessions ---------------------------------------------------------------------------
    def new_request_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.request_tokens.add(token)
        return token

    def create_session(self, api_key: str, request_token: str, checksum: str) -> dict[str, Any]:
        if api_key != self.cfg.api_key:
            raise input_error("Invalid `api_key`.")
        want = hashlib.sha256((api_key + request_token + self.cfg.api_secret).encode()).hexdigest()
        if request_token not in self.request_tokens:
            raise token_error("Token is invalid or has expired.")
        if checksum != want:
            raise token_error("Invalid `checksum`.")
        self.request_tokens.discard(request_token)  # single use
        access = secrets.token_urlsafe(24)
        expiry_day = ist_day(self.now_ns) + timedelta(days=1)
        self.access_tokens[access] = ist_to_ns(ist_datetime(expiry_day, TOKEN_EXPIRY))
        return {**self.profile(), "api_key": api_key, "access_token": access, "public_token": secrets.token_hex(8),
                "enctoken": "", "refresh_token": "", "login_time": kite_time(self.now_ns),
                "meta": {"demat_consent": ""},
                "avatar_url": None}  # fmt: skip

    def check_token(self, api_key: str, access_token: str) -> None:
        expiry = self.access_tokens.get(access_token)
        if api_key != self.cfg.api_key or expiry is None:
            raise token_error("Incorrect `api_key` or `access_token`.")
        if self.now_ns >= expiry:
            raise token_error("Token is invalid or has expired.")

    def invalidate(self, access_token: str) -> None:
        self.access_tokens.pop(access_token, None)

    def expire_all_tokens(self) -> None:
        self.access_tokens = dict.fromkeys(self.access_tokens, 0)

    def profile(self) -> dict[str, Any]:
        return {
            "user_id": self.cfg.user_id, "user_name": "Sandbox Trader", "user_shortname": "Sandbox",
            "email": "sandbox@example.invalid", "user_type": "individual", "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO"], "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        }  # fmt: skip

    # -- orders -----------------------------------------------------------------------------
    def _new_order_id(self) -> str:
        return f"{ist_day(self.now_ns):%y%m%d}{next(self._seq):09d}"

    def place(self, variety: str, params: dict[str, str]) -> KiteOrder:
        """Validate and place; raises ``KiteError`` for a refused request, returns REJECTED for the RMS."""
        if not self.limiter.allow():
            raise too_many_requests()
        v.one_of(variety, ("regular",), "variety")
        exchange = v.required(params, "exchange")
        inst = v.instrument(self.master, exchange, v.required(params, "tradingsymbol"))
        side = v.one_of(v.required(params, "transaction_type"), ("BUY", "SELL"), "transaction_type")
        order_type = v.one_of(v.required(params, "order_type"), v.ORDER_TYPES, "order_type")
        product = v.one_of(v.required(params, "product"), v.PRODUCTS.get(exchange, ()), "product")
        validity = v.one_of(params.get("validity") or "DAY", v.VALIDITIES, "validity")
        qty = v.integer(params, "quantity")
        v.quantity(inst, qty, self.cfg.freeze_quantity)
        price = v.number(params, "price") if order_type in ("LIMIT", "SL") else 0.0
        trigger = v.number(params, "trigger_price") if order_type in ("SL", "SL-M") else 0.0
        if order_type in ("LIMIT", "SL"):
            v.price_on_grid(inst, "price", price)
        if order_type in ("SL", "SL-M"):
            v.price_on_grid(inst, "trigger_price", trigger)
        protection = v.market_protection(params, order_type)
        tag = v.tag(params)
        order = KiteOrder(
            order_id=self._new_order_id(), exchange_order_id=None, variety=variety, exchange=exchange,
            tradingsymbol=inst.tradingsymbol, instrument_token=inst.instrument_token, transaction_type=side,
            order_type=order_type, product=product, validity=validity, quantity=qty, price=price,
            trigger_price=trigger, market_protection=protection, tag=tag, guid=secrets.token_hex(8),
            placed_by=self.cfg.user_id, ts_placed=self.now_ns,
        )  # fmt: skip
        self.orders[order.order_id] = order
        for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
            order.record(status)
        self._submit(order, inst)
        order.record()
        if order.is_terminal:
            self.updates.append(order)
        return order

    def _rms_problem(self, order: KiteOrder, inst: Instrument, ref_price: float) -> str:
        if self.faults.reject_next > 0:
            self.faults.reject_next -= 1
            return self.faults.reject_reason
        side = Side(order.transaction_type)
        pos = self.broker.portfolio.position(inst.tradingsymbol, Product(order.product))
        closing = pos is not None and (pos.quantity < 0 if side == Side.BUY else pos.quantity > 0)
        if closing and pos is not None and order.quantity <= abs(pos.quantity):
            return ""  # an exit needs no margin
        required = self.margin_for(inst, order.product, side, order.quantity, ref_price)
        available = self.available_margin()
        if required > available:
            return (
                f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}."
            )
        return ""

    def margin_for(self, inst: Instrument, product: str, side: Side, qty: int, price: float) -> float:
        if inst.is_option:
            return qty * price if side == Side.BUY else qty * inst.strike * 0.15
        return qty * price * _margin_rate(inst, product)

    def used_margin(self) -> float:
        used = 0.0
        for pos in self.broker.portfolio.open_positions():
            inst = self.master.by_symbol(pos.exchange, pos.symbol)
            side = Side.BUY if pos.quantity > 0 else Side.SELL
            used += self.margin_for(inst, pos.product.value, side, abs(pos.quantity), pos.avg_price)
        return used

    def available_margin(self) -> float:
        return self.net_cash() - self.used_margin()

    def net_cash(self) -> float:
        p = self.broker.portfolio
        realised = sum(pos.realized_pnl for pos in p.positions.values())
        return p.starting_capital + realised - p.total_charges

    def _ref_price(self, inst: Instrument) -> float:
        tick = self.last_tick.get(inst.instrument_token)
        return tick.last_price if tick else self.market.model_price(inst.instrument_token)

    def _protected(self, order: KiteOrder, inst: Instrument, base: float) -> float:
        pct = self.cfg.auto_market_protection_pct if order.market_protection == -1 else order.market_protection
        if order.transaction_type == "BUY":
            return to_tick(base * (1 + pct / 100), inst.tick_size, up=False)
        return max(inst.tick_size, to_tick(base * (1 - pct / 100), inst.tick_size, up=True))

    def _submit(self, order: KiteOrder, inst: Instrument) -> None:
        ref = self._ref_price(inst)
        reason = self._rms_problem(order, inst, order.price or order.trigger_price or ref)
        if reason:
            order.status, order.status_message, order.status_message_raw = "REJECTED", reason, reason
            order.ts_updated = self.now_ns
            return
        # a MARKET / SL-M order goes to the exchange as a limit at its protection price
        matched_type = {"MARKET": OrderType.LIMIT, "SL-M": OrderType.SL}.get(order.order_type,
                                                                                 OrderType(order.order_type))
        price = order.price
        if order.order_type == "MARKET":
            price = self._protected(order, inst, ref)
        elif order.order_type == "SL-M":
            price = self._protected(order, inst, order.trigger_price)
        intent = OrderIntent(
            ts_event=self.now_ns, intent_id=order.order_id, strategy="", engine="kite", exchange=inst.exchange,
            symbol=inst.tradingsymbol, instrument_token=inst.instrument_token, side=Side(order.transaction_type),
            quantity=order.quantity, order_type=matched_type, product=Product(order.product), price=price,
            trigger_price=order.trigger_price, tag=order.tag,
        )  # fmt: skip
        paper = self.broker.place(intent, self.now_ns)
        order.paper = paper
        self._by_paper[paper.order_id] = order
        order.sync(self.now_ns)
        if order.status != "REJECTED":
            order.exchange_order_id = f"1100000{next(self._seq):09d}"

    def order(self, order_id: str) -> KiteOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise KiteError(404, "InputException", "Couldn't find that `order_id`.")
        return order

    def modify(self, variety: str, order_id: str, params: dict[str, str]) -> KiteOrder:
        order = self.order(order_id)
        if order.is_terminal or order.paper is None:
            raise input_error(f"Order cannot be modified as it is {order.status}.")
        if order.modifications >= self.cfg.max_modifications:
            raise KiteError(400, NETWORK, "Maximum allowed order modifications exceeded.")
        if params.get("order_type") not in (None, "", order.order_type):
            raise input_error("The sandbox cannot change an order's `order_type`; cancel and place a new order.")
        inst = self.master.by_token(order.instrument_token)
        qty = v.integer(params, "quantity") if params.get("quantity") else None
        if qty is not None:
            v.quantity(inst, qty, self.cfg.freeze_quantity)
        price = v.number(params, "price") if params.get("price") and order.order_type in ("LIMIT", "SL") else None
        trigger = v.number(params, "trigger_price") if params.get("trigger_price") and order.order_type in (
            "SL", "SL-M") else None  # fmt: skip
        for key, value in (("price", price), ("trigger_price", trigger)):
            if value is not None:
                v.price_on_grid(inst, key, value)
        try:
            self.broker.modify(order.paper.order_id, self.now_ns, quantity=qty, price=price, trigger_price=trigger)
        except OrderError as exc:
            raise input_error(str(exc)) from None
        order.modifications += 1
        if price is not None:
            order.price = price
        if trigger is not None:
            order.trigger_price = trigger
        order.sync(self.now_ns)
        for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            order.record(status)
        order.record()
        self.updates.append(order)
        return order

    def cancel(self, variety: str, order_id: str) -> KiteOrder:
        order = self.order(order_id)
        if order.is_terminal or order.paper is None:
            raise input_error(f"Order cannot be cancelled as it is {order.status}.")
        order.record("CANCEL PENDING")
        self.broker.cancel(order.paper.order_id, self.now_ns, "Cancelled by user")
        order.sync(self.now_ns)
        order.record()
        self.updates.append(order)
        return order

    # -- the market -------------------------------------------------------------------------
    def step(self) -> list[Tick]:
        """Advance the market one step: ticks out, orders matched, candles built."""
        if self.market.done:
            self._end_of_day()
        ticks = self.market.step()
        for tick in ticks:
            self.last_tick[tick.instrument_token] = tick
            for bar in self.candles.on_tick(tick):
                self.bars.setdefault((bar.instrument_token, bar.timeframe), []).append(bar)
            events = self.broker.on_tick(tick)
            if events:
                self._apply(events)
        self._expire_ioc()
        return ticks

    def _apply(self, events: list[BrokerEvent]) -> None:
        for ev in events:
            order = self._by_paper.get(ev.order.order_id) or self._adopt(ev)
            if order is None:
                continue
            order.sync(ev.order.ts_event)
            if order.exchange_order_id is None and order.status != "REJECTED":
                order.exchange_order_id = f"1100000{next(self._seq):09d}"
            if ev.fill is not None:
                order.trade(f"{next(self._trade_seq):08d}", ev.fill.quantity, ev.fill.price, ev.fill.ts_event)
            order.record()
            self.updates.append(order)

    def _adopt(self, ev: BrokerEvent) -> KiteOrder | None:
        """An order the matching engine placed itself (the MIS auto square-off) enters the book."""
        paper = self.broker.orders.get(ev.order.order_id)
        if paper is None:
            return None
        order = KiteOrder(
            order_id=self._new_order_id(), exchange_order_id=None, variety="regular", exchange=paper.exchange,
            tradingsymbol=paper.symbol, instrument_token=paper.instrument_token,
            transaction_type=paper.side.value, order_type=paper.order_type.value, product=paper.product.value,
            validity="DAY", quantity=paper.quantity, price=paper.price, trigger_price=paper.trigger_price,
            market_protection=0, tag="", guid=secrets.token_hex(8), placed_by="ADMINSQF", ts_placed=paper.ts_created,
            paper=paper,
        )  # fmt: skip
        self.orders[order.order_id] = order
        self._by_paper[paper.order_id] = order
        return order

    def _expire_ioc(self) -> None:
        for order in self._by_paper.values():
            paper = order.paper
            if order.validity == "IOC" and paper is not None and paper.is_working and paper.ts_created < self.now_ns:
                self.broker.cancel(paper.order_id, self.now_ns, "IOC order cancelled: not filled at once")
                order.sync(self.now_ns)
                order.record()
                self.updates.append(order)

    def _end_of_day(self) -> None:
        for ev in self.broker.cancel_all(self.now_ns, "DAY order cancelled at the close", expire=True):
            self._apply([ev])
        self.market.next_day()

    # -- views ------------------------------------------------------------------------------
    def trades(self) -> list[dict[str, Any]]:
        return [t for o in self.orders.values() for t in o.trades]

    def quote_instrument(self, key: str) -> Instrument | None:
        try:
            return self.master.by_key(key)
        except Exception:
            return None

    def historical(self, token: int, interval: str, start: datetime, end: datetime, oi: bool) -> list[list[Any]]:
        if token not in self.master:
            raise input_error(f"Invalid `instrument_token` {token}.")
        if interval == "day":
            return self._day_candles(token, start, end, oi)
        timeframe = INTERVALS.get(interval)
        if timeframe is None:
            raise input_error(f"Invalid `interval` {interval!r}; expected day or one of {', '.join(INTERVALS)}.")
        lo, hi = ist_to_ns(start), ist_to_ns(end)
        out = []
        for bar in self.bars.get((token, timeframe), []):
            if lo <= bar.ts_open <= hi:
                out.append(_candle(bar.ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.oi, oi))
        return out

    def _day_candles(self, token: int, start: datetime, end: datetime, oi: bool) -> list[list[Any]]:
        by_day: dict[date, list[Bar]] = {}
        for bar in self.bars.get((token, "1m"), []):
            by_day.setdefault(ist_day(bar.ts_open), []).append(bar)
        out = []
        for day, bars in sorted(by_day.items()):
            if start.date() <= day <= end.date():
                ts = ist_to_ns(ist_datetime(day, dtime(0, 0)))
                high, low = max(b.high for b in bars), min(b.low for b in bars)
                volume = sum(b.volume for b in bars)
                out.append(_candle(ts, bars[0].open, high, low, bars[-1].close, volume, bars[-1].oi, oi))
        return out


def _candle(ts_ns: int, o: float, h: float, lo: float, c: float, vol: int, oi_value: int, oi: bool) -> list[Any]:
    stamp = datetime.fromtimestamp(ts_ns / 1e9, tz=IST).strftime("%Y-%m-%dT%H:%M:%S%z")
    row: list[Any] = [stamp, o, h, lo, c, vol]
    if oi:
        row.append(oi_value)
    return row

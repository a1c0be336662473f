"""Deterministic fills of one order against a market snapshot (last price and depth).

- MARKET walks the opposite side of the book from its best level (a buy takes asks),
  each fill worsened by ``slippage_ticks``; what the book cannot supply stays open.
- LIMIT fills only against levels at its price or better, at the level's price (so at
  the limit or better), up to the quantity shown; otherwise it rests.
- SL / SL-M wait in TRIGGER_PENDING until the last price crosses the trigger (Kite: a buy
  when LTP >= trigger, a sell when LTP <= trigger), then act as LIMIT / MARKET on the same
  snapshot.

Every price is put on the instrument's tick grid (``tick_size`` is passed in), rounded
against the trader. ``match`` does not change the order; ``apply_match`` does. The book
is not depleted between calls: a caller matching several orders against one snapshot, or
one order against many, decides how liquidity is shared (docs/paper-broker.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Final, NamedTuple

from shared.brokers.orders import Order, OrderFill
from shared.enums import OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from shared.contracts import Tick

_EPS: Final = 1e-9


class Level(NamedTuple):
    """One book level, or one fill: price and quantity."""

    price: float
    quantity: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """What the fill model sees: last price and up to 5 levels a side (any order; empty ok)."""

    last_price: float
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    @classmethod
    def of(
        cls,
        last_price: float,
        bids: Iterable[tuple[float, int]] = (),
        asks: Iterable[tuple[float, int]] = (),
    ) -> BookSnapshot:
        return cls(last_price, tuple(Level(p, q) for p, q in bids), tuple(Level(p, q) for p, q in asks))

    @classmethod
    def from_tick(cls, tick: Tick) -> BookSnapshot:
        return cls.of(
            tick.last_price,
            ((d.price, d.quantity) for d in tick.bids),
            ((d.price, d.quantity) for d in tick.asks),
        )


@dataclass(frozen=True, slots=True)
class FillConfig:
    """Knobs of the fill model; the defaults are the strict depth-only model."""

    #: Extra ticks against the trader on each MARKET / SL-M fill.
    slippage_ticks: int = 0
    #: Kite's market protection in percent: MARKET / SL-M never fill beyond LTP x (1 +/- p/100).
    market_protection_pct: float | None = None
    #: With no depth on the side needed, fill everything at the last price (bars, index-less replays).
    fill_at_last_price_without_depth: bool = False

    def __post_init__(self) -> None:
        if self.slippage_ticks < 0:
            raise ValueError(f"FillConfig.slippage_ticks {self.slippage_ticks}; expected >= 0")
        if self.market_protection_pct is not None and not 0 < self.market_protection_pct <= 100:
            raise ValueError(f"FillConfig.market_protection_pct {self.market_protection_pct}; expected 0 < p <= 100")


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome of one order against one snapshot."""

    triggered: bool = False
    fills: tuple[Level, ...] = ()

    @property
    def quantity(self) -> int:
        return sum(f.quantity for f in self.fills)


NO_MATCH: Final = Match()


@lru_cache(maxsize=64)
def _decimals(tick_size: float) -> int:
    return max(0, -int(Decimal(repr(tick_size)).normalize().as_tuple().exponent))


def to_tick(price: float, tick_size: float, *, up: bool) -> float:
    """``price`` on the ``tick_size`` grid: unchanged if on it, else the next tick up or down."""
    if tick_size <= 0:
        raise ValueError(f"to_tick: tick_size {tick_size}; expected > 0")
    units = price / tick_size
    nearest = round(units)
    if abs(units - nearest) < _EPS * max(1.0, abs(units)):
        steps = nearest
    else:
        steps = math.ceil(units) if up else math.floor(units)
    return round(steps * tick_size, _decimals(tick_size))


def stop_triggered(side: Side, trigger_price: float, last_price: float) -> bool:
    """Kite's trigger rule: a buy stop fires when LTP >= trigger, a sell stop when LTP <= trigger."""
    return last_price >= trigger_price if side == Side.BUY else last_price <= trigger_price


def _is_market_like(order: Order) -> bool:
    return order.order_type in (OrderType.MARKET, OrderType.SLM)


def _limit_of(order: Order, book: BookSnapshot, tick_size: float, config: FillConfig) -> float | None:
    """The worst price the order may fill at (None: any), on the grid."""
    if not _is_market_like(order):
        return order.price
    pct = config.market_protection_pct
    if pct is None:
        return None
    if order.side == Side.BUY:
        return to_tick(book.last_price * (1 + pct / 100), tick_size, up=False)
    return to_tick(book.last_price * (1 - pct / 100), tick_size, up=True)


def _walk(
    levels: Sequence[Level], side: Side, wanted: int, limit: float | None, slip: float, tick_size: float
) -> list[Level]:
    buy = side == Side.BUY
    fills: list[Level] = []
    for level in sorted((lv for lv in levels if lv.price > 0 and lv.quantity > 0), reverse=not buy):
        if wanted <= 0:
            break
        price = to_tick(level.price, tick_size, up=buy)
        if limit is not None and (price > limit + _EPS if buy else price < limit - _EPS):
            break
        price = price + slip if buy else price - slip
        if limit is not None:
            price = min(price, limit) if buy else max(price, limit)
        price = round(price, _decimals(tick_size))
        if price <= 0:
            continue
        take = min(wanted, level.quantity)
        fills.append(Level(price, take))
        wanted -= take
    return fills


def match(order: Order, book: BookSnapshot, tick_size: float, config: FillConfig = FillConfig()) -> Match:
    """Whether ``order`` triggers and what it fills against ``book``; the order is not changed."""
    if tick_size <= 0:
        raise ValueError(f"match: tick_size {tick_size} for {order.symbol}; expected > 0")
    if not order.is_working:
        return NO_MATCH
    triggered = False
    if order.status == OrderStatus.TRIGGER_PENDING:
        if not stop_triggered(order.side, order.trigger_price, book.last_price):
            return NO_MATCH
        triggered = True
    limit = _limit_of(order, book, tick_size, config)
    slip = config.slippage_ticks * tick_size if _is_market_like(order) else 0.0
    levels = book.asks if order.side == Side.BUY else book.bids
    fills = _walk(levels, order.side, order.remaining_quantity, limit, slip, tick_size)
    no_depth = not any(lv.price > 0 and lv.quantity > 0 for lv in levels)
    if no_depth and config.fill_at_last_price_without_depth and book.last_price > 0:
        at_last = (Level(book.last_price, order.remaining_quantity),)
        fills = _walk(at_last, order.side, order.remaining_quantity, limit, slip, tick_size)
    return Match(triggered, tuple(fills))


def apply_match(order: Order, result: Match, ts_ns: int) -> list[OrderFill]:
    """Trigger and fill ``order`` as ``result`` says; fill ids are ``{order_id}-{n}`` (1-based)."""
    if result.triggered:
        order.trigger(ts_ns)
    applied: list[OrderFill] = []
    for level in result.fills:
        fill = OrderFill(f"{order.order_id}-{len(order.fills) + 1}", level.quantity, level.price, ts_ns)
        order.apply_fill(fill)
        applied.append(fill)
    return applied

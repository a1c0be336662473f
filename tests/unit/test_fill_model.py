"""The fill model: MARKET walks the book, LIMIT rests until crossed, stops trigger on LTP."""

from __future__ import annotations

from typing import Any

import pytest

from shared.brokers.fill_model import (
    BookSnapshot,
    FillConfig,
    Level,
    Match,
    apply_match,
    match,
    stop_triggered,
    to_tick,
)
from shared.brokers.orders import Order
from shared.enums import OrderStatus, OrderType, Product, Side
from tests.factories import make_tick

TICK = 0.05
BOOK = BookSnapshot.of(
    100.0,
    bids=[(99.95, 10), (99.90, 20), (99.85, 30)],
    asks=[(100.05, 10), (100.10, 20), (100.15, 30)],
)


def working(order_type: OrderType, side: Side, quantity: int, **kw: Any) -> Order:
    order = Order(
        order_id="o7",
        intent_id="i7",
        symbol="X",
        exchange="NSE",
        instrument_token=1,
        side=side,
        quantity=quantity,
        order_type=order_type,
        product=Product.MIS,
        **kw,
    )
    order.accept(1)
    return order


def test_market_buy_walks_the_asks_from_the_best() -> None:
    m = match(working(OrderType.MARKET, Side.BUY, 25), BOOK, TICK)
    assert m.fills == (Level(100.05, 10), Level(100.10, 15))
    assert not m.triggered


def test_market_sell_walks_the_bids_from_the_best_even_if_unsorted() -> None:
    book = BookSnapshot.of(100.0, bids=[(99.85, 30), (99.95, 10), (99.90, 20)])
    m = match(working(OrderType.MARKET, Side.SELL, 15), book, TICK)
    assert m.fills == (Level(99.95, 10), Level(99.90, 5))


def test_market_order_larger_than_the_book_fills_partially() -> None:
    order = working(OrderType.MARKET, Side.BUY, 100)
    m = match(order, BOOK, TICK)
    assert m.quantity == 60
    apply_match(order, m, 2)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.remaining_quantity == 40


def test_market_slippage_moves_each_fill_against_the_trader_in_ticks() -> None:
    cfg = FillConfig(slippage_ticks=2)
    buy = match(working(OrderType.MARKET, Side.BUY, 15), BOOK, TICK, cfg)
    sell = match(working(OrderType.MARKET, Side.SELL, 15), BOOK, TICK, cfg)
    assert buy.fills == (Level(100.15, 10), Level(100.20, 5))
    assert sell.fills == (Level(99.85, 10), Level(99.80, 5))


def test_market_protection_caps_how_deep_a_market_order_walks() -> None:
    cfg = FillConfig(market_protection_pct=0.1)  # cap 100.10
    m = match(working(OrderType.MARKET, Side.BUY, 60), BOOK, TICK, cfg)
    assert m.fills == (Level(100.05, 10), Level(100.10, 20))


def test_market_with_empty_book_side_fills_nothing_by_default() -> None:
    book = BookSnapshot.of(100.0, bids=[(99.95, 10)], asks=[(0.0, 0)])
    assert match(working(OrderType.MARKET, Side.BUY, 5), book, TICK) == Match()


def test_market_with_empty_book_fills_at_last_price_when_configured() -> None:
    cfg = FillConfig(fill_at_last_price_without_depth=True, slippage_ticks=1)
    m = match(working(OrderType.MARKET, Side.BUY, 500), BookSnapshot.of(100.0), TICK, cfg)
    assert m.fills == (Level(100.05, 500),)


def test_limit_buy_rests_while_the_best_ask_is_above_it() -> None:
    order = working(OrderType.LIMIT, Side.BUY, 10, price=100.0)
    assert match(order, BOOK, TICK).fills == ()


def test_limit_buy_fills_at_its_price_or_better_up_to_what_is_shown() -> None:
    order = working(OrderType.LIMIT, Side.BUY, 50, price=100.10)
    m = match(order, BOOK, TICK, FillConfig(slippage_ticks=3))  # slippage is for market orders only
    assert m.fills == (Level(100.05, 10), Level(100.10, 20))
    assert all(f.price <= 100.10 for f in m.fills)


def test_limit_sell_fills_when_the_best_bid_reaches_it() -> None:
    order = working(OrderType.LIMIT, Side.SELL, 5, price=99.95)
    assert match(order, BOOK, TICK).fills == (Level(99.95, 5),)
    assert match(working(OrderType.LIMIT, Side.SELL, 5, price=100.0), BOOK, TICK).fills == ()


def test_limit_without_depth_and_last_price_fallback_respects_the_limit() -> None:
    cfg = FillConfig(fill_at_last_price_without_depth=True)
    order = working(OrderType.LIMIT, Side.BUY, 5, price=99.0)
    assert match(order, BookSnapshot.of(100.0), TICK, cfg).fills == ()
    assert match(order, BookSnapshot.of(98.5), TICK, cfg).fills == (Level(98.5, 5),)


@pytest.mark.parametrize(
    ("side", "trigger", "ltp", "fires"),
    [
        (Side.BUY, 100.0, 99.95, False),
        (Side.BUY, 100.0, 100.0, True),
        (Side.BUY, 100.0, 100.5, True),
        (Side.SELL, 100.0, 100.05, False),
        (Side.SELL, 100.0, 100.0, True),
        (Side.SELL, 100.0, 99.0, True),
    ],
)
def test_kite_trigger_rule(side: Side, trigger: float, ltp: float, fires: bool) -> None:
    assert stop_triggered(side, trigger, ltp) is fires


def test_sl_m_sell_waits_then_triggers_and_fills_as_market() -> None:
    order = working(OrderType.SLM, Side.SELL, 15, trigger_price=99.0)
    assert order.status is OrderStatus.TRIGGER_PENDING
    assert match(order, BOOK, TICK) == Match()
    crashed = BookSnapshot.of(98.9, bids=[(98.85, 10), (98.80, 10)])
    m = match(order, crashed, TICK)
    assert m.triggered
    assert m.fills == (Level(98.85, 10), Level(98.80, 5))
    fills = apply_match(order, m, 5)
    assert order.status is OrderStatus.FILLED
    assert [f.fill_id for f in fills] == ["o7-1", "o7-2"]


def test_sl_buy_triggers_then_acts_as_limit_and_may_rest() -> None:
    order = working(OrderType.SL, Side.BUY, 10, trigger_price=100.0, price=100.05)
    book = BookSnapshot.of(100.0, asks=[(100.10, 50)])
    m = match(order, book, TICK)
    assert m.triggered and m.fills == ()
    apply_match(order, m, 3)
    assert order.status is OrderStatus.OPEN
    later = BookSnapshot.of(100.05, asks=[(100.05, 4), (100.10, 50)])
    m2 = match(order, later, TICK)
    assert not m2.triggered
    assert m2.fills == (Level(100.05, 4),)


def test_terminal_or_pending_orders_do_not_match() -> None:
    pending = Order("p", "i", "X", "NSE", 1, Side.BUY, 5, OrderType.MARKET, Product.MIS)
    assert match(pending, BOOK, TICK) == Match()
    done = working(OrderType.MARKET, Side.BUY, 5)
    apply_match(done, match(done, BOOK, TICK), 2)
    assert done.status is OrderStatus.FILLED
    assert match(done, BOOK, TICK) == Match()


def test_fill_prices_are_put_on_the_tick_grid_against_the_trader() -> None:
    book = BookSnapshot.of(100.0, bids=[(99.93, 10)], asks=[(100.02, 10)])
    assert match(working(OrderType.MARKET, Side.BUY, 1), book, TICK).fills == (Level(100.05, 1),)
    assert match(working(OrderType.MARKET, Side.SELL, 1), book, TICK).fills == (Level(99.90, 1),)


def test_tick_size_is_taken_from_the_caller() -> None:
    book = BookSnapshot.of(250.0, asks=[(250.01, 10)])
    m = match(working(OrderType.MARKET, Side.BUY, 1), book, 0.01, FillConfig(slippage_ticks=1))
    assert m.fills == (Level(250.02, 1),)
    with pytest.raises(ValueError, match="tick_size"):
        match(working(OrderType.MARKET, Side.BUY, 1), book, 0.0)


@pytest.mark.parametrize(
    ("price", "tick", "up", "expected"),
    [
        (100.05, 0.05, True, 100.05),
        (100.05000000001, 0.05, False, 100.05),
        (100.02, 0.05, True, 100.05),
        (100.02, 0.05, False, 100.0),
        (24_512.37, 0.1, True, 24_512.4),
        (3.14159, 0.01, False, 3.14),
        (1234.0, 0.5, True, 1234.0),
    ],
)
def test_to_tick(price: float, tick: float, up: bool, expected: float) -> None:
    assert to_tick(price, tick, up=up) == expected


def test_same_inputs_give_the_same_fills() -> None:
    a = match(working(OrderType.MARKET, Side.BUY, 45), BOOK, TICK, FillConfig(slippage_ticks=1))
    b = match(working(OrderType.MARKET, Side.BUY, 45), BOOK, TICK, FillConfig(slippage_ticks=1))
    assert a == b


def test_snapshot_from_a_bus_tick_keeps_depth_and_last_price() -> None:
    tick = make_tick(3)
    book = BookSnapshot.from_tick(tick)
    assert book.last_price == tick.last_price
    assert book.asks[0] == Level(tick.asks[0].price, tick.asks[0].quantity)
    assert len(book.bids) == 5
    m = match(working(OrderType.MARKET, Side.BUY, 65), book, TICK)
    assert m.fills == (Level(tick.asks[0].price, 65),)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="slippage_ticks"):
        FillConfig(slippage_ticks=-1)
    with pytest.raises(ValueError, match="market_protection_pct"):
        FillConfig(market_protection_pct=0.0)

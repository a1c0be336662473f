"""The order state machine: legal paths, illegal events, fills and their idempotency."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from shared.brokers.orders import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    Order,
    OrderError,
    OrderEventKind,
    OrderFill,
    next_status,
)
from shared.enums import OrderStatus, OrderType, Product, Side

S = OrderStatus
E = OrderEventKind


def make_order(order_type: OrderType = OrderType.LIMIT, quantity: int = 100, **kw: Any) -> Order:
    defaults: dict[str, Any] = {
        "price": 100.0 if order_type in (OrderType.LIMIT, OrderType.SL) else 0.0,
        "trigger_price": 99.0 if order_type in (OrderType.SL, OrderType.SLM) else 0.0,
    }
    defaults.update(kw)
    return Order(
        order_id="o1",
        intent_id="i1",
        symbol="RELIANCE",
        exchange="NSE",
        instrument_token=738561,
        side=Side.BUY,
        quantity=quantity,
        order_type=order_type,
        product=Product.MIS,
        ts_created=10,
        **defaults,
    )


def test_new_order_is_pending_with_nothing_filled() -> None:
    o = make_order()
    assert o.status is S.PENDING
    assert o.filled_quantity == 0
    assert o.remaining_quantity == 100
    assert o.ts_updated == 10


def test_limit_order_lifecycle_through_partial_to_filled() -> None:
    o = make_order()
    o.submit(11)
    o.accept(12)
    assert o.status is S.OPEN
    assert o.apply_fill(OrderFill("t1", 40, 100.0, 13))
    assert o.status is S.PARTIALLY_FILLED
    assert o.apply_fill(OrderFill("t2", 60, 99.0, 14))
    assert o.status is S.FILLED
    assert o.is_terminal
    assert o.filled_quantity == 100
    assert o.average_price == pytest.approx((40 * 100.0 + 60 * 99.0) / 100)
    assert o.ts_updated == 14
    assert o.filled_turnover == pytest.approx(40 * 100.0 + 60 * 99.0)


@pytest.mark.parametrize("order_type", [OrderType.SL, OrderType.SLM])
def test_stop_orders_wait_for_their_trigger(order_type: OrderType) -> None:
    o = make_order(order_type)
    o.accept(11)
    assert o.status is S.TRIGGER_PENDING
    o.trigger(12)
    assert o.status is S.OPEN


def test_trigger_on_an_open_limit_order_is_illegal() -> None:
    o = make_order()
    o.accept(11)
    with pytest.raises(IllegalTransition, match="'trigger' is illegal in status 'OPEN'"):
        o.trigger(12)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(E))
def test_terminal_statuses_accept_no_event(terminal: OrderStatus, event: OrderEventKind) -> None:
    with pytest.raises(IllegalTransition, match="allowed: none"):
        next_status(terminal, event)


def test_every_table_target_is_a_known_status_and_every_pair_is_decided() -> None:
    for status, event in itertools.product(S, E):
        target = TRANSITIONS.get((status, event))
        if target is None:
            with pytest.raises(IllegalTransition):
                next_status(status, event)
        else:
            assert next_status(status, event) is target


def test_cancel_after_partial_fill_keeps_the_filled_part() -> None:
    o = make_order()
    o.accept(11)
    o.apply_fill(OrderFill("t1", 30, 100.0, 12))
    o.cancel(13, "user")
    assert o.status is S.CANCELLED
    assert o.filled_quantity == 30
    assert o.status_message == "user"


def test_expire_maps_to_cancelled_as_kite_reports_it() -> None:
    o = make_order()
    o.accept(11)
    o.expire(20)
    assert o.status is S.CANCELLED


def test_reject_from_pending_records_the_reason() -> None:
    o = make_order()
    o.reject(11, "Insufficient funds")
    assert o.status is S.REJECTED
    assert o.status_message == "Insufficient funds"


def test_accept_twice_is_illegal() -> None:
    o = make_order()
    o.accept(11)
    with pytest.raises(IllegalTransition):
        o.accept(12)


def test_fill_on_cancelled_order_is_illegal() -> None:
    o = make_order()
    o.cancel(11)
    with pytest.raises(IllegalTransition):
        o.apply_fill(OrderFill("t1", 1, 100.0, 12))
    assert o.filled_quantity == 0


def test_fill_straight_from_pending_is_accepted_for_skipped_updates() -> None:
    o = make_order(OrderType.MARKET)
    assert o.apply_fill(OrderFill("t1", 100, 101.0, 11))
    assert o.status is S.FILLED


def test_duplicate_fill_id_is_ignored() -> None:
    o = make_order()
    o.accept(11)
    fill = OrderFill("t1", 40, 100.0, 12)
    assert o.apply_fill(fill) is True
    assert o.apply_fill(fill) is False
    assert o.filled_quantity == 40
    assert len(o.fills) == 1


def test_reused_fill_id_with_other_values_is_an_error() -> None:
    o = make_order()
    o.accept(11)
    o.apply_fill(OrderFill("t1", 40, 100.0, 12))
    with pytest.raises(OrderError, match="reused"):
        o.apply_fill(OrderFill("t1", 50, 100.0, 12))


def test_overfill_is_refused_and_leaves_the_order_unchanged() -> None:
    o = make_order()
    o.accept(11)
    o.apply_fill(OrderFill("t1", 90, 100.0, 12))
    with pytest.raises(OrderError, match="exceeds the remaining 10"):
        o.apply_fill(OrderFill("t2", 11, 100.0, 13))
    assert o.filled_quantity == 90
    assert o.status is S.PARTIALLY_FILLED


@pytest.mark.parametrize(("qty", "price"), [(0, 100.0), (-1, 100.0), (1, 0.0)])
def test_non_positive_fill_is_refused(qty: int, price: float) -> None:
    o = make_order()
    o.accept(11)
    with pytest.raises(OrderError, match="expected both > 0"):
        o.apply_fill(OrderFill("t1", qty, price, 12))


@pytest.mark.parametrize(
    ("order_type", "kw", "message"),
    [
        (OrderType.LIMIT, {"price": 0.0}, "LIMIT needs price"),
        (OrderType.SL, {"trigger_price": 0.0}, "SL needs trigger_price"),
        (OrderType.SLM, {"trigger_price": 0.0}, "SL-M needs trigger_price"),
        (OrderType.MARKET, {"quantity": 0}, "quantity 0"),
    ],
)
def test_invalid_orders_are_refused(order_type: OrderType, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(OrderError, match=message):
        make_order(order_type, **kw)

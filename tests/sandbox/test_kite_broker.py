"""The Kite broker through the real ``KiteConnect`` client against the sandbox, faults included."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import TokenException

from sandbox.kite.runner import SandboxThread
from shared.brokers.base import BrokerEvent
from shared.brokers.kite import KiteBroker, KiteSessionExpired, OrderPacer, kite_tag, slice_quantities
from shared.brokers.orders import Order, OrderError
from shared.contracts import OrderIntent
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.instruments import Instrument
from tests.sandbox.conftest import faults, login, sandbox_config


@pytest.fixture
def journal() -> list[tuple[str, str, int]]:
    return []


def make_broker(sb: SandboxThread, kite: KiteConnect, journal: list, **kw: object) -> KiteBroker:
    def record(order: Order) -> None:
        # journaled before sent: at this moment Kite must not know the tag yet
        try:
            in_book = sum(1 for o in kite.orders() if o["tag"] == order.tag)
        except TokenException:
            in_book = -1
        journal.append((order.order_id, order.tag, in_book))

    args: dict[str, object] = {"capital": 1e9, "journal": record, "poll_seconds": 0.0, "lookup_delay_seconds": 0.05}
    args.update(kw)
    return KiteBroker(kite, sb.sandbox.account.master, **args)  # type: ignore[arg-type]


def future(sb: SandboxThread) -> Instrument:
    return sb.sandbox.account.master.futures("NIFTY")[0]


def intent(
    inst: Instrument, intent_id: str, *, qty: int | None = None, side: Side = Side.BUY,
    order_type: OrderType = OrderType.MARKET, price: float = 0.0, product: Product = Product.NRML,
) -> OrderIntent:  # fmt: skip
    return OrderIntent(ts_event=0, intent_id=intent_id, strategy="s1", engine="fno", exchange=inst.exchange,
                       symbol=inst.tradingsymbol, instrument_token=inst.instrument_token, side=side,
                       quantity=qty or inst.lot_size, order_type=order_type, product=product, price=price)  # fmt: skip


def pump_until(broker: KiteBroker, done, timeout: float = 15.0) -> list[BrokerEvent]:  # type: ignore[no-untyped-def]
    events: list[BrokerEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += broker.pump(time.time_ns(), force_poll=True)
        if done():
            return events
        time.sleep(0.1)
    raise AssertionError(f"not done; events so far: {[e.order.status for e in events]}")


@pytest.fixture
def kite(sandbox: SandboxThread) -> Iterator[KiteConnect]:
    faults(sandbox, hang_after_place=0, error_after_place=0, reject_next=0)
    yield login(sandbox, timeout=1)


def test_tags_are_short_deterministic_and_unique_per_slice() -> None:
    tags = {kite_tag(f"fno:s1:NIFTY:{i}", n) for i in range(500) for n in (1, 2)}
    assert len(tags) == 1000 and all(re.fullmatch(r"[A-Za-z0-9]{1,20}", t) for t in tags)
    assert kite_tag("abc") == kite_tag("abc") != kite_tag("abc", 2)
    assert slice_quantities(65 * 60, 65, 1800) == [1755, 1755, 390]
    assert slice_quantities(130, 65, 1800) == [130]
    with pytest.raises(OrderError, match="slices"):
        slice_quantities(65 * 400, 65, 1800)


def test_market_order_fills_with_tag_and_protection_journaled_first(sandbox, kite, journal) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(sandbox, kite, journal)
    inst = future(sandbox)
    order = broker.place(intent(inst, "fno:s1:mkt:1"), time.time_ns())
    assert journal == [(order.order_id, order.tag, 0)]  # journaled while Kite had not seen it
    events = pump_until(broker, lambda: order.status == OrderStatus.FILLED)
    kite_row = kite.order_history(broker.kite_order_id(order.order_id))[-1]
    assert kite_row["tag"] == order.tag and kite_row["market_protection"] == -1
    fills = [e.fill for e in events if e.fill is not None]
    assert sum(f.quantity for f in fills) == inst.lot_size
    assert {f.fill_id for f in fills} == {t["trade_id"] for t in kite.order_trades(kite_row["order_id"])}
    pos = {(p.symbol, p.product): p for p in broker.positions()}[(inst.tradingsymbol, Product.NRML)]
    assert pos.quantity == inst.lot_size
    again = broker.place(intent(inst, "fno:s1:mkt:1"), time.time_ns())  # a redelivered intent
    assert again is order and len(journal) == 1


@pytest.mark.parametrize("fault", [{"hang_after_place": 1, "hang_seconds": 2.5}, {"error_after_place": 1}])
def test_ambiguous_outcome_after_placing_results_in_exactly_one_order(sandbox, kite, journal, fault) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(sandbox, kite, journal)
    inst = future(sandbox)
    faults(sandbox, **fault)
    order = broker.place(intent(inst, f"fno:s1:amb:{sorted(fault)[0]}", order_type=OrderType.LIMIT, price=100.0),
                         time.time_ns())  # fmt: skip
    same_tag = [o for o in kite.orders() if o["tag"] == order.tag]
    assert len(same_tag) == 1  # never placed twice
    assert broker.kite_order_id(order.order_id) == same_tag[0]["order_id"]
    assert broker.counters["ambiguous"] == 1 and broker.counters["adopted_after_ambiguity"] == 1
    pump_until(broker, lambda: order.status == OrderStatus.OPEN)
    broker.cancel(order.order_id, time.time_ns())
    assert order.status == OrderStatus.CANCELLED


def test_rate_limited_orders_are_delayed_not_lost(journal) -> None:  # type: ignore[no-untyped-def]
    sb = SandboxThread(sandbox_config(orders_per_second=2, orders_per_minute=400)).start()
    try:
        kite = login(sb, timeout=2)
        # a pacer set above the venue's limit: the 429s must be absorbed by waiting and sending again
        broker = make_broker(sb, kite, journal, pacer=OrderPacer(per_second=50))
        inst = future(sb)
        orders = [broker.place(intent(inst, f"rl:{i}", order_type=OrderType.LIMIT, price=100.0), time.time_ns())
                  for i in range(6)]  # fmt: skip
        assert broker.counters["rate_limited"] > 0
        book = kite.orders()
        assert sorted(o["tag"] for o in book) == sorted(o.tag for o in orders)  # each exactly once
        assert all(o.status == OrderStatus.PENDING and broker.kite_order_id(o.order_id) for o in orders)
    finally:
        sb.stop()


def test_pacer_keeps_under_the_limits_with_a_fake_clock() -> None:
    now = [0.0]
    pacer = OrderPacer(per_second=3, per_minute=5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    stamps = []
    for _ in range(7):
        pacer.wait()
        stamps.append(now[0])
    assert all(sum(1 for t in stamps if a <= t < a + 1) <= 3 for a in stamps)
    assert all(sum(1 for t in stamps if a <= t < a + 60) <= 5 for a in stamps)


def test_big_order_is_split_at_the_freeze_quantity(sandbox, kite, journal) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(sandbox, kite, journal)
    inst = future(sandbox)
    qty = inst.lot_size * 60  # 3,900 > NIFTY's 1,800 freeze
    orders = broker.place_sliced(intent(inst, "fno:s1:big", qty=qty, order_type=OrderType.LIMIT, price=100.0),
                                 time.time_ns())  # fmt: skip
    assert [o.quantity for o in orders] == slice_quantities(qty, inst.lot_size, 1800)
    assert len({o.tag for o in orders}) == len(orders) and all(o.status == OrderStatus.PENDING for o in orders)
    for o in orders:
        broker.cancel(o.order_id, time.time_ns())


def test_partial_fills_modify_and_rms_rejection(sandbox, kite, journal) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(sandbox, kite, journal)
    acct = sandbox.sandbox.account
    eq = next(i for i in acct.master.equities() if i.instrument_token in acct.last_tick)
    depth = sum(acct.last_tick[eq.instrument_token].ask_quantities)
    big = broker.place(intent(eq, "eq:s1:big", qty=500 * (depth + 1), product=Product.MIS), time.time_ns())
    pump_until(broker, lambda: big.status == OrderStatus.PARTIALLY_FILLED)
    assert 0 < big.filled_quantity < big.quantity
    broker.cancel(big.order_id, time.time_ns())
    assert big.status == OrderStatus.CANCELLED

    inst = future(sandbox)
    resting = broker.place(intent(inst, "fno:s1:rest", order_type=OrderType.LIMIT, price=100.0), time.time_ns())
    pump_until(broker, lambda: resting.status == OrderStatus.OPEN)
    broker.modify(resting.order_id, time.time_ns(), price=100.5)
    assert kite.order_history(broker.kite_order_id(resting.order_id))[-1]["price"] == 100.5
    broker.cancel(resting.order_id, time.time_ns())

    faults(sandbox, reject_next=1, reject_reason="RMS:Blocked for NRML")
    refused = broker.place(intent(inst, "fno:s1:rms", order_type=OrderType.LIMIT, price=100.0), time.time_ns())
    pump_until(broker, lambda: refused.status == OrderStatus.REJECTED)
    assert "Blocked" in refused.status_message


def test_input_errors_reject_and_an_expired_token_stops_with_a_clear_message(sandbox, kite, journal) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(sandbox, kite, journal)
    inst = future(sandbox)
    bad = broker.place(intent(inst, "fno:s1:odd", order_type=OrderType.LIMIT, price=100.01), time.time_ns())
    assert bad.status == OrderStatus.REJECTED and "Tick size" in bad.status_message
    assert broker.preflight()["user_id"] == sandbox.sandbox.cfg.user_id
    faults(sandbox, expire_tokens=True)
    with pytest.raises(KiteSessionExpired, match="--login"):
        broker.preflight()
    late = broker.place(intent(inst, "fno:s1:late", order_type=OrderType.LIMIT, price=100.0), time.time_ns())
    assert late.status == OrderStatus.REJECTED and "log in again" in late.status_message and broker.session_expired

"""The paper broker: depth fills, resting limits, stops, partial fills, rejections, MIS square-off, money."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from shared.brokers.base import Broker, BrokerEvent
from shared.brokers.charges import Segment, fill_charges, square_off_charge
from shared.brokers.fill_model import FillConfig
from shared.brokers.orders import OrderError
from shared.brokers.paper import PaperBroker, paper_order_id
from shared.clock import ist_datetime, ist_to_ns
from shared.contracts import OrderIntent, Tick, depth
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.instruments import COLUMNS, InstrumentsMaster

DAY = date(2025, 11, 17)
CAPITAL = 500_000.0
MASTER_CSV = "\n".join(
    [
        ",".join(COLUMNS),
        "256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE",
        "1001,51713,NIFTY25NOVFUT,NIFTY,0,2025-11-25,0,0.05,65,FUT,NFO-FUT,NFO",
        "1002,46875,NIFTY25NOV24500CE,NIFTY,0,2025-11-25,24500,0.05,65,CE,NFO-OPT,NFO",
        "738561,2885,RELIANCE,RELIANCE INDUSTRIES,0,,0,0.1,1,EQ,NSE,NSE",
    ]
)
FUT = (1001, "NIFTY25NOVFUT", "NFO")
OPT = (1002, "NIFTY25NOV24500CE", "NFO")
EQ = (738561, "RELIANCE", "NSE")


def at(hh: int, mm: int, ss: float = 0.0) -> int:
    return ist_to_ns(ist_datetime(DAY, time(hh, mm))) + int(ss * 1e9)


def book(
    ts: int,
    inst: tuple[int, str, str] = FUT,
    last: float = 24_500.0,
    *,
    bids: list[tuple[float, int]] | None = None,
    asks: list[tuple[float, int]] | None = None,
) -> Tick:
    """A tick with 3 levels a side around ``last`` (65, 130, 195 units) unless given."""
    token, symbol, exchange = inst
    step = 0.1 if inst == EQ else 0.05
    bids = bids if bids is not None else [(round(last - step * (k + 1), 2), 65 * (k + 1)) for k in range(3)]
    asks = asks if asks is not None else [(round(last + step * (k + 1), 2), 65 * (k + 1)) for k in range(3)]
    return Tick(
        ts_event=ts,
        instrument_token=token,
        exchange=exchange,
        symbol=symbol,
        last_price=last,
        **depth([(p, q, 1) for p, q in bids], [(p, q, 1) for p, q in asks]),
    )


def intent(
    intent_id: str,
    side: Side = Side.BUY,
    quantity: int = 65,
    inst: tuple[int, str, str] = FUT,
    **kw: Any,
) -> OrderIntent:
    token, symbol, exchange = inst
    fields: dict[str, Any] = {"ts_event": at(9, 30), "strategy": "ema", "engine": "fno", "product": Product.MIS}
    fields.update(kw)
    return OrderIntent(
        intent_id=intent_id,
        exchange=exchange,
        symbol=symbol,
        instrument_token=token,
        side=side,
        quantity=quantity,
        **fields,
    )


@pytest.fixture
def broker() -> PaperBroker:
    return PaperBroker(InstrumentsMaster.from_csv_text(MASTER_CSV), capital=CAPITAL)


def fills_of(events: list[BrokerEvent]) -> list[tuple[float, int]]:
    return [(e.fill.price, e.fill.quantity) for e in events if e.fill is not None]


def assert_money_identity(b: PaperBroker) -> None:
    p = b.portfolio
    lhs = p.starting_capital + p.realized_pnl + p.unrealized_pnl - p.total_charges
    assert lhs == pytest.approx(p.equity, abs=1e-6)


# -- placing and filling -------------------------------------------------------------------------


def test_paper_broker_implements_the_broker_protocol(broker: PaperBroker) -> None:
    assert isinstance(broker, Broker)


def test_market_order_fills_on_the_next_tick_walking_the_depth(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", quantity=195), at(9, 30))
    assert order.order_id == paper_order_id("i1") == "P-i1"
    assert order.status == OrderStatus.OPEN and order.filled_quantity == 0  # nothing fills at placement

    events = broker.on_tick(book(at(9, 30, 0.25)))

    assert fills_of(events) == [(24_500.05, 65), (24_500.1, 130)]
    assert [e.order.status for e in events] == [OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    assert [e.fill.fill_id for e in events if e.fill] == ["P-i1-1", "P-i1-2"]
    assert order.average_price == pytest.approx((24_500.05 * 65 + 24_500.1 * 130) / 195)
    first = fill_charges(Segment.FUTURES, Side.BUY, 0.0, 24_500.05 * 65, DAY).total
    second = fill_charges(Segment.FUTURES, Side.BUY, 24_500.05 * 65, 24_500.1 * 130, DAY).total
    assert [e.fill.charges for e in events if e.fill] == [first, second]
    pos = broker.portfolio.position("NIFTY25NOVFUT", Product.MIS)
    assert pos is not None and pos.quantity == 195
    assert broker.portfolio.total_charges == first + second
    assert broker.open_orders() == []


def test_tick_older_than_the_order_does_not_fill_it(broker: PaperBroker) -> None:
    broker.place(intent("i1"), at(9, 30))
    assert broker.on_tick(book(at(9, 29, 59))) == []
    assert fills_of(broker.on_tick(book(at(9, 30)))) == [(24_500.05, 65)]


def test_quote_fills_fill_a_new_order_on_arrival_at_the_freshest_quote_not_older_than_the_intent() -> None:
    b = PaperBroker(InstrumentsMaster.from_csv_text(MASTER_CSV), capital=CAPITAL, quote_fills=True)
    b.on_tick(book(at(9, 29, 59), last=24_400.0))  # older than the intent: not used
    stale = b.place(intent("old"), at(9, 30))
    assert b.fill_on_arrival(stale, at(9, 30)) == [] and stale.status == OrderStatus.OPEN
    b.on_tick(book(at(9, 30), last=24_500.0))  # the quote the strategy decided on fills the waiting one
    assert stale.status == OrderStatus.FILLED
    order = b.place(intent("new", quantity=130, ts_event=at(9, 30)), at(9, 30, 0.5))
    events = b.fill_on_arrival(order, at(9, 30))
    assert fills_of(events) == [(24_500.05, 65), (24_500.1, 65)]
    assert [e.fill.ts_event for e in events if e.fill] == [at(9, 30, 0.5)] * 2  # at the order's time
    sl = b.place(intent("sl", Side.SELL, order_type="SL-M", trigger_price=24_000.0), at(9, 30, 0.5))
    assert b.fill_on_arrival(sl, at(9, 30)) == []  # stops wait for the ticks


def test_without_quote_fills_nothing_fills_on_arrival(broker: PaperBroker) -> None:
    broker.on_tick(book(at(9, 30)))
    order = broker.place(intent("i1"), at(9, 30))
    assert broker.fill_on_arrival(order, at(9, 30)) == [] and order.status == OrderStatus.OPEN


def test_market_sell_with_slippage_fills_worse_by_the_configured_ticks() -> None:
    b = PaperBroker(InstrumentsMaster.from_csv_text(MASTER_CSV), capital=CAPITAL, fill_config=FillConfig(2))
    b.place(intent("i1", Side.SELL), at(9, 30))
    assert fills_of(b.on_tick(book(at(9, 31)))) == [(24_499.85, 65)]


def test_limit_order_rests_until_the_book_crosses_it_then_fills_at_the_level(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", order_type=OrderType.LIMIT, price=24_490.0), at(9, 30))
    assert broker.on_tick(book(at(9, 31))) == []
    assert order.status == OrderStatus.OPEN and broker.open_orders() == [order]

    events = broker.on_tick(book(at(9, 32), last=24_490.0, asks=[(24_489.95, 30), (24_490.0, 100)]))

    assert fills_of(events) == [(24_489.95, 30), (24_490.0, 35)]
    assert order.status == OrderStatus.FILLED


def test_stop_market_waits_for_the_trigger_then_fills_on_the_same_tick(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", Side.SELL, order_type=OrderType.SLM, trigger_price=24_450.0), at(9, 30))
    assert order.status == OrderStatus.TRIGGER_PENDING
    assert broker.on_tick(book(at(9, 31), last=24_460.0)) == []

    events = broker.on_tick(book(at(9, 32), last=24_450.0))

    assert [e.order.status for e in events] == [OrderStatus.OPEN, OrderStatus.FILLED]
    assert fills_of(events) == [(24_449.95, 65)]


def test_stop_limit_triggers_and_rests_when_the_book_is_beyond_its_limit(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", order_type=OrderType.SL, trigger_price=24_510.0, price=24_510.0), at(9, 30))
    events = broker.on_tick(book(at(9, 31), last=24_512.0))  # asks from 24512.05: above the limit
    assert [e.order.status for e in events] == [OrderStatus.OPEN] and fills_of(events) == []
    assert fills_of(broker.on_tick(book(at(9, 32), last=24_509.0))) == [(24_509.05, 65)]
    assert order.status == OrderStatus.FILLED


def test_order_larger_than_the_book_fills_partially_and_the_rest_on_later_ticks(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", quantity=65 * 8), at(9, 30))
    first = broker.on_tick(book(at(9, 31)))
    assert sum(q for _, q in fills_of(first)) == 390
    assert order.status == OrderStatus.PARTIALLY_FILLED and order.remaining_quantity == 130
    assert broker.open_orders() == [order]

    second = broker.on_tick(book(at(9, 32)))

    assert fills_of(second) == [(24_500.05, 65), (24_500.1, 65)]
    assert order.status == OrderStatus.FILLED
    assert [f.fill_id for f in order.fills] == [f"P-i1-{n}" for n in range(1, 6)]


def test_orders_on_one_tick_share_its_depth_in_placement_order(broker: PaperBroker) -> None:
    broker.place(intent("a", quantity=130), at(9, 30))
    broker.place(intent("b", quantity=130), at(9, 30))
    events = broker.on_tick(book(at(9, 31)))
    by_order = {oid: [(e.fill.price, e.fill.quantity) for e in events if e.fill and e.order.order_id == oid]
                for oid in ("P-a", "P-b")}  # fmt: skip
    assert by_order == {"P-a": [(24_500.05, 65), (24_500.1, 65)], "P-b": [(24_500.1, 65), (24_500.15, 65)]}


def test_placing_the_same_intent_again_returns_the_same_order(broker: PaperBroker) -> None:
    first = broker.place(intent("i1"), at(9, 30))
    assert broker.place(intent("i1"), at(9, 31)) is first
    assert len(broker.open_orders()) == 1


def test_cancel_and_modify_working_orders(broker: PaperBroker) -> None:
    order = broker.place(intent("i1", order_type=OrderType.LIMIT, price=24_400.0), at(9, 30))
    broker.modify("P-i1", at(9, 31), quantity=130, price=24_450.0)
    assert (order.quantity, order.price, order.status) == (130, 24_450.0, OrderStatus.OPEN)
    with pytest.raises(OrderError, match="tick grid"):
        broker.modify("P-i1", at(9, 31), price=24_450.03)
    broker.cancel("P-i1", at(9, 32), "user")
    assert order.status == OrderStatus.CANCELLED and broker.open_orders() == []
    assert broker.on_tick(book(at(9, 33), last=24_400.0)) == []
    with pytest.raises(OrderError, match="CANCELLED"):
        broker.cancel("P-i1", at(9, 34))


# -- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"instrument_token": 999}, "unknown instrument: token 999"),
        ({"symbol": "BANKNIFTY25NOVFUT"}, "token 1001 is NFO:NIFTY25NOVFUT"),
        ({"quantity": 100}, "quantity 100 is not a multiple of the lot size 65"),
        ({"order_type": OrderType.LIMIT, "price": 24_500.03}, "price 24500.03 is off the tick grid"),
        ({"order_type": OrderType.LIMIT, "price": 0.0}, "LIMIT order needs a price > 0"),
        ({"order_type": OrderType.SLM, "trigger_price": 24_500.01}, "trigger price 24500.01 is off the tick grid"),
        ({"order_type": OrderType.SL, "price": 24_500.0, "trigger_price": 24_510.0}, "trigger price 24510.0 is above"),
        ({"product": Product.CNC}, "product CNC is not allowed on NFO"),
        ({"ts_event": at(15, 25)}, "not accepted at or after 15:25 IST on NFO"),
    ],
)
def test_bad_intents_are_rejected_with_the_reason(broker: PaperBroker, kw: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"intent_id": "bad", "side": Side.BUY, "quantity": 65, "inst": FUT}
    for key in ("instrument_token", "symbol"):
        if key in kw:
            token, symbol, exchange = FUT
            fields["inst"] = (kw.pop("instrument_token", token), kw.pop("symbol", symbol), exchange)
    fields.update(kw)
    ts = fields.get("ts_event", at(9, 30))
    order = broker.place(intent(fields.pop("intent_id"), fields.pop("side"), fields.pop("quantity"),
                                fields.pop("inst"), **fields), ts)  # fmt: skip
    assert order.status == OrderStatus.REJECTED
    assert message in order.status_message
    assert broker.open_orders() == [] and broker.on_tick(book(ts + 1)) == []


def test_an_index_cannot_be_traded(broker: PaperBroker) -> None:
    order = broker.place(intent("i", inst=(256265, "NIFTY 50", "NSE")), at(9, 30))
    assert order.status == OrderStatus.REJECTED and "index" in order.status_message


def test_without_a_master_every_order_is_rejected() -> None:
    order = PaperBroker(capital=CAPITAL).place(intent("i"), at(9, 30))
    assert order.status == OrderStatus.REJECTED and "master not loaded" in order.status_message


def test_a_rejected_order_keeps_the_values_asked_for(broker: PaperBroker) -> None:
    order = broker.place(intent("i", quantity=0), at(9, 30))
    assert order.status == OrderStatus.REJECTED and order.quantity == 0
    assert "quantity 0" in order.status_message


def test_after_the_cutoff_an_mis_order_that_reduces_the_position_is_accepted(broker: PaperBroker) -> None:
    broker.place(intent("in", Side.BUY, 130, EQ), at(10, 0))
    broker.on_tick(book(at(10, 1), EQ, 1_500.0))
    late = broker.place(intent("out", Side.SELL, 65, EQ, ts_event=at(15, 19)), at(15, 19, 59))
    assert late.status == OrderStatus.OPEN
    too_much = broker.place(intent("flip", Side.SELL, 195, EQ), at(15, 20))
    assert too_much.status == OrderStatus.REJECTED and "15:20 IST on NSE" in too_much.status_message


# -- square-offs -----------------------------------------------------------------------------------


def test_mis_positions_are_squared_off_at_1520_equity_and_1525_fo_with_the_fee(broker: PaperBroker) -> None:
    broker.place(intent("eq", Side.BUY, 10, EQ), at(10, 0))
    broker.place(intent("fut", Side.SELL, 65, FUT), at(10, 0))
    broker.place(intent("nrml", Side.BUY, 65, FUT, product=Product.NRML, strategy="carry"), at(10, 0))
    broker.place(intent("rest", Side.BUY, 1, EQ, order_type=OrderType.LIMIT, price=1_400.0), at(10, 0))
    broker.on_tick(book(at(10, 1), EQ, 1_500.0))
    broker.on_tick(book(at(10, 1), FUT))
    fee = square_off_charge(DAY)
    assert fee == pytest.approx(59.0)

    assert broker.on_tick(book(at(15, 19, 59.75), EQ, 1_510.0)) == []
    charges_before = broker.portfolio.total_charges
    at_1520 = broker.on_tick(book(at(15, 20), EQ, 1_510.0))

    statuses = [(e.order.order_id, e.order.status) for e in at_1520]
    assert statuses == [
        ("P-rest", OrderStatus.CANCELLED),  # working MIS orders go first
        ("ASQ-2025-11-17-RELIANCE-ema", OrderStatus.OPEN),
        ("ASQ-2025-11-17-RELIANCE-ema", OrderStatus.FILLED),
    ]
    assert [e.fee for e in at_1520] == [0.0, fee, 0.0]
    eq_pos = broker.portfolio.position("RELIANCE", Product.MIS)
    assert eq_pos is not None and eq_pos.quantity == 0
    sell_charges = at_1520[2].fill.charges if at_1520[2].fill else 0.0
    assert broker.portfolio.total_charges == pytest.approx(charges_before + fee + sell_charges)
    fut_pos = broker.portfolio.position("NIFTY25NOVFUT", Product.MIS)
    assert fut_pos is not None and fut_pos.quantity == -65  # F&O waits for 15:25

    assert broker.on_tick(book(at(15, 24, 59), FUT)) == []
    at_1525 = broker.on_tick(book(at(15, 25), FUT))
    assert [e.order.order_id for e in at_1525] == ["ASQ-2025-11-17-NIFTY25NOVFUT-ema"] * 2
    assert at_1525[0].fee == fee and at_1525[1].order.side == Side.BUY
    assert fut_pos.quantity == 0
    nrml = broker.portfolio.position("NIFTY25NOVFUT", Product.NRML)
    assert nrml is not None and nrml.quantity == 65  # NRML is never auto squared off
    assert broker.on_tick(book(at(15, 26), FUT)) == []  # once a day
    assert_money_identity(broker)


def test_square_off_closes_each_strategy_and_is_not_repeated_for_the_same_command(broker: PaperBroker) -> None:
    broker.place(intent("a", Side.BUY, 130, strategy="ema"), at(9, 30))
    broker.place(intent("b", Side.BUY, 65, strategy="orb"), at(9, 30))
    broker.place(intent("c", Side.BUY, 1, EQ, order_type=OrderType.LIMIT, price=1_000.0), at(9, 30))
    broker.on_tick(book(at(9, 31)))

    events = broker.square_off_all(at(11, 0), "cmd1", "operator")

    assert [(e.order.order_id, e.order.side, e.order.quantity, e.order.status, e.fee) for e in events] == [
        ("P-c", Side.BUY, 1, OrderStatus.CANCELLED, 0.0),
        ("SQ-cmd1-NIFTY25NOVFUT-MIS-ema", Side.SELL, 130, OrderStatus.OPEN, 0.0),
        ("SQ-cmd1-NIFTY25NOVFUT-MIS-orb", Side.SELL, 65, OrderStatus.OPEN, 0.0),
    ]
    assert broker.square_off_all(at(11, 0), "cmd1") == []
    broker.on_tick(book(at(11, 0, 1)))
    pos = broker.portfolio.position("NIFTY25NOVFUT", Product.MIS)
    assert pos is not None and pos.quantity == 0
    assert broker.strategy_positions[("ema", "NIFTY25NOVFUT", Product.MIS)] == 0
    assert_money_identity(broker)


def test_square_off_sends_only_the_net_and_crosses_opposite_strategies_inside(broker: PaperBroker) -> None:
    broker.place(intent("a", Side.BUY, 130, strategy="ema"), at(9, 30))
    broker.place(intent("b", Side.SELL, 65, strategy="orb"), at(9, 30))
    broker.on_tick(book(at(9, 31)))
    pos = broker.portfolio.position("NIFTY25NOVFUT", Product.MIS)
    assert pos is not None and pos.quantity == 65
    broker.on_tick(book(at(10, 59), last=24_510.0))  # the mark the cross trades at
    cash, charges, avg = broker.portfolio.cash, broker.portfolio.total_charges, pos.avg_price

    events = broker.square_off_all(at(11, 0), "cmd1", "operator")

    # orb's short offsets 65 of ema's long inside; only ema's remaining 65 goes to the exchange
    assert [(e.order.order_id, e.order.side, e.order.quantity, e.order.status, e.internal) for e in events] == [
        ("SQ-cmd1-NIFTY25NOVFUT-MIS-ema-X", Side.SELL, 65, OrderStatus.FILLED, True),
        ("SQ-cmd1-NIFTY25NOVFUT-MIS-orb-X", Side.BUY, 65, OrderStatus.FILLED, True),
        ("SQ-cmd1-NIFTY25NOVFUT-MIS-ema", Side.SELL, 65, OrderStatus.OPEN, False),
    ]
    crosses = [e.fill for e in events if e.internal]
    assert [(f.price, f.charges, f.strategy) for f in crosses if f] == [(24_510.0, 0.0, "ema"), (24_510.0, 0.0, "orb")]
    # the net book did not see the crosses: same position, average, cash and charges
    assert (pos.quantity, pos.avg_price, broker.portfolio.cash, broker.portfolio.total_charges) == (
        65, avg, cash, charges,
    )  # fmt: skip
    assert broker.strategy_positions[("orb", "NIFTY25NOVFUT", Product.MIS)] == 0
    assert broker.strategy_positions[("ema", "NIFTY25NOVFUT", Product.MIS)] == 65
    assert broker.square_off_all(at(11, 0), "cmd1") == []  # the same command again: nothing new
    filled = broker.on_tick(book(at(11, 0, 1), last=24_510.0))
    assert fills_of(filled) == [(24_509.95, 65)]
    assert pos.quantity == 0 and all(q == 0 for q in broker.strategy_positions.values())
    assert_money_identity(broker)


def test_a_net_flat_book_of_opposite_strategies_squares_off_without_an_order_or_a_fee(broker: PaperBroker) -> None:
    broker.place(intent("a", Side.BUY, 65, strategy="ema"), at(9, 30))
    broker.place(intent("b", Side.SELL, 65, strategy="orb"), at(9, 30))
    broker.on_tick(book(at(9, 31)))
    charges = broker.portfolio.total_charges

    at_1525 = broker.on_tick(book(at(15, 25), last=24_480.0))  # the MIS auto square-off

    assert [(e.order.order_id, e.order.side, e.fee, e.internal) for e in at_1525] == [
        ("ASQ-2025-11-17-NIFTY25NOVFUT-ema-X", Side.SELL, 0.0, True),
        ("ASQ-2025-11-17-NIFTY25NOVFUT-orb-X", Side.BUY, 0.0, True),
    ]
    assert broker.open_orders() == [] and broker.portfolio.total_charges == charges  # no RMS order, no ₹59
    assert all(q == 0 for q in broker.strategy_positions.values())


def test_money_identity_holds_through_fills_marks_and_fees(broker: PaperBroker) -> None:
    broker.place(intent("a", Side.BUY, 195), at(9, 30))
    broker.place(intent("o", Side.SELL, 130, OPT), at(9, 30))
    broker.on_tick(book(at(9, 31)))
    broker.on_tick(book(at(9, 31), OPT, 120.0))
    broker.on_tick(book(at(9, 40), last=24_540.0))
    broker.place(intent("b", Side.SELL, 65), at(9, 41))
    broker.on_tick(book(at(9, 42), last=24_520.0))
    broker.on_tick(book(at(9, 43), OPT, 110.5))
    p = broker.portfolio
    assert p.realized_pnl != 0 and p.unrealized_pnl != 0 and p.total_charges > 0
    assert_money_identity(broker)
    broker.on_tick(book(at(15, 25), FUT, 24_530.0))
    broker.on_tick(book(at(15, 25), OPT, 112.0))
    assert all(pos.is_flat for pos in p.positions.values())
    assert p.unrealized_pnl == 0
    assert_money_identity(broker)


def test_an_adopted_book_keeps_working_after_a_restart_without_repeating_a_square_off(broker: PaperBroker) -> None:
    broker.place(intent("in", Side.BUY, 10, EQ), at(10, 0))
    broker.on_tick(book(at(10, 1), EQ, 1_500.0))
    thin = book(at(15, 20), EQ, 1_500.0, bids=[(1_499.9, 4)])
    broker.on_tick(thin)  # the square-off sells 4 of 10
    (asq,) = broker.open_orders()
    assert asq.order_id.startswith("ASQ-") and asq.filled_quantity == 4

    restarted = PaperBroker(broker.master, capital=CAPITAL, portfolio=broker.portfolio, used_ids=set(broker.used_ids))
    assert restarted.adopt([asq], broker.strategy_positions) == []
    assert restarted.on_tick(thin) == []  # the redelivered tick traded already: no second fill, no new order
    events = restarted.on_tick(book(at(15, 20, 1), EQ, 1_500.0))
    assert [(e.order.order_id, e.order.status) for e in events] == [(asq.order_id, OrderStatus.FILLED)]
    assert events[0].fill is not None and events[0].fill.fill_id == f"{asq.order_id}-2"
    pos = restarted.portfolio.position("RELIANCE", Product.MIS)
    assert pos is not None and pos.quantity == 0

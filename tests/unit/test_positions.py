"""Positions and the portfolio: average price, realized/unrealized PnL, cash, square-off times."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.brokers.charges import Segment, order_charges
from shared.brokers.positions import Portfolio, Position, mis_square_off_due, mis_square_off_time
from shared.clock import ist_datetime, ist_to_ns
from shared.enums import Product, Side

DAY = date(2026, 4, 7)


def at(hh: int, mm: int, ss: int = 0) -> int:
    return ist_to_ns(ist_datetime(DAY, time(hh, mm, ss)))


def test_adding_to_a_long_weights_the_average_price() -> None:
    p = Position("X", Product.MIS)
    p.apply_fill(Side.BUY, 10, 100.0)
    p.apply_fill(Side.BUY, 30, 104.0)
    assert p.quantity == 40
    assert p.avg_price == pytest.approx(103.0)
    assert p.realized_pnl == 0.0


def test_reducing_a_long_realizes_pnl_and_keeps_the_average() -> None:
    p = Position("X", Product.MIS)
    p.apply_fill(Side.BUY, 10, 100.0)
    realized = p.apply_fill(Side.SELL, 4, 110.0)
    assert realized == pytest.approx(40.0)
    assert p.quantity == 6
    assert p.avg_price == pytest.approx(100.0)
    p.mark(105.0)
    assert p.unrealized_pnl == pytest.approx(30.0)


def test_short_position_gains_when_price_falls() -> None:
    p = Position("X", Product.NRML)
    p.apply_fill(Side.SELL, 65, 200.0)
    p.mark(190.0)
    assert p.unrealized_pnl == pytest.approx(650.0)
    assert p.apply_fill(Side.BUY, 65, 195.0) == pytest.approx(325.0)
    assert p.is_flat
    assert p.avg_price == 0.0
    assert p.unrealized_pnl == 0.0


def test_flip_realizes_the_closed_part_and_resets_the_average() -> None:
    p = Position("X", Product.MIS)
    p.apply_fill(Side.BUY, 10, 100.0)
    realized = p.apply_fill(Side.SELL, 15, 110.0)
    assert realized == pytest.approx(100.0)
    assert p.quantity == -5
    assert p.avg_price == pytest.approx(110.0)
    assert p.buy_quantity == 10 and p.sell_quantity == 15


def test_position_refuses_bad_fills_and_marks() -> None:
    p = Position("X", Product.MIS)
    with pytest.raises(ValueError, match="expected both > 0"):
        p.apply_fill(Side.BUY, 0, 100.0)
    with pytest.raises(ValueError, match="mark"):
        p.mark(0.0)


def test_portfolio_round_trip_with_zerodha_charges() -> None:
    pf = Portfolio(starting_capital=1_000_000.0)
    buy = order_charges(Segment.FUTURES, Side.BUY, 65 * 25_000.0, DAY)
    sell = order_charges(Segment.FUTURES, Side.SELL, 65 * 25_100.0, DAY)
    pf.apply_fill("NIFTY26APRFUT", Product.NRML, Side.BUY, 65, 25_000.0, buy, exchange="NFO")
    pf.apply_fill("NIFTY26APRFUT", Product.NRML, Side.SELL, 65, 25_100.0, sell, exchange="NFO")
    assert pf.realized_pnl == pytest.approx(6_500.0)
    assert pf.total_charges == pytest.approx(969.61, abs=0.005)
    assert pf.net_pnl == pytest.approx(6_500.0 - 969.61, abs=0.005)
    assert pf.equity == pytest.approx(1_000_000.0 + 6_500.0 - 969.61, abs=0.005)
    pos = pf.position("NIFTY26APRFUT", Product.NRML)
    assert pos is not None and pos.exchange == "NFO" and pos.charges == pytest.approx(969.61, abs=0.005)


def test_mark_moves_unrealized_pnl_of_every_product_of_the_symbol() -> None:
    pf = Portfolio(starting_capital=100_000.0)
    pf.apply_fill("X", Product.MIS, Side.BUY, 10, 100.0)
    pf.apply_fill("X", Product.CNC, Side.BUY, 5, 100.0)
    pf.mark("X", 102.0)
    pf.mark("UNKNOWN", 1.0)
    assert pf.unrealized_pnl == pytest.approx(30.0)
    assert pf.equity == pytest.approx(100_030.0)
    assert len(list(pf.open_positions())) == 2


def test_charge_without_a_fill_reduces_cash_and_equity() -> None:
    pf = Portfolio(starting_capital=10_000.0)
    pf.charge(59.0)
    assert pf.cash == pytest.approx(9_941.0)
    assert pf.net_pnl == pytest.approx(-59.0)


_fill = st.tuples(
    st.sampled_from(["A", "B"]),
    st.sampled_from([Product.MIS, Product.NRML]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(min_value=1, max_value=500),
    st.integers(min_value=1, max_value=100_000).map(lambda n: n * 0.05),
    st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
)
_mark = st.tuples(st.sampled_from(["A", "B"]), st.integers(min_value=1, max_value=100_000).map(lambda n: n * 0.05))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_fill, _mark), max_size=40))
def test_money_identity_holds_over_any_fill_sequence(steps: list[tuple[object, ...]]) -> None:
    capital = 1_000_000.0
    pf = Portfolio(starting_capital=capital)
    for step in steps:
        if len(step) == 2:
            symbol, price = step
            pf.mark(symbol, price)  # type: ignore[arg-type]
        else:
            pf.apply_fill(*step)  # type: ignore[arg-type]
        lhs = capital + pf.realized_pnl + pf.unrealized_pnl - pf.total_charges
        scale = capital + sum(abs(p.buy_value) + abs(p.sell_value) for p in pf.positions.values())
        assert lhs == pytest.approx(pf.equity, abs=1e-9 * scale)
    net = {key: p.buy_quantity - p.sell_quantity for key, p in pf.positions.items()}
    assert net == {key: p.quantity for key, p in pf.positions.items()}


@pytest.mark.parametrize(
    ("exchange", "hh", "mm", "due"),
    [
        ("NSE", 15, 19, False),
        ("NSE", 15, 20, True),
        ("NSE", 15, 24, True),
        ("NFO", 15, 24, False),
        ("NFO", 15, 25, True),
        ("BFO", 15, 30, True),
        ("NFO", 9, 15, False),
    ],
)
def test_mis_square_off_due_at_zerodha_times(exchange: str, hh: int, mm: int, due: bool) -> None:
    assert mis_square_off_due(Product.MIS, exchange, at(hh, mm)) is due


def test_square_off_is_never_due_for_carry_products() -> None:
    assert not mis_square_off_due(Product.NRML, "NFO", at(15, 29))
    assert not mis_square_off_due(Product.CNC, "NSE", at(15, 29))


def test_square_off_time_for_unknown_exchange_fails_clearly() -> None:
    assert mis_square_off_time("NFO") == time(15, 25)
    with pytest.raises(ValueError, match="'INDICES'"):
        mis_square_off_due(Product.MIS, "INDICES", at(15, 0))

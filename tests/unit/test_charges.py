"""Zerodha charges: the reference's test vectors (kite-and-nse.md §2.7) and the dated table."""

from __future__ import annotations

from datetime import date

import pytest

from shared.brokers.charges import (
    NO_CHARGES,
    ZERODHA_RATES,
    ChargeBreakdown,
    Segment,
    exercise_stt,
    fill_charges,
    order_charges,
    rates_on,
    segment_for,
    square_off_charge,
)
from shared.enums import Side

AFTER_BUDGET_2026 = date(2026, 4, 1)
BEFORE_BUDGET_2026 = date(2026, 3, 31)
PAISA = 0.005


def round_trip(segment: Segment, qty: int, buy: float, sell: float, day: date) -> ChargeBreakdown:
    return order_charges(segment, Side.BUY, qty * buy, day) + order_charges(segment, Side.SELL, qty * sell, day)


def test_option_round_trip_matches_reference_vector() -> None:
    c = round_trip(Segment.OPTIONS, 65, 100.0, 110.0, AFTER_BUDGET_2026)
    assert c.brokerage == pytest.approx(40.0)
    assert c.stt == pytest.approx(10.725)
    assert c.exchange_txn == pytest.approx(4.7816, abs=1e-4)
    assert c.ipft == pytest.approx(0.0683, abs=1e-4)
    assert c.sebi_fee == pytest.approx(0.0137, abs=1e-4)
    assert c.stamp_duty == pytest.approx(0.195)
    assert c.gst == pytest.approx(8.0754, abs=1e-4)
    assert c.total == pytest.approx(63.86, abs=PAISA)


def test_future_round_trip_matches_reference_vector() -> None:
    c = round_trip(Segment.FUTURES, 65, 25_000.0, 25_100.0, AFTER_BUDGET_2026)
    assert c.brokerage == pytest.approx(40.0)  # 0.03% of 16 lakh is above the ₹20 cap
    assert c.stt == pytest.approx(815.75)
    assert c.exchange_txn == pytest.approx(56.34, abs=PAISA)
    assert c.ipft == pytest.approx(3.26, abs=PAISA)
    assert c.sebi_fee == pytest.approx(3.26, abs=PAISA)
    assert c.stamp_duty == pytest.approx(32.50)
    assert c.gst == pytest.approx(18.51, abs=PAISA)
    assert c.total == pytest.approx(969.61, abs=PAISA)


def test_equity_intraday_round_trip_matches_reference_vector() -> None:
    c = round_trip(Segment.EQUITY_INTRADAY, 100, 1_500.0, 1_510.0, AFTER_BUDGET_2026)
    assert c.brokerage == pytest.approx(40.0)
    assert c.stt == pytest.approx(37.75)
    assert c.exchange_txn == pytest.approx(8.94, abs=PAISA)
    assert c.ipft == pytest.approx(0.30, abs=PAISA)
    assert c.sebi_fee == pytest.approx(0.30, abs=PAISA)
    assert c.stamp_duty == pytest.approx(4.50)
    assert c.gst == pytest.approx(8.92, abs=PAISA)
    assert c.total == pytest.approx(100.71, abs=PAISA)


def test_total_is_the_sum_of_the_parts() -> None:
    c = order_charges(Segment.FUTURES, Side.BUY, 1_000_000.0, AFTER_BUDGET_2026)
    parts = c.brokerage + c.stt + c.exchange_txn + c.ipft + c.sebi_fee + c.stamp_duty + c.gst
    assert c.total == pytest.approx(parts)


@pytest.mark.parametrize(
    ("segment", "before", "after"),
    [(Segment.FUTURES, 0.0002, 0.0005), (Segment.OPTIONS, 0.001, 0.0015)],
)
def test_fno_sell_stt_rises_on_1_april_2026(segment: Segment, before: float, after: float) -> None:
    turnover = 100_000.0
    old = order_charges(segment, Side.SELL, turnover, BEFORE_BUDGET_2026)
    new = order_charges(segment, Side.SELL, turnover, AFTER_BUDGET_2026)
    assert old.stt == pytest.approx(before * turnover)
    assert new.stt == pytest.approx(after * turnover)
    assert new.exchange_txn == pytest.approx(old.exchange_txn)  # only STT changed


@pytest.mark.parametrize(("segment", "rate"), [(Segment.FUTURES, 0.000125), (Segment.OPTIONS, 0.000625)])
def test_fno_sell_stt_before_october_2024(segment: Segment, rate: float) -> None:
    c = order_charges(segment, Side.SELL, 100_000.0, date(2024, 9, 30))
    assert c.stt == pytest.approx(rate * 100_000.0)


def test_equity_intraday_stt_unchanged_across_cards() -> None:
    days = [date(2024, 1, 2), date(2025, 1, 2), date(2026, 6, 1)]
    stts = [order_charges(Segment.EQUITY_INTRADAY, Side.SELL, 100_000.0, d).stt for d in days]
    assert stts == pytest.approx([25.0, 25.0, 25.0])


def test_buy_side_pays_no_fno_stt_but_pays_stamp_duty() -> None:
    buy = order_charges(Segment.OPTIONS, Side.BUY, 10_000.0, AFTER_BUDGET_2026)
    sell = order_charges(Segment.OPTIONS, Side.SELL, 10_000.0, AFTER_BUDGET_2026)
    assert buy.stt == 0.0
    assert buy.stamp_duty == pytest.approx(0.3)
    assert sell.stamp_duty == 0.0


def test_delivery_has_no_brokerage_and_stt_on_both_sides() -> None:
    buy = order_charges(Segment.EQUITY_DELIVERY, Side.BUY, 150_000.0, AFTER_BUDGET_2026)
    sell = order_charges(Segment.EQUITY_DELIVERY, Side.SELL, 151_000.0, AFTER_BUDGET_2026)
    assert buy.brokerage == sell.brokerage == 0.0
    assert buy.stt == pytest.approx(150.0)
    assert sell.stt == pytest.approx(151.0)
    assert buy.stamp_duty == pytest.approx(22.5)  # 0.015%
    assert sell.stamp_duty == 0.0
    # GST is on exchange + IPFT + SEBI only, since brokerage is zero
    assert buy.gst == pytest.approx(0.18 * (buy.exchange_txn + buy.ipft + buy.sebi_fee))


def test_small_intraday_order_pays_percentage_brokerage_below_cap() -> None:
    c = order_charges(Segment.EQUITY_INTRADAY, Side.BUY, 10_000.0, AFTER_BUDGET_2026)
    assert c.brokerage == pytest.approx(3.0)  # 0.03% of ₹10,000


def test_zero_turnover_costs_nothing() -> None:
    assert order_charges(Segment.OPTIONS, Side.BUY, 0.0, AFTER_BUDGET_2026) == NO_CHARGES
    assert NO_CHARGES.total == 0.0


def test_negative_turnover_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        order_charges(Segment.OPTIONS, Side.BUY, -1.0, AFTER_BUDGET_2026)


def test_partial_fills_sum_to_the_order_and_pay_flat_option_brokerage_once() -> None:
    day = AFTER_BUDGET_2026
    turnovers = [650.0, 1300.0, 4550.0]
    before = 0.0
    total = NO_CHARGES
    for t in turnovers:
        total = total + fill_charges(Segment.OPTIONS, Side.BUY, before, t, day)
        before += t
    whole = order_charges(Segment.OPTIONS, Side.BUY, sum(turnovers), day)
    assert total.brokerage == pytest.approx(20.0)
    assert total.total == pytest.approx(whole.total)


def test_fill_charges_stop_adding_brokerage_once_the_cap_is_reached() -> None:
    first = fill_charges(Segment.FUTURES, Side.BUY, 0.0, 1_000_000.0, AFTER_BUDGET_2026)
    second = fill_charges(Segment.FUTURES, Side.BUY, 1_000_000.0, 1_000_000.0, AFTER_BUDGET_2026)
    assert first.brokerage == pytest.approx(20.0)
    assert second.brokerage == pytest.approx(0.0)
    assert second.exchange_txn == pytest.approx(first.exchange_txn)


def test_rates_on_picks_the_card_in_force() -> None:
    assert rates_on(date(2024, 9, 30)).effective == date.min
    assert rates_on(date(2024, 10, 1)).effective == date(2024, 10, 1)
    assert rates_on(date(2026, 3, 31)).effective == date(2024, 10, 1)
    assert rates_on(date(2026, 4, 1)).effective == date(2026, 4, 1)
    assert [c.effective for c in ZERODHA_RATES] == sorted(c.effective for c in ZERODHA_RATES)


def test_rates_on_before_the_first_card_fails_clearly() -> None:
    table = ZERODHA_RATES[1:]
    with pytest.raises(ValueError, match="no rate card in force on 2020-01-01"):
        rates_on(date(2020, 1, 1), table)


def test_exercise_stt_and_square_off_fee() -> None:
    assert exercise_stt(10_000.0, date(2026, 4, 1)) == pytest.approx(15.0)
    assert exercise_stt(10_000.0, date(2026, 3, 31)) == pytest.approx(12.5)
    assert square_off_charge(date(2026, 4, 1)) == pytest.approx(59.0)


@pytest.mark.parametrize(
    ("exchange", "product", "itype", "segment"),
    [
        ("NSE", "MIS", "EQ", Segment.EQUITY_INTRADAY),
        ("NSE", "CNC", "EQ", Segment.EQUITY_DELIVERY),
        ("NFO", "MIS", "FUT", Segment.FUTURES),
        ("NFO", "NRML", "CE", Segment.OPTIONS),
        ("BFO", "NRML", "PE", Segment.OPTIONS),
    ],
)
def test_segment_for(exchange: str, product: str, itype: str, segment: Segment) -> None:
    assert segment_for(exchange, product, itype) is segment


@pytest.mark.parametrize(("exchange", "product", "itype"), [("NSE", "NRML", "EQ"), ("NFO", "MIS", "EQ")])
def test_segment_for_refuses_unknown_combinations(exchange: str, product: str, itype: str) -> None:
    with pytest.raises(ValueError, match="segment_for"):
        segment_for(exchange, product, itype)

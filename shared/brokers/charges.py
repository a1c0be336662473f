"""Zerodha brokerage and statutory charges, from a rate table keyed by effective date.

Rates change (STT on F&O rose on 1 Apr 2026), so every computation takes the IST trade
date and uses the rates in force that day. Sources and test vectors:
/work/shared/reference/kite-and-nse.md §2.7; choices (no STT rounding, brokerage per order)
are explained in docs/paper-broker.md.

Charges are computed per executed *order* from its filled turnover; ``fill_charges`` gives
the increment a fill adds, so partial fills sum to the order's charges (brokerage is capped
per order, not per fill).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum
from typing import Final

from shared.enums import Exchange, InstrumentType, Product, Side

CRORE: Final = 10_000_000.0


def _pct(value: float) -> float:
    """A percentage as written in the reference (0.03 -> 0.0003), to keep the table readable."""
    return value / 100.0


class Segment(StrEnum):
    """The charge segments Zerodha prices differently."""

    EQUITY_INTRADAY = "EQUITY_INTRADAY"
    EQUITY_DELIVERY = "EQUITY_DELIVERY"
    FUTURES = "FUTURES"
    OPTIONS = "OPTIONS"


_CASH_EXCHANGES: Final = frozenset({Exchange.NSE, Exchange.BSE})
_DERIVATIVE_EXCHANGES: Final = frozenset({Exchange.NFO, Exchange.BFO})


def segment_for(exchange: str, product: str, instrument_type: str) -> Segment:
    """The charge segment of an order: NSE/BSE by product, NFO/BFO by instrument type."""
    if exchange in _CASH_EXCHANGES and instrument_type == InstrumentType.EQ:
        if product == Product.MIS:
            return Segment.EQUITY_INTRADAY
        if product == Product.CNC:
            return Segment.EQUITY_DELIVERY
        raise ValueError(f"segment_for: product {product!r} on {exchange}; expected MIS or CNC")
    if exchange in _DERIVATIVE_EXCHANGES:
        if instrument_type == InstrumentType.FUT:
            return Segment.FUTURES
        if instrument_type in (InstrumentType.CE, InstrumentType.PE):
            return Segment.OPTIONS
    raise ValueError(
        f"segment_for: no charge segment for exchange {exchange!r}, instrument_type {instrument_type!r}; "
        "expected NSE/BSE EQ or NFO/BFO FUT/CE/PE"
    )


@dataclass(frozen=True, slots=True)
class SegmentRates:
    """One segment's rates, as fractions of turnover (price x quantity) of one order."""

    brokerage_cap: float  # rupees per executed order
    brokerage_rate: float | None  # None: a flat ``brokerage_cap`` per order (options)
    stt_buy: float
    stt_sell: float
    exchange_txn: float
    ipft: float
    stamp_buy: float


@dataclass(frozen=True, slots=True)
class RateCard:
    """All rates in force from ``effective`` (an IST date) until the next card."""

    effective: date
    segments: Mapping[Segment, SegmentRates]
    option_exercise_stt: float  # of intrinsic value, on exercised options
    sebi_per_crore: float = 10.0
    gst: float = 0.18
    square_off_fee: float = 50.0  # per order Zerodha's RMS squares off, plus GST


def _equity(exchange_txn: float = _pct(0.00297)) -> dict[Segment, SegmentRates]:
    return {
        Segment.EQUITY_INTRADAY: SegmentRates(
            brokerage_cap=20.0,
            brokerage_rate=_pct(0.03),
            stt_buy=0.0,
            stt_sell=_pct(0.025),
            exchange_txn=exchange_txn,
            ipft=_pct(0.0001),
            stamp_buy=_pct(0.003),
        ),
        # DP charges on delivery sells are per scrip per day, not per order: not modelled.
        Segment.EQUITY_DELIVERY: SegmentRates(
            brokerage_cap=0.0,
            brokerage_rate=0.0,
            stt_buy=_pct(0.1),
            stt_sell=_pct(0.1),
            exchange_txn=exchange_txn,
            ipft=_pct(0.0001),
            stamp_buy=_pct(0.015),
        ),
    }


def _fno(stt_futures: float, stt_options: float) -> dict[Segment, SegmentRates]:
    return {
        Segment.FUTURES: SegmentRates(
            brokerage_cap=20.0,
            brokerage_rate=_pct(0.03),
            stt_buy=0.0,
            stt_sell=stt_futures,
            exchange_txn=_pct(0.00173),
            ipft=_pct(0.0001),
            stamp_buy=_pct(0.002),
        ),
        Segment.OPTIONS: SegmentRates(
            brokerage_cap=20.0,
            brokerage_rate=None,
            stt_buy=0.0,
            stt_sell=stt_options,
            exchange_txn=_pct(0.03503),
            ipft=_pct(0.0005),
            stamp_buy=_pct(0.003),
        ),
    }


# The reference gives only STT for the period before 1 Oct 2024; the exchange charges of
# 1 Oct 2024 are used for it too (docs/paper-broker.md, "Rate table").
ZERODHA_RATES: Final[tuple[RateCard, ...]] = (
    RateCard(
        effective=date.min,
        segments={**_equity(), **_fno(stt_futures=_pct(0.0125), stt_options=_pct(0.0625))},
        option_exercise_stt=_pct(0.125),
    ),
    RateCard(
        effective=date(2024, 10, 1),
        segments={**_equity(), **_fno(stt_futures=_pct(0.02), stt_options=_pct(0.1))},
        option_exercise_stt=_pct(0.125),
    ),
    RateCard(  # Budget 2026
        effective=date(2026, 4, 1),
        segments={**_equity(), **_fno(stt_futures=_pct(0.05), stt_options=_pct(0.15))},
        option_exercise_stt=_pct(0.15),
    ),
)


def rates_on(day: date, table: Sequence[RateCard] = ZERODHA_RATES) -> RateCard:
    """The card in force on IST date ``day`` (``table`` sorted by ``effective``)."""
    i = bisect.bisect_right([card.effective for card in table], day) - 1
    if i < 0:
        raise ValueError(f"rates_on: no rate card in force on {day}; the first starts {table[0].effective}")
    return table[i]


@dataclass(frozen=True, slots=True)
class ChargeBreakdown:
    """Charges of one order (or one fill's share of it), in rupees, unrounded."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange_txn: float = 0.0
    ipft: float = 0.0
    sebi_fee: float = 0.0
    stamp_duty: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return self.brokerage + self.stt + self.exchange_txn + self.ipft + self.sebi_fee + self.stamp_duty + self.gst

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        return ChargeBreakdown(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        return ChargeBreakdown(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))


NO_CHARGES: Final = ChargeBreakdown()


def order_charges(
    segment: Segment,
    side: Side,
    turnover: float,
    day: date,
    table: Sequence[RateCard] = ZERODHA_RATES,
) -> ChargeBreakdown:
    """Charges of one executed order with filled ``turnover`` (sum of price x quantity) on ``day``."""
    if turnover < 0:
        raise ValueError(f"order_charges: turnover {turnover} is negative")
    if turnover == 0:
        return NO_CHARGES
    card = rates_on(day, table)
    r = card.segments[segment]
    rate = r.brokerage_rate
    brokerage = r.brokerage_cap if rate is None else min(r.brokerage_cap, rate * turnover)
    buy = side == Side.BUY
    exchange_txn = r.exchange_txn * turnover
    ipft = r.ipft * turnover
    sebi_fee = card.sebi_per_crore * turnover / CRORE
    return ChargeBreakdown(
        brokerage=brokerage,
        stt=(r.stt_buy if buy else r.stt_sell) * turnover,
        exchange_txn=exchange_txn,
        ipft=ipft,
        sebi_fee=sebi_fee,
        stamp_duty=r.stamp_buy * turnover if buy else 0.0,
        gst=card.gst * (brokerage + exchange_txn + ipft + sebi_fee),
    )


def fill_charges(
    segment: Segment,
    side: Side,
    turnover_before: float,
    fill_turnover: float,
    day: date,
    table: Sequence[RateCard] = ZERODHA_RATES,
) -> ChargeBreakdown:
    """What one fill adds to its order's charges, given the order's filled turnover before it.

    The fills of an order sum to ``order_charges`` of the whole order, so the ₹20 brokerage
    cap (and the options' flat ₹20) is charged once per order however it fills.
    """
    after = order_charges(segment, side, turnover_before + fill_turnover, day, table)
    return after - order_charges(segment, side, turnover_before, day, table)


def exercise_stt(intrinsic_value: float, day: date, table: Sequence[RateCard] = ZERODHA_RATES) -> float:
    """STT on an option exercised at expiry, on its total intrinsic value (rupees)."""
    return rates_on(day, table).option_exercise_stt * intrinsic_value


def square_off_charge(day: date, table: Sequence[RateCard] = ZERODHA_RATES) -> float:
    """Zerodha's fee for one order its RMS squares off (MIS after the cut-off), GST included."""
    card = rates_on(day, table)
    return card.square_off_fee * (1.0 + card.gst)

"""What the simulated exchange lists on a day: Kite-style symbols and stable tokens.

Tradingsymbols follow Kite's dump (reference/kite-and-nse.md §1.4):
- future: ``NIFTY26NOVFUT`` (YY + month);
- monthly option (the month's last expiry): ``NIFTY26NOV25900CE``;
- weekly option: ``NIFTY{YY}{M}{DD}{strike}{CE|PE}``, M = 1..9, O, N, D, e.g.
  ``NIFTY2611325900CE`` for 13 Jan 2026.

Tokens are ``exchange_token * 256 + segment`` as in Kite (NSE 1, NFO 2, indices 9).
Indices carry Kite's real tokens; equities the simulator's own stable exchange tokens
(``equities.csv``). An F&O exchange token is built from what the contract *is*, so a
contract keeps its token on every day it is listed and no two contracts share one::

    exchange_token = ((code * 4 + kind) * 512 + week % 512) * 2048 + strike / step

with ``code`` the underlying's (``IndexSpec.code``), ``kind`` 0 FUT / 1 CE / 2 PE,
``week`` the week of the scheduled expiry counted from 3 Jan 2000 (a holiday-moved
expiry stays in its week), and ``strike / step`` 0 for a future. It fits Kite's
24-bit exchange token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Final

from shared.instruments import Instrument, format_number
from shared.sim import calendar
from shared.sim.specs import (
    EQUITY_LOT,
    EQUITY_TICK,
    FNO_TICK,
    SMALL_EQUITY_TICK,
    SMALL_TICK_BELOW,
    EquitySpec,
    IndexSpec,
)

SEGMENT_CODE: Final = {"NSE": 1, "NFO": 2, "INDICES": 9}
KIND_CODE: Final = {"FUT": 0, "CE": 1, "PE": 2}
MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKLY_MONTH: Final = "123456789OND"
_WEEK_EPOCH: Final = date(2000, 1, 3)  # a Monday
_MAX_STRIKE_INDEX: Final = 2047


def future_symbol(name: str, expiry: date) -> str:
    return f"{name}{expiry:%y}{MONTHS[expiry.month - 1]}FUT"


def option_symbol(name: str, expiry: date, strike: float, option_type: str) -> str:
    """Kite's option tradingsymbol; the monthly form when ``expiry`` is the month's last."""
    k = format_number(strike)
    if calendar.is_monthly_expiry(expiry):
        return f"{name}{expiry:%y}{MONTHS[expiry.month - 1]}{k}{option_type}"
    return f"{name}{expiry:%y}{WEEKLY_MONTH[expiry.month - 1]}{expiry.day:02d}{k}{option_type}"


def fno_exchange_token(spec: IndexSpec, kind: str, expiry: date, strike: float = 0.0) -> int:
    # +3 days maps a Tue/Thu expiry, or one moved back as far as the Friday before, to its scheduled week
    week = ((expiry + timedelta(days=3)) - _WEEK_EPOCH).days // 7
    strike_index = round(strike / spec.strike_step)
    if not 0 <= strike_index <= _MAX_STRIKE_INDEX:
        raise ValueError(f"{spec.name} strike {strike} is outside the simulator's token range")
    return ((spec.code * 4 + KIND_CODE[kind]) * 512 + week % 512) * 2048 + strike_index


def _token(exchange_token: int, segment: str) -> int:
    return exchange_token * 256 + SEGMENT_CODE[segment]


def equity_tick(price: float) -> float:
    return SMALL_EQUITY_TICK if price < SMALL_TICK_BELOW else EQUITY_TICK


def index_instrument(spec: IndexSpec) -> Instrument:
    return Instrument(
        spec.instrument_token,
        spec.instrument_token >> 8,
        spec.index_symbol,
        spec.index_symbol,
        0.0,
        None,
        0.0,
        0.0,
        0,
        "EQ",
        "INDICES",
        "NSE",
    )


def equity_instrument(spec: EquitySpec, price: float) -> Instrument:
    return Instrument(
        _token(spec.exchange_token, "NSE"),
        spec.exchange_token,
        spec.tradingsymbol,
        spec.name,
        0.0,
        None,
        0.0,
        equity_tick(price),
        EQUITY_LOT,
        "EQ",
        "NSE",
        "NSE",
    )


def future_instrument(spec: IndexSpec, expiry: date) -> Instrument:
    et = fno_exchange_token(spec, "FUT", expiry)
    return Instrument(
        _token(et, "NFO"),
        et,
        future_symbol(spec.name, expiry),
        spec.name,
        0.0,
        expiry,
        0.0,
        FNO_TICK,
        spec.lot_size,
        "FUT",
        "NFO-FUT",
        "NFO",
    )


def option_instrument(spec: IndexSpec, expiry: date, strike: float, option_type: str) -> Instrument:
    et = fno_exchange_token(spec, option_type, expiry, strike)
    return Instrument(
        _token(et, "NFO"),
        et,
        option_symbol(spec.name, expiry, strike, option_type),
        spec.name,
        0.0,
        expiry,
        strike,
        FNO_TICK,
        spec.lot_size,
        option_type,
        "NFO-OPT",
        "NFO",
    )


def option_expiries(spec: IndexSpec, day: date, weekly_count: int) -> list[date]:
    """NIFTY: the next ``weekly_count`` weeklies plus the current monthly; others: the monthly."""
    expiries = set(calendar.monthly_expiries(day, 1))
    if spec.weekly:
        expiries.update(calendar.weekly_expiries(day, weekly_count))
    return sorted(expiries)


def strikes_around(spot: float, step: float, each_side: int) -> set[float]:
    atm = round(spot / step) * step
    return {atm + i * step for i in range(-each_side, each_side + 1) if atm + i * step > 0}


def list_instruments(
    day: date,
    underlyings: Sequence[IndexSpec],
    equities: Iterable[EquitySpec],
    prices: Mapping[str, float],
    strikes_each_side: int,
    weekly_count: int,
    listed_strikes: dict[tuple[str, date], set[float]],
) -> list[Instrument]:
    """The day's listing (``last_price`` 0; the market fills it in).

    ``prices`` holds each underlying's spot (by logical name) and each stock's price (by
    symbol) at the previous close: they centre the strikes and pick a stock's tick size.
    ``listed_strikes`` remembers the strikes of each live expiry across days, so a strike
    once listed stays listed until expiry (as on NSE); it is updated in place and
    pruned of expired entries.
    """
    for key in [k for k in listed_strikes if k[1] < day]:
        del listed_strikes[key]
    out = [index_instrument(s) for s in underlyings]
    out += [equity_instrument(e, prices[e.tradingsymbol]) for e in equities]
    for spec in underlyings:
        out += [future_instrument(spec, e) for e in calendar.monthly_expiries(day, 2)]
    for spec in underlyings:
        for expiry in option_expiries(spec, day, weekly_count):
            strikes = listed_strikes.setdefault((spec.name, expiry), set())
            strikes |= strikes_around(prices[spec.name], spec.strike_step, strikes_each_side)
            for k in sorted(strikes):
                out.append(option_instrument(spec, expiry, k, "CE"))
                out.append(option_instrument(spec, expiry, k, "PE"))
    return out

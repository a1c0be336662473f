"""The NSE calendar: trading days, session times and F&O expiries.

Holidays are data: NSE's published trading holidays for the capital-market and F&O
segments in 2025 and 2026, including the 15 Jan 2026 closure added later for the
Maharashtra municipal elections. Weekend holidays are left out (no effect). Outside those
years only weekends are closed, so extend ``NSE_HOLIDAYS`` when NSE publishes a new year.

Expiries (reference/kite-and-nse.md §2.4):
- from 1 Sept 2025: NIFTY weekly on Tuesday; every monthly index contract on the last
  Tuesday of the month;
- before that (for replays): Thursday weekly and last-Thursday monthly;
- an expiry that falls on a holiday moves to the previous trading day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from shared.clock import MARKET_CLOSE, MARKET_OPEN, ist_datetime, ist_to_ns

NSE_HOLIDAYS: Final[frozenset[date]] = frozenset(
    {
        # 2025
        date(2025, 2, 26),  # Mahashivratri
        date(2025, 3, 14),  # Holi
        date(2025, 3, 31),  # Id-Ul-Fitr (Ramzan Id)
        date(2025, 4, 10),  # Shri Mahavir Jayanti
        date(2025, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
        date(2025, 4, 18),  # Good Friday
        date(2025, 5, 1),  # Maharashtra Day
        date(2025, 8, 15),  # Independence Day
        date(2025, 8, 27),  # Ganesh Chaturthi
        date(2025, 10, 2),  # Mahatma Gandhi Jayanti / Dussehra
        date(2025, 10, 21),  # Diwali Laxmi Pujan (muhurat session only)
        date(2025, 10, 22),  # Diwali Balipratipada
        date(2025, 11, 5),  # Guru Nanak Jayanti
        date(2025, 12, 25),  # Christmas
        # 2026
        date(2026, 1, 15),  # Municipal Corporation elections in Maharashtra (added Jan 2026)
        date(2026, 1, 26),  # Republic Day
        date(2026, 3, 3),  # Holi
        date(2026, 3, 26),  # Shri Ram Navami
        date(2026, 3, 31),  # Shri Mahavir Jayanti
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
        date(2026, 5, 1),  # Maharashtra Day
        date(2026, 5, 28),  # Bakri Id
        date(2026, 6, 26),  # Muharram
        date(2026, 9, 14),  # Ganesh Chaturthi
        date(2026, 10, 2),  # Mahatma Gandhi Jayanti
        date(2026, 10, 20),  # Dussehra
        date(2026, 11, 10),  # Diwali Balipratipada
        date(2026, 11, 24),  # Guru Nanak Jayanti
        date(2026, 12, 25),  # Christmas
    }
)

#: First day of the Tuesday expiry regime (NSE, SEBI June 2025).
TUESDAY_EXPIRIES_FROM: Final = date(2025, 9, 1)
TUESDAY: Final = 1
THURSDAY: Final = 3

_ONE_DAY: Final = timedelta(days=1)


# -- trading days ------------------------------------------------------------------------


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in NSE_HOLIDAYS


def next_trading_day(day: date) -> date:
    """The first trading day strictly after ``day``."""
    day += _ONE_DAY
    while not is_trading_day(day):
        day += _ONE_DAY
    return day


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before ``day``."""
    day -= _ONE_DAY
    while not is_trading_day(day):
        day -= _ONE_DAY
    return day


def on_or_before(day: date) -> date:
    """``day`` if it trades, else the previous trading day (how a holiday moves an expiry)."""
    return day if is_trading_day(day) else previous_trading_day(day)


def trading_days(start: date, end: date) -> list[date]:
    """Trading days from ``start`` to ``end``, both included."""
    out: list[date] = []
    day = start
    while day <= end:
        if is_trading_day(day):
            out.append(day)
        day += _ONE_DAY
    return out


def session_open_ns(day: date) -> int:
    """09:15 IST of ``day`` as UTC epoch ns."""
    return ist_to_ns(ist_datetime(day, MARKET_OPEN))


def session_close_ns(day: date) -> int:
    """15:30 IST of ``day`` as UTC epoch ns (also the moment an F&O contract expires)."""
    return ist_to_ns(ist_datetime(day, MARKET_CLOSE))


# -- expiries ------------------------------------------------------------------------------


def _nominal_weekly(monday: date) -> date:
    """The scheduled (pre-holiday) weekly expiry of the week starting ``monday``."""
    tuesday = monday + timedelta(days=TUESDAY)
    return tuesday if tuesday >= TUESDAY_EXPIRIES_FROM else monday + timedelta(days=THURSDAY)


def weekly_expiries(from_day: date, n: int) -> list[date]:
    """The next ``n`` NIFTY weekly expiries on or after ``from_day`` (holiday-adjusted).

    The last one of a month is the monthly contract; callers that list weeklies and
    monthlies separately drop the overlap.
    """
    out: list[date] = []
    monday = from_day - timedelta(days=from_day.weekday())
    while len(out) < n:
        expiry = on_or_before(_nominal_weekly(monday))
        if expiry >= from_day:
            out.append(expiry)
        monday += timedelta(days=7)
    return out


def _last_weekday(year: int, month: int, weekday: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last = first_next - _ONE_DAY
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def monthly_expiry(year: int, month: int) -> date:
    """The monthly index F&O expiry: last Tuesday (last Thursday before Sept 2025), holiday-adjusted."""
    weekday = TUESDAY if date(year, month, 1) >= TUESDAY_EXPIRIES_FROM else THURSDAY
    return on_or_before(_last_weekday(year, month, weekday))


def monthly_expiries(from_day: date, n: int) -> list[date]:
    """The next ``n`` monthly expiries on or after ``from_day``."""
    out: list[date] = []
    year, month = from_day.year, from_day.month
    while len(out) < n:
        expiry = monthly_expiry(year, month)
        if expiry >= from_day:
            out.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def is_monthly_expiry(day: date) -> bool:
    return monthly_expiry(day.year, day.month) == day

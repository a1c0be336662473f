"""Time: UTC epoch nanoseconds inside, IST for people and for market rules.

Services take "now" from event time (tick and bar timestamps), never from the wall clock,
so a 60x simulation, a replay and a backtest behave like a real session. ``wall_ns`` is
the only wall-clock read in the code base, used for ``ts_init`` and heartbeats.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Final

IST: Final = timezone(timedelta(hours=5, minutes=30), "IST")
NS: Final = 1_000_000_000
IST_OFFSET_NS: Final = (5 * 3600 + 30 * 60) * NS
_DAY_NS: Final = 86_400 * NS
_EPOCH_DATE: Final = date(1970, 1, 1)

MARKET_OPEN: Final = dtime(9, 15)
MARKET_CLOSE: Final = dtime(15, 30)


def wall_ns() -> int:
    """The wall clock, for ``ts_init`` and heartbeats only."""
    return time.time_ns()


def ns_to_ist(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / NS, tz=IST)


def ist_to_ns(dt: datetime) -> int:
    """Epoch ns of an aware datetime; a naive one is taken as IST (Kite's convention)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=IST)
    return round(dt.timestamp() * 1_000_000) * 1000


def ist_datetime(day: date, at: dtime) -> datetime:
    return datetime.combine(day, at, tzinfo=IST)


def ist_day(ts_ns: int) -> date:
    """The IST calendar day of an event time."""
    return _day_number_date((ts_ns + IST_OFFSET_NS) // _DAY_NS)


@functools.lru_cache(maxsize=4096)
def _day_number_date(day_number: int) -> date:
    # cached: risk, the broker and the journals ask for the day of every event (a backtest, millions)
    return _EPOCH_DATE + timedelta(days=day_number)


def ns_to_iso_utc(ts_ns: int) -> str:
    """``2025-11-17T09:30:00Z`` style (the seed's journals use UTC with a Z)."""
    return _iso_utc_second(ts_ns // NS)


@functools.lru_cache(maxsize=1024)
def _iso_utc_second(seconds: int) -> str:
    # cached: an order's events and its fill are journaled with the same second, often several times
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IstFormatter:
    """Formats event times as ``2026-11-24T09:15:00.250+05:30`` cheaply.

    Ticks arrive many per second, so the formatted second is cached and only the
    milliseconds are appended per call.
    """

    __slots__ = ("_sec", "_text")

    def __init__(self) -> None:
        self._sec = -1
        self._text = ""

    def __call__(self, ts_ns: int) -> str:
        sec, rem = divmod(ts_ns, NS)
        if sec != self._sec:
            self._sec = sec
            self._text = datetime.fromtimestamp(sec, tz=IST).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._text}.{rem // 1_000_000:03d}+05:30"

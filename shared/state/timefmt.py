"""Journal timestamps: ISO 8601 UTC with a ``Z``, as the seed writes them.

A whole-second event time is written ``2025-11-17T09:30:00Z`` (the seed's form); a time with
a sub-second part keeps milliseconds, ``2025-11-17T09:30:00.250Z``, truncated (not rounded)
so that text order never contradicts event order. Exact nanoseconds, where they matter
(order rows), are kept in the row's ``extra`` as ``ts_ns``. Always event time, never wall time.
"""

from __future__ import annotations

import calendar
import re
from typing import Final

from shared.clock import NS, ns_to_iso_utc

_ISO: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")


def format_ts(ts_ns: int) -> str:
    """``2025-11-17T09:30:00Z``, or ``...:00.250Z`` when the time is not a whole second."""
    if ts_ns < 0:
        raise ValueError(f"format_ts: event time {ts_ns} ns is negative")
    text = ns_to_iso_utc(ts_ns)
    frac = ts_ns % NS
    if not frac:
        return text
    return f"{text[:-1]}.{frac // 1_000_000:03d}Z"


def parse_ts(text: str) -> int:
    """Epoch ns of a ``YYYY-MM-DDTHH:MM:SS[.fff...]Z`` timestamp; ValueError names what was expected."""
    m = _ISO.match(text)
    if m is None:
        raise ValueError(f"expected an ISO 8601 UTC time like 2025-11-17T09:30:00Z, got {text!r}")
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    try:
        secs = calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0))
        # timegm normalises out-of-range fields; reject them instead
        if calendar.monthrange(year, month)[1] < day or hh > 23 or mm > 59 or ss > 59:
            raise ValueError
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"expected a valid calendar time, got {text!r}") from None
    frac = m.group(7) or ""
    return secs * NS + (int(frac.ljust(9, "0")) if frac else 0)

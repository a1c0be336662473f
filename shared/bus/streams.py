"""Every Redis stream, consumer group and key the system uses, named once.

Names read well in ``redis-cli``: ``XRANGE ticks.NFO - + COUNT 3``. Nothing else in
the code base spells a stream name; build them with the helpers here.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = ""  # a deployment may namespace every key; kept empty so names match the docs

# Market data, one stream per exchange segment (Kite's `exchange` field).
TICK_EXCHANGES: Final = ("NSE", "NFO", "BSE", "BFO", "INDICES")


def ticks(exchange: str) -> str:
    """Stream of ticks for one exchange, e.g. ``ticks.NFO``."""
    return f"{PREFIX}ticks.{exchange}"


BARS: Final = f"{PREFIX}bars"
SIGNALS: Final = f"{PREFIX}signals"
ORDER_INTENTS: Final = f"{PREFIX}orders.intents"
RISK_DECISIONS: Final = f"{PREFIX}risk.decisions"
ORDERS_APPROVED: Final = f"{PREFIX}orders.approved"
ORDER_EVENTS: Final = f"{PREFIX}orders.events"
FILLS: Final = f"{PREFIX}fills"
POSITIONS: Final = f"{PREFIX}positions"
CONTROL: Final = f"{PREFIX}control"
CONTROL_FEED: Final = f"{PREFIX}control.feed"
HEALTH: Final = f"{PREFIX}health"
DEADLETTER: Final = f"{PREFIX}deadletter"
INSTRUMENTS: Final = f"{PREFIX}instruments"
ALERTS: Final = f"{PREFIX}alerts"  # things a person must look at (broker drift in live mode)

ALL_TICK_STREAMS: Final = tuple(ticks(x) for x in TICK_EXCHANGES)
#: What risk and execution follow: the segments orders go to (indices are not tradable).
TRADABLE_TICK_STREAMS: Final = (ticks("NFO"), ticks("NSE"))
ALL_STREAMS: Final = (
    *ALL_TICK_STREAMS,
    BARS,
    SIGNALS,
    ORDER_INTENTS,
    RISK_DECISIONS,
    ORDERS_APPROVED,
    ORDER_EVENTS,
    FILLS,
    POSITIONS,
    CONTROL,
    CONTROL_FEED,
    HEALTH,
    DEADLETTER,
    INSTRUMENTS,
    ALERTS,
)

# Approximate MAXLEN caps. Ticks and heartbeats are bounded so memory stays flat; order,
# fill and control streams are never trimmed silently (the journals are the durable record,
# and an operator trims those streams deliberately).
MAXLEN: Final[dict[str, int]] = {
    **dict.fromkeys(ALL_TICK_STREAMS, 200_000),
    BARS: 100_000,
    SIGNALS: 100_000,
    HEALTH: 10_000,
    DEADLETTER: 100_000,
    CONTROL_FEED: 10_000,
    INSTRUMENTS: 10,
    ALERTS: 10_000,
}


def maxlen(stream: str) -> int | None:
    """The approximate cap for a stream, or None when it must never be trimmed."""
    return MAXLEN.get(stream)


def group(service: str) -> str:
    """Consumer group of a service: every instance of ``fno`` reads as group ``fno``."""
    return f"{PREFIX}{service}"


# Plain keys (not streams).
def instruments_csv_key(day: str) -> str:
    """The day's instruments master (Kite CSV text), e.g. ``instruments:2026-11-24``."""
    return f"{PREFIX}instruments:{day}"


INSTRUMENTS_LATEST: Final = f"{PREFIX}instruments:latest"

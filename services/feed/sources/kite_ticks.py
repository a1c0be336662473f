"""pykiteconnect tick dicts to our ``Tick``: prices as they are, times made IST-aware.

The ticker turns the packet's epoch seconds into a *naive host-local* datetime
(``datetime.fromtimestamp``); ``datetime.timestamp()`` on a naive value reads it back in the
same host zone, so the epoch (and from it the IST time) is exact whatever the host's zone.
A packet without a timestamp (ltp and quote modes) takes the receive time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.clock import IST, NS
from shared.contracts import Tick
from shared.instruments import Instrument


def event_ns(value: datetime | None, received_ns: int) -> int:
    """Epoch ns of a ticker timestamp (naive host-local, or aware), else ``received_ns``."""
    if not isinstance(value, datetime):
        return received_ns
    return round(value.timestamp()) * NS


def ist(value: datetime) -> datetime:
    """A ticker timestamp as an aware IST datetime (naive values are host-local)."""
    return value.astimezone(IST)


def to_tick(d: dict[str, Any], inst: Instrument, received_ns: int) -> Tick:
    ts = event_ns(d.get("exchange_timestamp"), received_ns)
    ohlc = d.get("ohlc") or {}
    fields: dict[str, Any] = {
        "ts_event": ts,
        "ts_init": received_ns,
        "instrument_token": inst.instrument_token,
        "exchange": inst.exchange,
        "symbol": inst.tradingsymbol,
        "last_price": d["last_price"],
        "open": ohlc.get("open", 0.0),
        "high": ohlc.get("high", 0.0),
        "low": ohlc.get("low", 0.0),
        "close": ohlc.get("close", 0.0),
    }
    if d.get("tradable", True):
        fields.update(
            last_quantity=d.get("last_traded_quantity", 0), volume=d.get("volume_traded", 0), oi=d.get("oi", 0)
        )
    depth = d.get("depth")
    if depth:
        bids, asks = depth.get("buy", []), depth.get("sell", [])
        fields.update(
            bid_prices=tuple(lv["price"] for lv in bids), bid_quantities=tuple(lv["quantity"] for lv in bids),
            bid_orders=tuple(lv["orders"] for lv in bids), ask_prices=tuple(lv["price"] for lv in asks),
            ask_quantities=tuple(lv["quantity"] for lv in asks), ask_orders=tuple(lv["orders"] for lv in asks),
        )  # fmt: skip
    return Tick(**fields)

"""Kite's binary tick packets, byte for byte what pykiteconnect's ``_parse_binary`` reads.

A frame is ``uint16 n_packets`` then, per packet, ``uint16 length`` and the packet. All fields
are big-endian; prices are in paise (x100). Tradable packets: ltp 8, quote 44, full 184 bytes
(O,H,L,C). Index packets (segment 9): ltp 8, quote 28, full 32 bytes, in H,L,O,C order.
A 1-byte frame is a heartbeat.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

from shared.contracts import Tick

MODE_LTP: Final = "ltp"
MODE_QUOTE: Final = "quote"
MODE_FULL: Final = "full"
MODES: Final = (MODE_LTP, MODE_QUOTE, MODE_FULL)
INDEX_SEGMENT: Final = 9
HEARTBEAT: Final = b"\x00"

_LTP = struct.Struct(">II")
_INDEX_QUOTE = struct.Struct(">IIIIIIi")
_INDEX_FULL = struct.Struct(">IIIIIIiI")
_QUOTE = struct.Struct(">IIIIIIIIIII")
_FULL_EXTRA = struct.Struct(">IIIII")
_DEPTH = struct.Struct(">IIHxx")
_EMPTY_LEVEL = _DEPTH.pack(0, 0, 0)


def paise(price: float) -> int:
    return round(price * 100)


def _avg_price(tick: Tick) -> float:
    # The simulator does not track VWAP per instrument; the mid of the day's range stands in.
    return (tick.high + tick.low) / 2 if tick.high and tick.low else tick.last_price


def _depth(prices: tuple[float, ...], qtys: tuple[int, ...], orders: tuple[int, ...]) -> bytes:
    levels = [_DEPTH.pack(q, paise(p), o) for p, q, o in zip(prices[:5], qtys[:5], orders[:5], strict=False)]
    return b"".join(levels) + _EMPTY_LEVEL * (5 - len(levels))


def encode(tick: Tick, mode: str) -> bytes:
    """One packet of ``tick`` in ``mode``; the exchange timestamp is the tick's event second."""
    token = tick.instrument_token
    ltp = paise(tick.last_price)
    if mode == MODE_LTP:
        return _LTP.pack(token, ltp)
    ts = tick.ts_event // 1_000_000_000
    o, h, lo, c = paise(tick.open), paise(tick.high), paise(tick.low), paise(tick.close)
    if token & 0xFF == INDEX_SEGMENT:
        if mode == MODE_QUOTE:
            return _INDEX_QUOTE.pack(token, ltp, h, lo, o, c, ltp - c)
        return _INDEX_FULL.pack(token, ltp, h, lo, o, c, ltp - c, ts)
    quote = _QUOTE.pack(
        token, ltp, tick.last_quantity, paise(_avg_price(tick)), tick.volume,
        sum(tick.bid_quantities), sum(tick.ask_quantities), o, h, lo, c,
    )  # fmt: skip
    if mode == MODE_QUOTE:
        return quote
    return (
        quote
        + _FULL_EXTRA.pack(ts, tick.oi, tick.oi, tick.oi, ts)
        + _depth(tick.bid_prices, tick.bid_quantities, tick.bid_orders)
        + _depth(tick.ask_prices, tick.ask_quantities, tick.ask_orders)
    )


def frame(packets: Iterable[bytes]) -> bytes:
    """A binary message: the packet count, then each packet behind its length."""
    parts = [b""]
    n = 0
    for p in packets:
        parts.append(struct.pack(">H", len(p)))
        parts.append(p)
        n += 1
    parts[0] = struct.pack(">H", n)
    return b"".join(parts)

"""Back-fill of the minutes a ticker connection missed while it was dead (issue 6: no hole in the candles).

When a connection comes back, the minutes strictly between an instrument's last live tick and
its first live tick after the reconnect had no ticks at all, so every engine's 1-minute
CandleBuilder would have a hole there. Those whole minutes are fetched with Kite's
``historical_data`` (minute candles) and turned into ticks the way the replay turns candles
into ticks (``shared.replay.candle_path``), so the engines rebuild exactly the candle Kite has.

- Only whole missed minutes: the minute of the last live tick and the minute of the first tick
  after the reconnect already have ticks and are left alone (their bars are partial, not holes).
- Volume: ticks carry Kite's cumulative day volume and a bar's volume is its increase
  (shared/candles.py), so the synthetic ticks continue the cumulative volume of the last live
  tick by each candle's volume: each back-filled bar gets its candle's volume. They never go
  above the first live tick after the gap (Kite's candle and ticker volumes need not agree
  exactly; a cumulative volume going down would read as a session restart to the builder).
- Only within one IST day (the builder counts volume from 0 on a new day).
- Bounded: at most ``kite.backfill_max_instruments`` per reconnect, futures first, then indices,
  then the rest; requests paced to ``kite.historical_per_second`` (Kite: 3/s).
- An error (429, token, network) is logged with the instrument and the window and skips that
  instrument; it never stops the feed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.brokers.kite import OrderPacer
from shared.clock import NS, ist_day, ist_to_ns, ns_to_ist
from shared.contracts import Tick
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.replay import candle_path

log = logging.getLogger(__name__)

MINUTE_NS: Final = 60 * NS


def minute_of(ts_ns: int) -> int:
    """Start of the minute holding ``ts_ns`` (IST is UTC+5:30, so epoch minutes are IST minutes)."""
    return ts_ns - ts_ns % MINUTE_NS


@dataclass(frozen=True, slots=True)
class Window:
    """The whole minutes ``[start_ns, end_ns)`` one instrument missed, and its volume around them."""

    token: int
    start_ns: int  # the minute after the last live tick's
    end_ns: int  # the minute of the first live tick after the reconnect (exclusive)
    last: Tick  # the last live tick before the gap: the cumulative volume to continue from
    cap_volume: int | None  # the first live tick's cumulative volume after the gap, when known


def _priority(inst: Instrument) -> int:
    # Futures first (the F&O engine trades them), then indices (spot drives the options engine).
    return 0 if inst.is_future else 1 if inst.is_index else 2


def plan_windows(
    tokens: Iterable[int],
    last_live: Mapping[int, Tick],
    first_after: Mapping[int, Tick],
    resumed_ns: int,
    master: InstrumentsMaster,
    limit: int,
) -> list[Window]:
    """The instruments of a reconnected connection that missed at least one whole minute.

    ``last_live``: each instrument's last tick published before the gap; ``first_after``: its
    first tick after the reconnect (held, not yet published); ``resumed_ns``: the event time the
    connection resumed at (its first tick), the end of the gap for instruments with no tick yet.
    At most ``limit`` windows, futures first, then indices, then the rest.
    """
    windows: list[tuple[int, int, Window]] = []
    for token in tokens:
        last = last_live.get(token)
        if last is None:  # never streamed before: nothing to continue from
            continue
        after = first_after.get(token)
        end = minute_of(after.ts_event if after is not None else resumed_ns)
        start = minute_of(last.ts_event) + MINUTE_NS
        if end <= start or ist_day(last.ts_event) != ist_day(end):
            continue
        try:
            rank = _priority(master.by_token(token))
        except InstrumentError:
            continue
        cap = after.volume if after is not None else None
        windows.append((rank, token, Window(token, start, end, last, cap)))
    windows.sort(key=lambda w: (w[0], w[1]))
    return [w for _, _, w in windows[: max(0, limit)]]


def candle_ticks(
    inst: Instrument, window: Window, candles: Iterable[Mapping[str, Any]], received_ns: int
) -> list[Tick]:
    """``historical_data`` minute candles inside ``window`` as ticks (four a minute, as the replay makes them)."""
    last = window.last
    cum = last.volume
    day_high, day_low = last.high, last.low
    out: list[Tick] = []
    for candle in sorted(candles, key=lambda c: c["date"]):
        stamp = candle["date"]
        ts = ist_to_ns(stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp)))
        if not window.start_ns <= ts < window.end_ns:
            continue  # Kite's ``to`` is inclusive; minutes that have live ticks stay as they are
        o, h, lo, c = (float(candle[k]) for k in ("open", "high", "low", "close"))
        oi = int(candle.get("oi") or last.oi)
        for offset, price, part in candle_path(o, h, lo, c, int(candle.get("volume") or 0)):
            cum += part
            if window.cap_volume is not None:
                cum = min(cum, window.cap_volume)
            if day_high:  # the day's OHLC as Kite sends it; 0 when the mode carries none
                day_high, day_low = max(day_high, price), min(day_low, price)
            out.append(Tick(
                ts_event=ts + offset, ts_init=received_ns, instrument_token=inst.instrument_token,
                exchange=inst.exchange, symbol=inst.tradingsymbol, last_price=price, last_quantity=part,
                volume=cum, oi=oi, open=last.open, high=day_high, low=day_low, close=last.close,
            ))  # fmt: skip
    return out


class Backfiller:
    """Fetches windows with ``historical_data`` through the real ``kiteconnect`` client, paced."""

    def __init__(
        self,
        kite: Any,
        master: InstrumentsMaster,
        per_second: int = 3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], int] = time.time_ns,
    ) -> None:
        self.kite = kite
        self.master = master
        # Kite's historical limit is 3 requests/s; the order pacer's sliding windows keep under it.
        self.pacer = OrderPacer(per_second, per_second * 60, clock, sleep)
        self.wall = wall
        self.counters = {"backfill_requests": 0, "backfill_errors": 0, "backfill_ticks": 0}

    def fetch(self, windows: Iterable[Window]) -> list[Tick]:
        """Ticks for every window that could be fetched, in event-time order; errors are logged and skipped."""
        out: list[Tick] = []
        for w in windows:
            inst = self.master.by_token(w.token)
            start, last = ns_to_ist(w.start_ns), ns_to_ist(w.end_ns - NS)
            self.pacer.wait()
            self.counters["backfill_requests"] += 1
            try:
                candles = self.kite.historical_data(w.token, start, last, "minute", oi=True)
            except Exception as exc:  # 429, an expired token, the network: this instrument stays with its hole
                self.counters["backfill_errors"] += 1
                log.warning("back-fill of %s:%s %s-%s failed: %s: %s", inst.exchange, inst.tradingsymbol,
                            start.strftime("%H:%M"), last.strftime("%H:%M"), type(exc).__name__, exc)  # fmt: skip
                continue
            ticks = candle_ticks(inst, w, candles, self.wall())
            self.counters["backfill_ticks"] += len(ticks)
            out.extend(ticks)
        out.sort(key=lambda t: t.ts_event)
        return out

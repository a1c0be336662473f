"""Ticks to candles on event time: 1m/5m/15m bars aligned to the NSE open (09:15 IST).

``CandleBuilder.on_tick`` folds one tick into the open bar of its instrument and returns
the bars that this tick CLOSED (its event time reached their end); ``flush(ts_ns)`` closes
the bars whose period has ended by ``ts_ns`` without waiting for a tick (a timer, 15:30).

Rules (docs/indicators.md has the long form):

- Buckets are ``[start, end)`` in event time, counted from the session open (09:15 IST),
  so a 5m bar covers 09:15-09:20, 09:20-09:25, ...; a bar never runs past the session
  close (15:30): a timeframe that does not divide the session is cut short there.
- Only ticks inside the session make bars; a tick outside it (pre-open, closing session)
  still closes the bars whose end it has passed, and is then counted in
  ``off_session_ticks``.
- A bar's volume is the increase of the tick's cumulative day volume over the bar. The
  first tick of an IST day counts from 0 (the pre-open volume lands in the first bar);
  a cumulative volume that goes down, in event-time order, means the source restarted its
  session: it counts from 0 again (``volume_resets``); a bar volume is never negative.
- A period without ticks makes no bar (no flat bar is invented); the next bar opens at the
  bucket of its own first tick.
- A tick older than the open bar (or than the last closed one) is ignored and counted in
  ``late_ticks``. A tick inside the open bar but older than its last tick widens the high
  and low only: it is not the latest price and its cumulative volume is stale
  (``reordered_ticks``).
- Higher timeframes are folded from closed base bars (the smallest timeframe), which
  gives the same OHLCV as folding the ticks and keeps the per-tick path to one bar.
- A new IST day closes the previous day's bars (they ended at its close) and resets the
  cumulative-volume baseline.

A bar's ``ts_open`` is its bucket start and ``ts_event`` its bucket end (not the time of
its last tick), so replaying the same ticks gives the same bars.

Cost: the path for a tick that closes nothing is integer comparisons and a few attribute
writes (no datetime per tick); bucket arithmetic runs only when a bar changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import time as dtime
from typing import Any, Final

from shared.clock import IST_OFFSET_NS, MARKET_CLOSE, MARKET_OPEN, NS
from shared.contracts import Bar, Tick

MINUTE_NS: Final = 60 * NS
DAY_NS: Final = 86_400 * NS
DEFAULT_TIMEFRAMES: Final = ("1m", "5m", "15m")

_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([mh])$")
_NOT_OPEN: Final = -1  # ``end`` of a bar slot that holds no open bar


def timeframe_ns(timeframe: str) -> int:
    """Length of a timeframe such as ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"`` in ns."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise ValueError(f"timeframe {timeframe!r}: expected <minutes>m or <hours>h, e.g. '5m'")
    count, unit = int(match.group(1)), match.group(2)
    return count * MINUTE_NS * (60 if unit == "h" else 1)


def _offset_ns(at: dtime) -> int:
    return ((at.hour * 60 + at.minute) * 60 + at.second) * NS + at.microsecond * 1000


class _HigherBar:
    """The open bar of one higher timeframe, folded from closed base bars."""

    __slots__ = ("close", "end", "high", "length", "low", "oi", "open", "start", "timeframe", "volume")

    def __init__(self, timeframe: str, length: int) -> None:
        self.timeframe = timeframe
        self.length = length
        self.start = 0
        self.end = _NOT_OPEN
        self.open = self.high = self.low = self.close = 0.0
        self.volume = 0
        self.oi = 0


class _Instrument:
    """Per-instrument state: the open base bar inline (the hot path) and the higher bars."""

    __slots__ = (
        "close",
        "close_ns",
        "cum",
        "day",
        "end",
        "floor",
        "high",
        "higher",
        "last_ts",
        "low",
        "oi",
        "open",
        "open_ns",
        "start",
        "symbol",
        "token",
        "volume",
    )

    def __init__(self, token: int, symbol: str, higher: list[_HigherBar]) -> None:
        self.token = token
        self.symbol = symbol
        self.higher = higher
        self.day = -1
        self.open_ns = self.close_ns = 0
        self.start = 0
        self.end = _NOT_OPEN
        self.floor = 0  # ticks before this are late: start of the open bar or end of the last closed
        self.last_ts = 0
        self.open = self.high = self.low = self.close = 0.0
        self.volume = 0
        self.cum = 0  # last cumulative day volume seen, the baseline of the next increase
        self.oi = 0


class CandleBuilder:
    """Builds bars of several timeframes from ticks of many instruments, on event time.

    ``timeframes``: each ``"<n>m"`` or ``"<n>h"``; the smallest is the base and every other
    must be a multiple of it. ``session_open``/``session_close``: IST times bounding the
    bars (NSE: 09:15-15:30). ``clock``: when given, stamps ``ts_init`` of each bar (pass
    ``shared.clock.wall_ns`` in a service; leave ``None`` in replays for reproducible bars).
    """

    def __init__(
        self,
        timeframes: Iterable[str] = DEFAULT_TIMEFRAMES,
        *,
        session_open: dtime = MARKET_OPEN,
        session_close: dtime = MARKET_CLOSE,
        clock: Callable[[], int] | None = None,
    ) -> None:
        lengths = sorted({(timeframe_ns(tf), tf) for tf in timeframes})
        if not lengths:
            raise ValueError("CandleBuilder: timeframes is empty; expected e.g. ('1m', '5m', '15m')")
        if len({length for length, _ in lengths}) != len(lengths):
            raise ValueError(f"CandleBuilder: timeframes {[tf for _, tf in lengths]} name the same length twice")
        self._base_ns, self.base_timeframe = lengths[0]
        self._higher = [(tf, length) for length, tf in lengths[1:]]
        for tf, length in self._higher:
            if length % self._base_ns:
                raise ValueError(
                    f"CandleBuilder: timeframe {tf!r} is not a multiple of the base timeframe {self.base_timeframe!r}"
                )
        self.timeframes: tuple[str, ...] = tuple(tf for _, tf in lengths)
        self._open_off = _offset_ns(session_open)
        self._close_off = _offset_ns(session_close)
        if not 0 <= self._open_off < self._close_off <= DAY_NS:
            raise ValueError(f"CandleBuilder: session {session_open}-{session_close} must open before it closes")
        self._clock = clock
        self._by_token: dict[int, _Instrument] = {}
        self.late_ticks = 0
        self.reordered_ticks = 0
        self.off_session_ticks = 0
        self.volume_resets = 0
        self.bars_closed = 0

    # -- ticks -------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> list[Bar]:
        """Fold ``tick`` into its instrument's bar; return the bars this tick closed (oldest first)."""
        st = self._by_token.get(tick.instrument_token)
        ts = tick.ts_event
        if st is not None and st.last_ts <= ts < st.end:
            # hot path: same bar, in order
            price = tick.last_price
            if price > st.high:
                st.high = price
            elif price < st.low:
                st.low = price
            st.close = price
            volume = tick.volume
            if volume >= st.cum:
                st.volume += volume - st.cum
            else:
                st.volume += volume
                self.volume_resets += 1
            st.cum = volume
            st.oi = tick.oi
            st.last_ts = ts
            return []
        return self._on_tick_slow(st, tick, ts)

    def _on_tick_slow(self, st: _Instrument | None, tick: Tick, ts: int) -> list[Bar]:
        if st is None:
            st = _Instrument(
                tick.instrument_token, tick.symbol, [_HigherBar(tf, length) for tf, length in self._higher]
            )
            self._by_token[tick.instrument_token] = st
        if ts < st.floor:
            self.late_ticks += 1
            return []
        if ts < st.end:  # inside the open bar, older than its last tick
            price = tick.last_price
            st.high = max(st.high, price)
            st.low = min(st.low, price)
            self.reordered_ticks += 1
            return []
        bars = self._close_ended(st, ts)
        day = (ts + IST_OFFSET_NS) // DAY_NS
        if day != st.day:
            st.day = day
            st.cum = 0  # the first tick of a day counts its cumulative volume from 0
            midnight = day * DAY_NS - IST_OFFSET_NS
            st.open_ns = midnight + self._open_off
            st.close_ns = midnight + self._close_off
        if not st.open_ns <= ts < st.close_ns:
            self.off_session_ticks += 1
            return bars
        length = self._base_ns
        start = st.open_ns + (ts - st.open_ns) // length * length
        st.start = st.floor = start
        st.end = min(start + length, st.close_ns)
        price = tick.last_price
        st.open = st.high = st.low = st.close = price
        volume = tick.volume
        if volume >= st.cum:
            st.volume = volume - st.cum
        else:
            st.volume = volume
            self.volume_resets += 1
        st.cum = volume
        st.oi = tick.oi
        st.last_ts = ts
        return bars

    # -- closing -----------------------------------------------------------------------
    def flush(self, ts_ns: int) -> list[Bar]:
        """Close every bar whose end is at or before event time ``ts_ns``; return them."""
        bars: list[Bar] = []
        for st in self._by_token.values():
            bars.extend(self._close_ended(st, ts_ns))
        return bars

    def _close_ended(self, st: _Instrument, ts: int) -> list[Bar]:
        bars: list[Bar] = []
        if st.end != _NOT_OPEN and st.end <= ts:
            bars.append(self._make_bar(st, st, self.base_timeframe))
            st.floor = st.end
            st.end = _NOT_OPEN
            self._fold(st)
        for hb in st.higher:
            if hb.end != _NOT_OPEN and hb.end <= ts:
                bars.append(self._make_bar(st, hb, hb.timeframe))
                hb.end = _NOT_OPEN
        return bars

    def _fold(self, st: _Instrument) -> None:
        """Add the base bar just closed to each higher timeframe's open bar."""
        for hb in st.higher:
            if hb.end == _NOT_OPEN or st.start >= hb.end:
                start = st.open_ns + (st.start - st.open_ns) // hb.length * hb.length
                hb.start = start
                hb.end = min(start + hb.length, st.close_ns)
                hb.open, hb.high, hb.low = st.open, st.high, st.low
                hb.volume = 0
            else:
                hb.high = max(hb.high, st.high)
                hb.low = min(hb.low, st.low)
            hb.close = st.close
            hb.volume += st.volume
            hb.oi = st.oi

    def _make_bar(self, st: _Instrument, bar: _Instrument | _HigherBar, timeframe: str) -> Bar:
        self.bars_closed += 1
        return Bar(
            ts_event=bar.end,
            ts_init=self._clock() if self._clock is not None else 0,
            instrument_token=st.token,
            symbol=st.symbol,
            timeframe=timeframe,
            ts_open=bar.start,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            oi=bar.oi,
        )

    # -- state across a restart ------------------------------------------------------------
    _INSTRUMENT_FIELDS: Final = ("token", "symbol", "day", "open_ns", "close_ns", "start", "end", "floor", "last_ts",
                                 "open", "high", "low", "close", "volume", "cum", "oi")  # fmt: skip
    _HIGHER_FIELDS: Final = ("timeframe", "start", "end", "open", "high", "low", "close", "volume", "oi")

    def snapshot(self) -> dict[str, Any]:
        """The bars in progress (and each instrument's volume baseline) as a JSON-able dict.

        Restored with ``restore``, the first bar after a restart is whole: the ticks replayed
        after the checkpoint continue it instead of starting a partial one.
        """
        return {
            "timeframes": list(self.timeframes),
            "instruments": [
                {
                    **{f: getattr(st, f) for f in self._INSTRUMENT_FIELDS},
                    "higher": [{f: getattr(h, f) for f in self._HIGHER_FIELDS} for h in st.higher],
                }
                for st in self._by_token.values()
            ],
        }

    def restore(self, data: Mapping[str, Any], *, where: str = "candles") -> bool:
        """Load a ``snapshot``; False (nothing changed) when it was taken with other timeframes."""
        if list(data.get("timeframes", ())) != list(self.timeframes):
            return False
        by_token: dict[int, _Instrument] = {}
        try:
            for entry in data["instruments"]:
                higher = [_HigherBar(tf, length) for tf, length in self._higher]
                for h, saved in zip(higher, entry["higher"], strict=True):
                    if saved["timeframe"] != h.timeframe:
                        raise ValueError(f"higher bar {saved['timeframe']!r} where {h.timeframe!r} was expected")
                    for f in self._HIGHER_FIELDS[1:]:
                        setattr(h, f, saved[f])
                st = _Instrument(int(entry["token"]), str(entry["symbol"]), higher)
                for f in self._INSTRUMENT_FIELDS[2:]:
                    setattr(st, f, entry[f])
                by_token[st.token] = st
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad candle state ({exc!r})") from None
        self._by_token = by_token
        return True

    # -- introspection -----------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Counts for a heartbeat: instruments seen, bars closed, ticks ignored or reordered."""
        return {
            "instruments": len(self._by_token),
            "bars_closed": self.bars_closed,
            "late_ticks": self.late_ticks,
            "reordered_ticks": self.reordered_ticks,
            "off_session_ticks": self.off_session_ticks,
            "volume_resets": self.volume_resets,
        }

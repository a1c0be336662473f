"""The kite source's back-fill of missed minutes: which minutes, and the ticks made from candles."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from datetime import time as dtime
from types import SimpleNamespace
from typing import Any

from services.feed.sources.kite import KiteSource
from services.feed.sources.kite_backfill import MINUTE_NS, Backfiller, candle_ticks, minute_of, plan_windows
from shared.candles import CandleBuilder
from shared.clock import IST, NS, ist_datetime, ist_to_ns
from shared.contracts import Tick
from shared.instruments import Instrument, InstrumentsMaster

DAY = date(2026, 11, 25)
FUT = Instrument(9001, 1, "NIFTY26NOVFUT", "NIFTY", 0.0, date(2026, 11, 25), 0.0, 0.1, 65, "FUT", "NFO-FUT", "NFO")
EQ = Instrument(9002, 2, "INFY", "INFY", 0.0, None, 0.0, 0.05, 1, "EQ", "NSE", "NSE")
IDX = Instrument(9003, 3, "NIFTY 50", "NIFTY 50", 0.0, None, 0.0, 0.05, 1, "EQ", "INDICES", "NSE")
MASTER = InstrumentsMaster([FUT, EQ, IDX])


def at(hh: int, mm: int, ss: int = 0) -> int:
    return ist_to_ns(ist_datetime(DAY, dtime(hh, mm, ss)))


def tick(inst: Instrument, ts: int, price: float, volume: int) -> Tick:
    return Tick(ts_event=ts, instrument_token=inst.instrument_token, exchange=inst.exchange,
                symbol=inst.tradingsymbol, last_price=price, volume=volume)  # fmt: skip


def candle(hh: int, mm: int, o: float, h: float, lo: float, c: float, v: int) -> dict[str, Any]:
    # as kiteconnect returns them: an aware datetime (parsed from "...+0530")
    return {"date": datetime(2026, 11, 25, hh, mm, tzinfo=IST), "open": o, "high": h, "low": lo, "close": c,
            "volume": v, "oi": 0}  # fmt: skip


def test_minute_of_is_the_ist_minute() -> None:
    assert minute_of(at(9, 31, 59) + 999) == at(9, 31)
    assert minute_of(at(9, 31)) == at(9, 31)


def test_plan_takes_only_whole_missed_minutes_futures_first_and_caps() -> None:
    last = {FUT.instrument_token: tick(FUT, at(9, 30, 40), 100, 1000),
            EQ.instrument_token: tick(EQ, at(9, 30, 10), 50, 10),
            IDX.instrument_token: tick(IDX, at(9, 30, 50), 20_000, 0)}  # fmt: skip
    first = {EQ.instrument_token: tick(EQ, at(9, 33, 5), 51, 90)}
    windows = plan_windows([EQ.instrument_token, IDX.instrument_token, FUT.instrument_token], last, first,
                           resumed_ns=at(9, 34, 2), master=MASTER, limit=10)  # fmt: skip
    assert [w.token for w in windows] == [FUT.instrument_token, IDX.instrument_token, EQ.instrument_token]
    by = {w.token: w for w in windows}
    # 09:30 and the minute it resumed in have ticks: only 09:31.. are missing
    assert (by[FUT.instrument_token].start_ns, by[FUT.instrument_token].end_ns) == (at(9, 31), at(9, 34))
    assert (by[EQ.instrument_token].start_ns, by[EQ.instrument_token].end_ns) == (at(9, 31), at(9, 33))
    assert by[EQ.instrument_token].cap_volume == 90 and by[FUT.instrument_token].cap_volume is None
    assert [w.token for w in plan_windows(by, last, first, at(9, 34, 2), MASTER, limit=1)] == [FUT.instrument_token]


def test_plan_skips_quick_reconnects_unknown_instruments_and_other_days() -> None:
    last = {FUT.instrument_token: tick(FUT, at(9, 30, 40), 100, 1000)}
    assert plan_windows([FUT.instrument_token], last, {}, at(9, 31, 30), MASTER, 10) == []  # no whole minute lost
    assert plan_windows([EQ.instrument_token], last, {}, at(9, 40), MASTER, 10) == []  # never streamed before
    yesterday = {FUT.instrument_token: tick(FUT, at(15, 29) - 86_400 * NS, 100, 1000)}
    assert plan_windows([FUT.instrument_token], yesterday, {}, at(9, 40), MASTER, 10) == []


def test_candle_ticks_rebuild_each_candle_with_its_volume_in_a_candle_builder() -> None:
    last = tick(FUT, at(9, 30, 40), 100.0, 1000)
    after = tick(FUT, at(9, 33, 1), 104.0, 1000 + 30 + 40 + 5)
    (window,) = plan_windows([FUT.instrument_token], {FUT.instrument_token: last}, {FUT.instrument_token: after},
                             after.ts_event, MASTER, 10)  # fmt: skip
    candles = [candle(9, 32, 102, 103.5, 101, 103, 40), candle(9, 30, 1, 1, 1, 1, 999),  # 09:30 has live ticks
               candle(9, 31, 100, 102, 99.5, 101.5, 30), candle(9, 33, 7, 7, 7, 7, 7)]  # fmt: skip
    ticks = candle_ticks(FUT, window, candles, received_ns=123)
    assert len(ticks) == 8 and all(t.ts_init == 123 for t in ticks)
    assert [t.ts_event for t in ticks] == sorted(t.ts_event for t in ticks)
    assert {minute_of(t.ts_event) for t in ticks} == {at(9, 31), at(9, 32)}

    builder = CandleBuilder(["1m"])
    bars = [b for t in [last, *ticks, after] for b in builder.on_tick(t)]
    assert [(b.ts_open, b.open, b.high, b.low, b.close, b.volume) for b in bars[1:]] == [
        (at(9, 31), 100, 102, 99.5, 101.5, 30),
        (at(9, 32), 102, 103.5, 101, 103, 40),
    ]
    assert builder.late_ticks == 0 and builder.volume_resets == 0
    (live,) = builder.flush(at(9, 34))
    assert live.volume == 5  # the live minute keeps only its own volume


def test_candle_ticks_never_pass_the_first_live_volume() -> None:
    # Kite's candle volumes and the ticker's cumulative volume need not agree: a cumulative
    # volume above the next live one would read as a session restart to the builder.
    last = tick(FUT, at(9, 30, 40), 100.0, 1000)
    after = tick(FUT, at(9, 32, 1), 101.0, 1010)
    (window,) = plan_windows([FUT.instrument_token], {FUT.instrument_token: last}, {FUT.instrument_token: after},
                             after.ts_event, MASTER, 10)  # fmt: skip
    ticks = candle_ticks(FUT, window, [candle(9, 31, 100, 102, 99.5, 101.5, 30)], 0)
    assert [t.volume for t in ticks] == [1007, 1010, 1010, 1010]
    builder = CandleBuilder(["1m"])
    for t in [last, *ticks, after]:
        builder.on_tick(t)
    assert builder.volume_resets == 0


class _Kite:
    """historical_data as kiteconnect exposes it: the first call fails like a 429, the next answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, datetime, datetime, str, bool]] = []

    def historical_data(self, token: int, start: datetime, end: datetime, interval: str, oi: bool = False) -> list:
        self.calls.append((token, start, end, interval, oi))
        if len(self.calls) == 1:
            raise RuntimeError("Too many requests")  # kiteconnect's NetworkException for a 429
        return [candle(9, 31, 50, 51, 49, 50.5, 8)]


def test_fetch_logs_and_skips_errors_and_keeps_to_the_rate_limit(caplog: Any) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    kite = _Kite()
    backfiller = Backfiller(kite, MASTER, per_second=3, clock=lambda: now[0], sleep=sleep, wall=lambda: 7)
    last = {t.instrument_token: tick(t, at(9, 30, 5), 50, 0) for t in (FUT, EQ, IDX)}
    windows = plan_windows(last, last, {}, at(9, 32, 3), MASTER, 10)
    ticks = backfiller.fetch([*windows, *windows])  # six requests
    assert len(kite.calls) == 6 and slept and sum(slept) >= 1.0  # the 4th waited for the next second
    token, start, end, interval, oi = kite.calls[0]
    assert token == FUT.instrument_token  # futures first
    assert (start, end, interval, oi) == (ist_datetime(DAY, dtime(9, 31)), ist_datetime(DAY, dtime(9, 31, 59)),
                                          "minute", True)  # fmt: skip
    assert end - start == timedelta(seconds=59)
    assert backfiller.counters["backfill_errors"] == 1 and len(ticks) == 5 * 4
    assert "back-fill of NFO:NIFTY26NOVFUT 09:31-09:31 failed" in caplog.text
    assert MINUTE_NS == 60 * NS


class _SlowKite:
    """historical_data that answers two candles, after ``gate`` opens."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def historical_data(self, token: int, start: datetime, end: datetime, interval: str, oi: bool = False) -> list:
        self.gate.wait(10)
        return [candle(9, 31, 100, 102, 99.5, 101.5, 30), candle(9, 32, 102, 103.5, 101, 103, 40)]


def _source(kite: Any, timeout: float) -> tuple[KiteSource, SimpleNamespace]:
    """A KiteSource without sockets: one reconnected connection holding a live tick of 09:33."""
    src = KiteSource.__new__(KiteSource)
    src.cfg = SimpleNamespace(backfill_timeout_seconds=timeout, backfill_settle_seconds=0.0,  # type: ignore[assignment]
                              backfill_max_instruments=10)  # fmt: skip
    src.master, src.alerts, src._queue = MASTER, [], deque()
    src.counters = {"backfills": 0, "backfill_timeouts": 0}
    src._lock, src._arrived = threading.Lock(), threading.Event()
    src._last_live = {FUT.instrument_token: tick(FUT, at(9, 30, 40), 100.0, 1000)}
    src.backfiller = Backfiller(kite, MASTER, per_second=3)
    src._pool = ThreadPoolExecutor(1)
    conn = SimpleNamespace(number=1, modes={FUT.instrument_token: "full"}, connects=0, holding=True,
                           held=[tick(FUT, at(9, 33, 1), 104.0, 1075)], hold_since=time.monotonic(), job=None,
                           windows=[])  # fmt: skip
    src.connections = [conn]  # type: ignore[list-item]
    return src, conn


def _first_batch(src: KiteSource) -> list[Tick]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = src.next_batch()
        if batch:
            return batch
    raise AssertionError("nothing was released")


def test_source_holds_live_ticks_until_the_back_fill_and_publishes_it_first() -> None:
    gate = threading.Event()
    src, conn = _source(_SlowKite(gate), timeout=30)
    assert src.next_batch() == [] and conn.holding  # the back-fill is running: the live tick waits
    gate.set()
    batch = _first_batch(src)
    assert [t.ts_event for t in batch] == sorted(t.ts_event for t in batch)
    assert [t.last_price for t in batch][-1] == 104.0 and len(batch) == 9  # 2 candles x 4, then the live tick
    assert not conn.holding and src.counters["backfills"] == 1 and src.alerts == []
    src._pool.shutdown()


def test_source_releases_live_ticks_after_the_timeout_and_alerts_the_gap() -> None:
    gate = threading.Event()
    src, conn = _source(_SlowKite(gate), timeout=0.3)
    try:
        batch = _first_batch(src)
        assert [t.last_price for t in batch] == [104.0]  # live ticks flow; the hole stays
        assert not conn.holding and src.counters["backfill_timeouts"] == 1
        (alert,) = src.alerts
        assert alert.code == "feed_gap" and alert.details["instruments"] == [FUT.instrument_token]
    finally:
        gate.set()
        src._pool.shutdown()
    assert src.next_batch() == []  # the late answer is dropped: it would be late for every engine

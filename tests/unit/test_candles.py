"""CandleBuilder: ticks to 1m/5m/15m bars on event time, aligned to 09:15 IST."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.candles import CandleBuilder, timeframe_ns
from shared.clock import IST, NS, ist_to_ns, ns_to_ist
from shared.contracts import Bar, Tick

DAY = datetime(2025, 11, 17, tzinfo=IST)  # a Monday
MIN = 60 * NS


def at(hh: int, mm: int, ss: float = 0.0, day: datetime = DAY) -> int:
    """Epoch ns of an IST wall time on ``day``."""
    return ist_to_ns(day.replace(hour=hh, minute=mm)) + round(ss * NS)


def tick(ts: int, price: float, volume: int = 0, *, token: int = 1, oi: int = 0) -> Tick:
    return Tick(
        ts_event=ts,
        instrument_token=token,
        exchange="NFO",
        symbol=f"SYM{token}",
        last_price=price,
        volume=volume,
        oi=oi,
    )


def feed(builder: CandleBuilder, ticks: list[Tick]) -> list[Bar]:
    bars: list[Bar] = []
    for t in ticks:
        bars.extend(builder.on_tick(t))
    return bars


def hm(ts: int) -> str:
    return ns_to_ist(ts).strftime("%H:%M")


def spans(bars: list[Bar], timeframe: str) -> list[str]:
    return [f"{hm(b.ts_open)}-{hm(b.ts_event)}" for b in bars if b.timeframe == timeframe]


# -- alignment and closing -----------------------------------------------------------------
def test_bars_align_to_the_session_open_for_each_timeframe() -> None:
    builder = CandleBuilder()
    ticks = [tick(at(9, 15) + i * 30 * NS, 100.0 + i, volume=10 * (i + 1)) for i in range(2 * 31)]  # to 09:45:30
    bars = feed(builder, ticks)
    assert spans(bars, "1m")[:3] == ["09:15-09:16", "09:16-09:17", "09:17-09:18"]
    assert len(spans(bars, "1m")) == 30
    assert spans(bars, "5m") == [f"{hm(at(9, 15 + 5 * k))}-{hm(at(9, 20 + 5 * k))}" for k in range(6)]
    assert spans(bars, "15m") == ["09:15-09:30", "09:30-09:45"]


def test_a_tick_closes_a_bar_only_when_event_time_reaches_its_end() -> None:
    builder = CandleBuilder()
    assert builder.on_tick(tick(at(9, 19, 0.0), 100.0)) == []
    assert builder.on_tick(tick(at(9, 19, 59.999), 101.0)) == []
    closed = builder.on_tick(tick(at(9, 20, 0.0), 102.0))  # [start, end): 09:20:00 opens the next bar
    assert [(b.timeframe, hm(b.ts_open), hm(b.ts_event)) for b in closed] == [
        ("1m", "09:19", "09:20"),
        ("5m", "09:15", "09:20"),
    ]
    assert closed[0].close == 101.0
    assert closed[1].ts_event == at(9, 20)


def test_ohlc_volume_and_oi_of_a_bar() -> None:
    builder = CandleBuilder(["1m"])
    prices = [100.0, 103.5, 99.0, 101.0]
    ticks = [
        tick(at(9, 16, s), p, volume=v, oi=o)
        for s, p, v, o in zip([1, 5, 20, 50], prices, [10, 25, 40, 70], [5, 6, 7, 8], strict=True)
    ]
    feed(builder, ticks)
    (bar,) = builder.flush(at(9, 17))
    assert (bar.open, bar.high, bar.low, bar.close) == (100.0, 103.5, 99.0, 101.0)
    assert bar.volume == 70  # first tick of the day counts from 0
    assert bar.oi == 8
    assert (bar.symbol, bar.instrument_token, bar.timeframe) == ("SYM1", 1, "1m")


def test_volume_is_the_increase_of_cumulative_volume_over_the_bar() -> None:
    builder = CandleBuilder(["1m", "5m"])
    feed(builder, [tick(at(9, 15, 1), 100, 1_000), tick(at(9, 15, 30), 100, 1_200)])
    bars = feed(builder, [tick(at(9, 16, 10), 100, 1_250), tick(at(9, 16, 40), 100, 1_400)])
    bars += builder.flush(at(9, 20))
    by_span = {(b.timeframe, hm(b.ts_open)): b.volume for b in bars}
    assert by_span == {("1m", "09:15"): 1_200, ("1m", "09:16"): 200, ("5m", "09:15"): 1_400}


def test_cumulative_volume_going_down_starts_a_new_count_and_is_never_negative() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, [tick(at(9, 15, 1), 100, 5_000), tick(at(9, 15, 2), 100, 5_100)])
    feed(builder, [tick(at(9, 15, 3), 100, 40), tick(at(9, 15, 4), 100, 60)])  # the source restarted
    (bar,) = builder.flush(at(9, 16))
    assert bar.volume == 5_100 + 60
    assert builder.volume_resets == 1


def test_a_minute_without_ticks_makes_no_bar_and_the_next_bar_opens_at_its_own_bucket() -> None:
    builder = CandleBuilder(["1m", "5m"])
    bars = feed(builder, [tick(at(9, 16, 10), 100, 10), tick(at(9, 23, 5), 104, 30), tick(at(9, 24, 0), 105, 31)])
    assert spans(bars, "1m") == ["09:16-09:17", "09:23-09:24"]
    assert spans(bars, "5m") == ["09:15-09:20"]
    rest = builder.flush(at(9, 25))
    assert spans(rest, "1m") == ["09:24-09:25"]
    assert spans(rest, "5m") == ["09:20-09:25"]
    assert rest[1].open == 104 and rest[1].volume == 21


def test_a_gap_across_a_higher_bucket_closes_it_before_the_new_bar() -> None:
    builder = CandleBuilder(["1m", "5m", "15m"])
    builder.on_tick(tick(at(9, 17), 100))
    closed = builder.on_tick(tick(at(10, 2), 101))
    assert [(b.timeframe, hm(b.ts_open)) for b in closed] == [("1m", "09:17"), ("5m", "09:15"), ("15m", "09:15")]


# -- late, reordered, off-session ----------------------------------------------------------
def test_a_tick_older_than_the_open_bar_is_ignored_and_counted() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, [tick(at(9, 15, 10), 100, 10), tick(at(9, 16, 10), 101, 20)])
    assert builder.on_tick(tick(at(9, 15, 50), 500, 15)) == []
    assert builder.late_ticks == 1
    (bar,) = builder.flush(at(9, 17))
    assert (bar.high, bar.volume) == (101, 10)


def test_a_tick_older_than_a_flushed_bar_is_late() -> None:
    builder = CandleBuilder(["1m"])
    builder.on_tick(tick(at(9, 15, 10), 100))
    assert len(builder.flush(at(9, 16))) == 1
    assert builder.on_tick(tick(at(9, 15, 59), 100)) == []
    assert builder.late_ticks == 1
    assert builder.flush(at(9, 30)) == []


def test_a_reordered_tick_inside_the_bar_widens_high_low_but_not_close_or_volume() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, [tick(at(9, 15, 10), 100, 10), tick(at(9, 15, 30), 101, 30)])
    builder.on_tick(tick(at(9, 15, 20), 90, 20))  # older than the last tick, same bar
    (bar,) = builder.flush(at(9, 16))
    assert (bar.low, bar.close, bar.volume) == (90, 101, 30)
    assert builder.reordered_ticks == 1
    assert builder.volume_resets == 0


def test_ticks_outside_the_session_make_no_bar_but_close_the_ended_ones() -> None:
    builder = CandleBuilder(["1m", "5m", "15m"])
    assert builder.on_tick(tick(at(9, 7), 100, 50_000)) == []  # pre-open
    builder.on_tick(tick(at(15, 29, 30), 101, 60_000))
    closed = builder.on_tick(tick(at(15, 35), 102, 61_000))  # closing session
    assert [(b.timeframe, hm(b.ts_open), hm(b.ts_event)) for b in closed] == [
        ("1m", "15:29", "15:30"),
        ("5m", "15:25", "15:30"),
        ("15m", "15:15", "15:30"),
    ]
    assert closed[0].volume == 60_000  # the pre-open volume lands in the first bar of the day
    assert builder.off_session_ticks == 2
    assert builder.flush(at(16, 0)) == []


def test_flush_at_the_close_ends_the_last_bars_of_the_day_at_15_30() -> None:
    builder = CandleBuilder()
    builder.on_tick(tick(at(15, 29, 59.5), 100, 10))
    assert builder.flush(at(15, 29, 59.9)) == []
    closed = builder.flush(at(15, 30))
    assert {b.timeframe: b.ts_event for b in closed} == {"1m": at(15, 30), "5m": at(15, 30), "15m": at(15, 30)}
    assert builder.flush(at(15, 30)) == []  # nothing closes twice


def test_a_timeframe_that_does_not_divide_the_session_is_cut_at_the_close() -> None:
    builder = CandleBuilder(["1m", "1h"])
    builder.on_tick(tick(at(15, 20), 100))
    closed = builder.flush(at(15, 30))
    assert [(b.timeframe, hm(b.ts_open), hm(b.ts_event)) for b in closed] == [
        ("1m", "15:20", "15:21"),
        ("1h", "15:15", "15:30"),
    ]


def test_a_new_ist_day_closes_the_previous_days_bars_and_resets_the_volume_baseline() -> None:
    builder = CandleBuilder(["1m", "5m"])
    builder.on_tick(tick(at(11, 2), 100, 900_000))
    next_day = DAY + timedelta(days=1)
    closed = builder.on_tick(tick(at(9, 15, 5, day=next_day), 105, 300))
    assert [(b.timeframe, hm(b.ts_open)) for b in closed] == [("1m", "11:02"), ("5m", "11:00")]
    assert all(ns_to_ist(b.ts_open).date() == DAY.date() for b in closed)
    (first,) = [b for b in builder.flush(at(9, 16, day=next_day)) if b.timeframe == "1m"]
    assert first.volume == 300
    assert builder.volume_resets == 0


def test_instruments_are_independent() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, [tick(at(9, 15, 1), 100, 10, token=1), tick(at(9, 15, 2), 200, 7, token=2)])
    closed = builder.on_tick(tick(at(9, 16, 1), 101, 20, token=1))
    assert [(b.instrument_token, b.close) for b in closed] == [(1, 100)]
    (other,) = [b for b in builder.flush(at(9, 16)) if b.instrument_token == 2]
    assert (other.close, other.volume, other.symbol) == (200, 7, "SYM2")


def test_clock_stamps_ts_init_when_given() -> None:
    builder = CandleBuilder(["1m"], clock=lambda: 42)
    builder.on_tick(tick(at(9, 15), 100))
    (bar,) = builder.flush(at(9, 16))
    assert bar.ts_init == 42
    assert CandleBuilder(["1m"]).timeframes == ("1m",)


@pytest.mark.parametrize(
    ("timeframes", "message"),
    [((), "empty"), (("1m", "7x"), "'7x'"), (("2m", "5m"), "not a multiple"), (("60m", "1h"), "same length")],
)
def test_bad_timeframes_are_rejected_with_the_reason(timeframes: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CandleBuilder(timeframes)


def test_timeframe_ns() -> None:
    assert timeframe_ns("1m") == MIN
    assert timeframe_ns("15m") == 15 * MIN
    assert timeframe_ns("1h") == 60 * MIN


# -- against an independent grouping -------------------------------------------------------
def reference_bars(ticks: list[Tick], minutes: int) -> dict[tuple[int, int], tuple[float, float, float, float, int]]:
    """OHLCV per (token, bucket start) by datetime arithmetic, for in-order ticks of one day."""
    grouped: dict[tuple[int, int], list[Tick]] = defaultdict(list)
    for t in ticks:
        local = ns_to_ist(t.ts_event)
        since_open = (local.hour * 60 + local.minute) - (9 * 60 + 15)
        if not 0 <= since_open < 375:
            continue
        start = local.replace(hour=9, minute=15, second=0, microsecond=0) + timedelta(
            minutes=since_open // minutes * minutes
        )
        grouped[(t.instrument_token, ist_to_ns(start))].append(t)
    out = {}
    last_cum: dict[int, int] = defaultdict(int)
    for key in sorted(grouped, key=lambda k: (k[1], k[0])):
        group = grouped[key]
        prices = [t.last_price for t in group]
        volume = group[-1].volume - last_cum[key[0]]
        last_cum[key[0]] = group[-1].volume
        out[key] = (prices[0], max(prices), min(prices), prices[-1], volume)
    return out


def random_session(seed: int, n_ticks: int, tokens: int) -> list[Tick]:
    rnd = random.Random(seed)
    ts = at(9, 10)
    price = dict.fromkeys(range(1, tokens + 1), 1000.0)
    cum = dict.fromkeys(price, 0)
    ticks = []
    for _ in range(n_ticks):
        # mostly busy, sometimes a gap of minutes (no bars), until just past the close
        ts += rnd.randrange(0, 10 * NS) if rnd.random() < 0.97 else rnd.randrange(60 * NS, 400 * NS)
        if ts >= at(15, 40):
            break
        token = rnd.randint(1, tokens)
        price[token] = round(max(1.0, price[token] + rnd.gauss(0, 1)), 2)
        cum[token] += rnd.randrange(0, 500)
        ticks.append(tick(ts, price[token], cum[token], token=token))
    return ticks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bars_match_an_independent_datetime_grouping(seed: int) -> None:
    ticks = random_session(seed, 3_000, tokens=3)
    builder = CandleBuilder()
    bars = feed(builder, ticks) + builder.flush(at(15, 30))
    for timeframe, minutes in (("1m", 1), ("5m", 5), ("15m", 15)):
        got = {
            (b.instrument_token, b.ts_open): (b.open, b.high, b.low, b.close, b.volume)
            for b in bars
            if b.timeframe == timeframe
        }
        assert got == reference_bars(ticks, minutes), timeframe


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 400 * NS), st.floats(1, 1e5, allow_nan=False), st.integers(0, 1_000)),
        min_size=1,
        max_size=80,
    )
)
def test_every_timeframe_accounts_for_all_volume_and_extremes(steps: list[tuple[int, float, int]]) -> None:
    builder = CandleBuilder()
    ts, cum, ticks = at(9, 15), 0, []
    for dt, price, dv in steps:
        ts += dt
        cum += dv
        ticks.append(tick(ts, price, cum))
    bars = feed(builder, ticks) + builder.flush(at(15, 30))
    inside = [t for t in ticks if t.ts_event < at(15, 30)]
    for timeframe in builder.timeframes:
        own = [b for b in bars if b.timeframe == timeframe]
        assert sum(b.volume for b in own) == (inside[-1].volume if inside else 0)
        assert max((b.high for b in own), default=None) == max((t.last_price for t in inside), default=None)
        assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in own)
        assert all(b.ts_event - b.ts_open <= timeframe_ns(timeframe) for b in own)
        assert [b.ts_open for b in own] == sorted({b.ts_open for b in own})

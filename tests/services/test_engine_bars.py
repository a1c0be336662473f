"""Engines publish every bar they close on ``bars`` (the dashboard's candle charts)."""

from __future__ import annotations

import redis

from services.fno.service import FnoService
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.config import Settings
from shared.contracts import Bar
from shared.instruments import InstrumentsMaster
from tests.services.test_engines import (  # noqa: F401  (fixtures)
    DAY,
    NFO,
    bar_ticks,
    drain,
    master,
    nifty,
    publish_master,
    read_stream,
    settings,
    started,
)


def test_closed_bars_go_to_the_bars_stream_including_the_close_flush(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster  # noqa: F811
) -> None:
    publish_master(bus, master, DAY)
    svc = started(FnoService, settings, bus)
    fut = nifty(master)
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, [25_000.0, 25_010.0, 25_020.0], start_bar=69)])
    drain(svc)
    mid = [m for m in read_stream(redis_client, streams.BARS) if isinstance(m, Bar)]
    assert mid and {b.symbol for b in mid} == {fut.tradingsymbol}
    # a tick of another future after 15:30 closes the open bars (flush): they are published too
    [late] = bar_ticks(master.futures("NIFTY")[1], [25_100.0], start_bar=75)[:1]
    bus.publish(NFO, late)
    drain(svc)
    bars = [m for m in read_stream(redis_client, streams.BARS) if isinstance(m, Bar)]
    assert svc.flushed and len(bars) > len(mid)
    assert {b.timeframe for b in bars} == set(svc.engine.timeframes)  # type: ignore[union-attr]
    assert len(bars) == svc.engine.counters()["bars"]  # type: ignore[union-attr]  # every bar the engine used
    by_tf: dict[str, list[int]] = {}
    for b in bars:
        by_tf.setdefault(b.timeframe, []).append(b.ts_open)
    assert all(ts == sorted(set(ts)) for ts in by_tf.values())  # once each, in order

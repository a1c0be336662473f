"""The feed service against a real Redis: sim and replay sources, subscriptions, master, scanner."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import redis

from services.feed.pacing import Pacer
from services.feed.service import FeedService
from services.feed.sources.sim import SimSource
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.config import load_settings
from shared.contracts import FeedSubscription, Tick
from shared.enums import FeedAction
from shared.errors import DataError
from shared.instruments import InstrumentsMaster
from shared.sim.market import SimMarket

DAY = date(2026, 11, 25)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def feed_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> Path:
    for key in list(os.environ):
        if key.startswith("KITE_ALGO"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("KITE_ALGO__DATA__SPEED", "max")
    monkeypatch.setenv("KITE_ALGO__DATA__START_DATE", DAY.isoformat())
    return tmp_path / "artifacts"


def _run_until(feed: FeedService, ticks: int) -> None:
    while feed.counters["ticks"] < ticks and not feed.finished:
        feed.run_once()


def _decoded(r: redis.Redis, stream: str) -> list[Tick]:
    return [codec.decode(f) for _, f in r.xrange(stream)]  # type: ignore[misc]


def test_sim_feed_publishes_readable_ticks_master_and_universe(
    feed_env: Path, bus: Bus, redis_client: redis.Redis
) -> None:
    feed = FeedService(load_settings(), bus)
    feed.on_start()
    _run_until(feed, 5000)
    feed.heartbeat(force=True)

    nfo = redis_client.xrange(streams.ticks("NFO"), count=50)
    assert nfo and all(f[b"type"] == b"tick" for _, f in nfo)
    assert any(f[b"symbol"].startswith(b"NIFTY") and f[b"symbol"].endswith(b"FUT") for _, f in nfo)
    assert nfo[0][1][b"time"].startswith(b"2026-11-25T09:15")
    assert redis_client.xlen(streams.ticks("NSE")) > 0 and redis_client.xlen(streams.ticks("INDICES")) > 0
    # every tick landed on its segment's stream
    assert {t.exchange for t in _decoded(redis_client, streams.ticks("NSE"))} == {"NSE"}

    text = redis_client.get(streams.INSTRUMENTS_LATEST).decode()
    master = InstrumentsMaster.from_csv_text(text)
    assert master.future("NIFTY", DAY).lot_size == 65
    assert redis_client.get(streams.instruments_csv_key("2026-11-25")).decode() == text
    assert (feed_env / "instruments" / "2026-11-25.csv").read_text() == text
    universe = (feed_env / "scanner" / "2026-11-25" / "universe.json").read_text()
    assert '"NIFTY"' in universe and '"lot_size": 65' in universe and '"equity"' in universe

    (hb,) = [codec.decode(f) for _, f in redis_client.xrange(streams.HEALTH)][-1:]
    assert hb.service == "feed" and hb.counters["ticks"] >= 5000


def test_a_paced_feed_stamps_ts_init_with_the_wall_time_of_publication(
    feed_env: Path, bus: Bus, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_ALGO__DATA__SPEED", "600")  # 10 minutes of market a second
    feed = FeedService(load_settings(), bus)
    feed.on_start()
    before = time.time_ns()
    _run_until(feed, 1000)
    after = time.time_ns()
    ticks = _decoded(redis_client, streams.ticks("NSE"))
    assert ticks and all(before <= t.ts_init <= after for t in ticks)
    # published when due: the second step's ticks went out ~step_ms/speed after the first's
    first, later = ticks[0], next(t for t in ticks if t.ts_event > ticks[0].ts_event)
    assert later.ts_init - first.ts_init >= (later.ts_event - first.ts_event) / 600 * 0.5


def test_subscription_requests_start_and_stop_option_ticks(
    feed_env: Path, bus: Bus, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE", "0")
    feed = FeedService(load_settings(), bus)
    feed.on_start()
    _run_until(feed, 2000)
    master = feed.source.master
    expiry = master.nearest_expiry("NIFTY", DAY)
    option = next(i for i in master.option_chain("NIFTY", expiry) if i.instrument_type == "CE")
    assert all(not t.symbol.endswith(("CE", "PE")) for t in _decoded(redis_client, streams.ticks("NFO")))

    sub = FeedSubscription(
        ts_event=1, action=FeedAction.SUBSCRIBE, requester="options", symbols=(f"NFO:{option.tradingsymbol}",)
    )
    bus.publish(streams.CONTROL_FEED, sub)
    bus.publish(streams.CONTROL_FEED, FeedSubscription(
        ts_event=1, action=FeedAction.SUBSCRIBE, requester="options", symbols=("NFO:NOPE",)))
    redis_client.delete(streams.ticks("NFO"))
    _run_until(feed, feed.counters["ticks"] + 20_000)
    assert option.tradingsymbol in {t.symbol for t in _decoded(redis_client, streams.ticks("NFO"))}
    assert feed.counters["subscription_errors"] == 1

    bus.publish(streams.CONTROL_FEED, FeedSubscription(
        ts_event=1, action=FeedAction.UNSUBSCRIBE, requester="options", instrument_tokens=(option.instrument_token,)))
    feed._next_control = 0.0  # at speed=max control.feed is read at most every 20 ms: read it now
    feed.run_once()
    redis_client.delete(streams.ticks("NFO"))
    _run_until(feed, feed.counters["ticks"] + 20_000)
    assert option.tradingsymbol not in {t.symbol for t in _decoded(redis_client, streams.ticks("NFO"))}


def _replay_folder(tmp_path: Path, rows: list[list[object]]) -> tuple[Path, str]:
    master = SimMarket(1, DAY).master
    folder = tmp_path / "replay"
    fut = master.future("NIFTY", DAY)
    (folder / "candles" / "NFO").mkdir(parents=True)
    master.to_csv(folder / "instruments.csv")
    with (folder / "candles" / "NFO" / f"{fut.tradingsymbol}.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "open", "high", "low", "close", "volume", "oi"])
        w.writerows(rows)
    return folder, fut.tradingsymbol


def test_replay_of_candles_reproduces_each_bar_in_time_order(
    feed_env: Path, bus: Bus, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, symbol = _replay_folder(tmp_path, [
        ["2026-11-25 09:15:00+05:30", 26000, 26010, 25990, 26005, 650, 100],
        ["2026-11-25 09:16:00+05:30", 26005, 26020, 26000, 26001, 1300, 100],
    ])
    monkeypatch.setenv("KITE_ALGO__DATA__SOURCE", "replay")
    monkeypatch.setenv("KITE_ALGO__DATA__REPLAY_PATH", str(folder))
    feed = FeedService(load_settings(), bus)
    feed.on_start()
    for _ in range(5):
        feed.run_once()
    assert feed.finished
    ticks = _decoded(redis_client, streams.ticks("NFO"))
    assert [t.symbol for t in ticks] == [symbol] * 8
    assert [t.last_price for t in ticks] == [26000, 26010, 25990, 26005, 26005, 26000, 26020, 26001]
    assert [t.ts_event for t in ticks] == sorted(t.ts_event for t in ticks)
    assert ticks[3].volume == 650 and ticks[-1].volume == 1950  # cumulative, per session


def test_replay_with_bad_rows_stops_with_file_and_line(
    feed_env: Path, bus: Bus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, symbol = _replay_folder(tmp_path, [
        ["2026-11-25 09:15:00+05:30", 26000, 26010, 25990, 26005, 650, 0],
        ["2026-11-25 09:16:00+05:30", 26005, 25000, 26000, 26001, 10, 0],  # high below open
        ["not a date", 1, 1, 1, 1, 1, 0],
    ])
    monkeypatch.setenv("KITE_ALGO__DATA__SOURCE", "replay")
    monkeypatch.setenv("KITE_ALGO__DATA__REPLAY_PATH", str(folder))
    with pytest.raises(DataError) as info:
        FeedService(load_settings(), bus)
    text = str(info.value)
    assert f"{symbol}.csv:3: inconsistent candle" in text
    assert f"{symbol}.csv:4:" in text


def test_pacer_maps_event_time_to_wall_time_at_the_configured_speed() -> None:
    pacer = Pacer(60)
    pacer.anchor(0)
    assert 0.9 < pacer.delay(60 * 1_000_000_000) <= 1.0  # a market minute is a wall second
    assert Pacer("max").delay(10**18) == 0.0


def test_feed_process_starts_publishes_and_stops_cleanly_on_sigterm(service_env: dict[str, str]) -> None:
    env = {**service_env, "KITE_ALGO__DATA__SPEED": "max", "KITE_ALGO__DATA__START_DATE": DAY.isoformat()}
    proc = subprocess.Popen([sys.executable, "-m", "services.feed"], env=env, cwd=ROOT, stderr=subprocess.PIPE)
    r = redis.Redis.from_url(env["REDIS_URL"])
    try:
        deadline = time.monotonic() + 30
        while r.xlen(streams.ticks("NFO")) < 1000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert r.xlen(streams.ticks("NFO")) >= 1000
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]
    last = codec.decode(r.xrevrange(streams.HEALTH, count=1)[0][1])
    assert last.service == "feed" and last.state == "STOPPED"


def test_feed_process_with_kite_source_and_no_credentials_exits_2(service_env: dict[str, str], tmp_path: Path) -> None:
    env = {**service_env, "KITE_ALGO__DATA__SOURCE": "kite",
           "KITE_ALGO__KITE__TOKENS_FILE": str(tmp_path / "missing.env")}  # fmt: skip
    env.pop("KITE_ACCESS_TOKEN", None)
    proc = subprocess.run([sys.executable, "-m", "services.feed"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "KITE_ACCESS_TOKEN" in proc.stderr and "missing.env" in proc.stderr and "--login" in proc.stderr


def test_a_restarted_feed_carries_on_after_the_last_published_tick(
    feed_env: Path, bus: Bus, redis_client: redis.Redis
) -> None:
    first = FeedService(load_settings(), bus)
    first.on_start()
    _run_until(first, 3000)
    last = max(t.ts_event for t in _decoded(redis_client, streams.ticks("NSE")))
    before = redis_client.xlen(streams.ticks("NSE"))

    restarted = FeedService(load_settings(), bus)  # as after kill -9: same config, same bus
    restarted.on_start()
    _run_until(restarted, 3000)
    fresh = _decoded(redis_client, streams.ticks("NSE"))[before:]
    assert fresh and min(t.ts_event for t in fresh) > last  # no event time published twice

    uninterrupted = SimSource(load_settings())
    stocks = {i.tradingsymbol for i in uninterrupted.master.equities()}
    steps = (uninterrupted.next_batch() or () for _ in range(400))
    expected = [t for batch in steps for t in batch if t.symbol in stocks and t.ts_event > last]
    assert [(t.symbol, t.last_price) for t in fresh[:50]] == [(t.symbol, t.last_price) for t in expected[:50]]

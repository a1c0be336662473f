"""The fno and equity engine services against a real Redis: intents, idempotent replay, checkpoints.

The services are driven in-process (``on_start`` then ``run_once`` until the stream is
drained) with a scripted price path that makes EMA20 cross EMA50 on 5m bars; one test runs
``python -m services.fno`` as a real process and stops it with SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
import redis

from services.equity.service import EquityService, long_only_by_default
from services.fno.service import FnoService
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.clock import MARKET_OPEN, ist_datetime, ist_to_ns
from shared.config import Settings, StrategySpec, load_settings
from shared.contracts import Heartbeat, InstrumentsPublished, Message, OrderIntent, Signal, Tick
from shared.enums import Product, ServiceState, Side, SignalKind
from shared.instruments import Instrument, InstrumentsMaster
from shared.runtime.engine_service import EngineService, StartupError, parse_entry_id, remap_snapshot
from shared.sim.market import SimMarket
from shared.state.scanner import universe_meta, write_universe

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2025, 11, 17)  # a Monday
BAR_NS = 300_000_000_000  # 5 minutes
NFO = streams.ticks("NFO")
NSE = streams.ticks("NSE")


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def master() -> InstrumentsMaster:
    return SimMarket(7, DAY).master


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path) -> Settings:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("KITE_ALGO_CONFIG", raising=False)
    return load_settings()


def publish_master(bus: Bus, master: InstrumentsMaster, day: date) -> None:
    """What FeedService.publish_master does: the CSV under both keys, then the announcement."""
    text = master.to_csv_text()
    key = streams.instruments_csv_key(day.isoformat())
    bus.redis.set(key, text)
    bus.redis.set(streams.INSTRUMENTS_LATEST, text)
    ts = ist_to_ns(ist_datetime(day, MARKET_OPEN))
    bus.publish(streams.INSTRUMENTS, InstrumentsPublished(ts_event=ts, day=day.isoformat(), key=key, count=len(master)))


def bar_ticks(inst: Instrument, closes: Sequence[float], *, start_bar: int = 0, day: date = DAY) -> list[Tick]:
    """Two ticks per 5m bar (10 s and 200 s into it), the second at the bar's close price."""
    t0 = ist_to_ns(ist_datetime(day, MARKET_OPEN))
    out: list[Tick] = []
    for k, close in enumerate(closes, start_bar):
        for offset_s, price in ((10, close - 0.05 * 60), (200, close)):
            out.append(
                Tick(
                    ts_event=t0 + k * BAR_NS + offset_s * 1_000_000_000,
                    instrument_token=inst.instrument_token,
                    exchange=inst.exchange,
                    symbol=inst.tradingsymbol,
                    last_price=round(price, 2),
                    last_quantity=inst.lot_size,
                    volume=inst.lot_size * 10 * (len(out) + 1),
                )
            )
    return out


def cross_up_path(start: float, down: float, up: float) -> list[float]:
    """55 falling bars (EMA20 < EMA50 once warm) then 12 rising ones: EMA20 crosses up at 14:25."""
    closes, price = [], start
    for _ in range(55):
        price -= down
        closes.append(price)
    for _ in range(12):
        price += up
        closes.append(price)
    return closes


def cross_down_path(start: float, up: float, down: float) -> list[float]:
    return [2 * start - p for p in cross_up_path(start, up, down)]


def read_stream(client: redis.Redis, stream: str) -> list[Message]:
    return [codec.decode(fields) for _id, fields in client.xrange(stream)]


def intents(client: redis.Redis) -> list[OrderIntent]:
    return [m for m in read_stream(client, streams.ORDER_INTENTS) if isinstance(m, OrderIntent)]


def started(cls: type[EngineService], settings: Settings, bus: Bus) -> EngineService:
    svc = cls(settings, bus)
    svc.read_block_ms = 10
    svc.on_start()
    return svc


def drain(svc: EngineService, rounds: int = 200) -> None:
    for _ in range(rounds):
        svc.step()
        if svc.last_batch == 0:
            return
    raise AssertionError("the stream did not drain")


def nifty(master: InstrumentsMaster, day: date = DAY) -> Instrument:
    return master.future("NIFTY", day)


# -- fno ---------------------------------------------------------------------------------------


def test_fno_universe_is_the_current_future_of_each_configured_name(
    settings: Settings, bus: Bus, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    svc = started(FnoService, settings, bus)
    assert svc.day == DAY
    assert sorted(info[0] for info in svc.symbols.values()) == sorted(settings.trading.fno_universe)
    assert svc.symbols[nifty(master).instrument_token] == ("NIFTY", nifty(master).tradingsymbol, "NFO")
    assert [s.id for s in svc.engine.strategies] == ["fno_intraday_trend", "ema20_50_intraday"]  # type: ignore[union-attr]


def test_fno_ema_crossover_publishes_a_signal_and_an_order_intent(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    svc = started(FnoService, settings, bus)
    fut = nifty(master)
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, cross_up_path(25_000, 5, 60))])
    drain(svc)

    [intent] = intents(redis_client)
    signals = [m for m in read_stream(redis_client, streams.SIGNALS) if isinstance(m, Signal)]
    [signal] = [s for s in signals if s.signal == SignalKind.LONG]
    assert signal.strategy == "ema20_50_intraday"
    assert (signal.logical, signal.symbol, signal.timeframe) == ("NIFTY", fut.tradingsymbol, "5m")
    assert intent.signal_id == signal.signal_id
    assert intent.engine == "fno" and intent.strategy == "ema20_50_intraday"
    assert (intent.symbol, intent.exchange, intent.instrument_token) == (fut.tradingsymbol, "NFO", fut.instrument_token)
    assert intent.side == Side.BUY and intent.quantity == 0 and intent.product == Product.MIS
    assert not intent.reduce_only and intent.underlying == "NIFTY" and intent.tag == ""
    assert intent.ts_event == ist_to_ns(ist_datetime(DAY, MARKET_OPEN)) + 62 * BAR_NS  # the 14:25 bar close
    assert svc.counters["intents"] == 1 and svc.counters["bars"] > 60
    # the batch that produced the intent was checkpointed, then acknowledged
    assert svc.checkpoint_path.is_file()
    assert bus.redis.xpending(NFO, "fno")["pending"] == 0


def test_fno_replayed_unacked_ticks_give_the_same_intent_id(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    first = started(FnoService, settings, bus)
    first.checkpoint_and_ack = lambda: None  # type: ignore[method-assign]  # it "crashes" before either
    bus.publish_many([(NFO, t) for t in bar_ticks(nifty(master), cross_up_path(25_000, 5, 60))])
    drain(first)
    first.consumer.close()  # type: ignore[union-attr]
    assert not first.checkpoint_path.exists()
    assert bus.redis.xpending(NFO, "fno")["pending"] == 134

    second = started(FnoService, settings, bus)  # no checkpoint: its pending entries come back first
    assert second.counters["warmup_bars"] == 0  # everything is pending: nothing to warm up from
    drain(second)
    a, b = intents(redis_client)
    assert a.intent_id == b.intent_id and a.signal_id == b.signal_id
    assert bus.redis.xpending(NFO, "fno")["pending"] == 0


def test_fno_checkpoint_restores_the_position_and_replays_nothing_twice(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    fut = nifty(master)
    path = cross_up_path(25_000, 5, 60)
    first = started(FnoService, settings, bus)
    first.ack_processed = lambda ids: None  # type: ignore[method-assign]  # it "crashes" after checkpointing
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, path)])
    drain(first)
    first.on_stop()
    assert bus.redis.xpending(NFO, "fno")["pending"] == len(path) * 2
    data = json.loads(first.checkpoint_path.read_text())
    assert data["service"] == "fno" and data["day"] == DAY.isoformat()
    assert data["universe"][str(fut.instrument_token)] == ["NIFTY", fut.tradingsymbol, "NFO"]

    second = started(FnoService, settings, bus)
    assert second.engine.positions()["ema20_50_intraday"] == {fut.tradingsymbol: "LONG"}  # type: ignore[union-attr]
    assert second.engine.snapshot()["series"] == first.engine.snapshot()["series"]  # type: ignore[union-attr]
    drain(second)
    assert second.counters["replay_skipped"] == len(path) * 2  # all inside the checkpoint
    assert len(intents(redis_client)) == 1
    assert bus.redis.xpending(NFO, "fno")["pending"] == 0

    # the restored position exits at 15:10 (time exit), reduce-only
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, [path[-1]] * 5, start_bar=len(path))])
    drain(second)
    exit_intent = intents(redis_client)[-1]
    assert exit_intent.side == Side.SELL and exit_intent.reduce_only
    assert "time exit" in exit_intent.reason


def test_fno_flushes_open_bars_at_the_close_on_a_clock_tick(
    settings: Settings, bus: Bus, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    svc = started(FnoService, settings, bus)
    fut = nifty(master)
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, [25_000.0, 25_010.0], start_bar=72)])  # 15:15, 15:20 bars
    drain(svc)
    before = svc.engine.counters()["bars"]  # type: ignore[union-attr]
    assert not svc.flushed
    # A future outside the universe (next month's) is the clock: it is decoded, then skipped.
    other = master.futures("NIFTY")[1]
    assert other.instrument_token not in svc.symbols
    [late] = bar_ticks(other, [25_100.0], start_bar=75)[:1]  # 15:30:10
    bus.publish(NFO, late)
    drain(svc)
    assert svc.flushed and svc.counters["skipped"] == 1
    assert svc.engine.counters()["bars"] == before + 2  # type: ignore[union-attr]  # the 15:20 5m and 15:15 15m bars


def test_fno_warms_up_from_the_stream_history_without_a_checkpoint(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    fut = nifty(master)
    path = cross_up_path(25_000, 5, 60)
    history = bar_ticks(fut, path[:64])  # the up-cross (bar 61) is in the history
    bus.publish_many([(NFO, t) for t in history])
    svc = started(FnoService, settings, bus)
    assert svc.counters["warmup_bars"] >= 60
    drain(svc)
    assert intents(redis_client) == []  # warm-up trades nothing
    # live: a sharp fall makes the down-cross, recognised thanks to the warmed-up memory
    live = [path[63] - 400 * (k + 1) for k in range(6)]
    bus.publish_many([(NFO, t) for t in bar_ticks(fut, live, start_bar=64)])
    drain(svc)
    [short] = intents(redis_client)
    assert short.side == Side.SELL and not short.reduce_only and short.strategy == "ema20_50_intraday"


def test_fno_day_roll_moves_the_warm_state_to_the_next_future(
    settings: Settings, bus: Bus, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    svc = started(FnoService, settings, bus)
    old = nifty(master)
    path = cross_up_path(25_000, 5, 60)
    bus.publish_many([(NFO, t) for t in bar_ticks(old, path)])
    bus.publish(NFO, bar_ticks(old, [path[-1]], start_bar=75)[0])  # 15:30:10: the day's bars close
    drain(svc)
    assert svc.flushed
    bars_before = svc.engine.snapshot()["series"]  # type: ignore[union-attr]

    expiry_day = date(2025, 11, 25)  # NIFTY's November expiry: the engine moves to December
    new_master = SimMarket(7, expiry_day).master
    new = new_master.future("NIFTY", expiry_day)
    assert new.instrument_token != old.instrument_token
    publish_master(bus, new_master, expiry_day)
    bus.publish_many([(NFO, t) for t in bar_ticks(new, [25_500.0], day=expiry_day)])
    drain(svc)
    assert svc.day == expiry_day
    assert svc.symbols[new.instrument_token][:2] == ("NIFTY", new.tradingsymbol)
    assert old.instrument_token not in svc.symbols
    moved = {e["timeframe"]: e for e in svc.engine.snapshot()["series"] if e["token"] == new.instrument_token}  # type: ignore[union-attr]
    old_5m = next(e for e in bars_before if e["token"] == old.instrument_token and e["timeframe"] == "5m")
    assert moved["5m"]["state"]["indicators"]["bars"] == old_5m["state"]["indicators"]["bars"]


def test_fno_start_fails_clearly_without_an_instruments_master(settings: Settings, bus: Bus) -> None:
    svc = FnoService(settings, bus)
    svc.master_wait_s = 0.2
    with pytest.raises(StartupError, match="no instruments master"):
        svc.on_start()
    assert any(isinstance(m, Heartbeat) for m in read_stream(bus.redis, streams.HEALTH))


def test_remap_snapshot_moves_series_and_memo_by_logical_name() -> None:
    snap = {
        "series": [{"token": 1, "timeframe": "5m", "state": {"indicators": {"symbol": "OLD"}}}],
        "strategies": [{"id": "s", "state": {"positions": {"OLD": {}}, "memo": {"OLD": {"sign": 1}}}}],
    }
    out = remap_snapshot(snap, {1: ("NIFTY", "OLD", "NFO")}, {2: ("NIFTY", "NEW", "NFO")})
    assert out["series"][0]["token"] == 2 and out["series"][0]["state"]["indicators"]["symbol"] == "NEW"
    assert out["strategies"][0]["state"]["memo"] == {"NEW": {"sign": 1}}
    assert out["strategies"][0]["state"]["positions"] == {"OLD": {}}  # positions stay in their contract
    assert snap["series"][0]["token"] == 1  # the input is untouched
    assert remap_snapshot(snap, {1: ("NIFTY", "OLD", "NFO")}, {1: ("NIFTY", "OLD", "NFO")}) == snap


def test_stream_ids_compare_numerically() -> None:
    assert parse_entry_id(b"1700000000000-10") > parse_entry_id("1700000000000-9")
    assert parse_entry_id("99-0") < parse_entry_id(b"100-0")


@pytest.mark.slow
def test_fno_runs_as_a_process_and_stops_on_sigterm(
    service_env: dict[str, str], bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, tmp_path: Path
) -> None:
    publish_master(bus, master, DAY)
    log_path = tmp_path / "fno.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.fno"], env=service_env, cwd=ROOT, stdout=log_file, stderr=log_file
        )
    try:
        deadline = time.monotonic() + 15
        running = False
        while not running and time.monotonic() < deadline and proc.poll() is None:
            running = any(
                isinstance(m, Heartbeat) and m.service == "fno" and m.state == ServiceState.RUNNING
                for m in read_stream(redis_client, streams.HEALTH)
            )
            time.sleep(0.1)
        assert running, log_path.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    states = [m.state for m in read_stream(redis_client, streams.HEALTH) if isinstance(m, Heartbeat)]
    assert states[-1] == ServiceState.STOPPED


# -- equity ------------------------------------------------------------------------------------


def write_scanner(settings: Settings, master: InstrumentsMaster, equity: list[str]) -> None:
    write_universe(
        settings.artifacts, DAY, ["NIFTY"], universe_meta(master, ["NIFTY"], DAY),
        ist_to_ns(ist_datetime(DAY, MARKET_OPEN)), equity=equity,
    )


def test_equity_universe_comes_from_the_scanner_file_when_present(
    settings: Settings, bus: Bus, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    write_scanner(settings, master, ["RELIANCE", "TCS", "NOSUCH"])
    svc = started(EquityService, settings, bus)
    assert sorted(svc.symbols.values()) == [("RELIANCE", "RELIANCE", "NSE"), ("TCS", "TCS", "NSE")]


def test_equity_universe_falls_back_to_the_configured_list(
    settings: Settings, bus: Bus, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    svc = started(EquityService, settings, bus)
    names = {info[1] for info in svc.symbols.values()}
    assert "RELIANCE" in names and len(names) > 40
    assert all(info[2] == "NSE" for info in svc.symbols.values())


def test_equity_intent_is_tagged_and_long_only(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster
) -> None:
    publish_master(bus, master, DAY)
    write_scanner(settings, master, ["RELIANCE", "TCS"])
    svc = started(EquityService, settings, bus)
    assert all(s.long_only for s in svc.engine.strategies)  # type: ignore[union-attr]
    down = bar_ticks(master.by_symbol("NSE", "RELIANCE"), cross_down_path(1500, 0.3, 3.6))
    up = bar_ticks(master.by_symbol("NSE", "TCS"), cross_up_path(1500, 0.3, 3.6))
    bus.publish_many([(NSE, t) for t in sorted(down + up, key=lambda t: t.ts_event)])
    drain(svc)
    [intent] = intents(redis_client)  # RELIANCE's down-cross shorts nothing
    assert intent.tag == "EQ_TCS|ema20_50_intraday"
    assert (intent.symbol, intent.exchange, intent.underlying) == ("TCS", "NSE", "TCS")
    assert intent.side == Side.BUY and intent.engine == "equity" and intent.product == Product.MIS


def test_long_only_default_keeps_an_explicit_setting() -> None:
    specs = [
        StrategySpec(name="ema20_50_intraday"),
        StrategySpec(name="ema20_50_intraday", params={"long_only": False}),
    ]
    assert [s.params["long_only"] for s in long_only_by_default(specs)] == [True, False]

"""The options engine against a real feed process (real Redis): it asks for the strikes around ATM,
the feed streams them, ATM moves and the engine drops what it no longer needs, never a contract it holds.

The feed runs as ``python -m services.feed`` (sim source, speed max, no default option strikes,
so every option tick on the bus is one the engine asked for); the engine runs in-process.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
import yaml

from services.options.service import OptionsService
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.clock import NS
from shared.config import load_settings
from shared.contracts import FeedSubscription, OrderIntent, Tick
from shared.enums import FeedAction
from shared.sim.calendar import session_open_ns
from tests.e2e.session import SESSION_DAY
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of each test's own, not the session's: a feed another test left running
    cannot publish into it (once in CI this test saw ticks of BANKNIFTY strikes nobody here had
    asked for; a stray publisher is the likely cause, not confirmed)."""
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.stop()

def write_config(tmp_path: Path) -> Path:
    cfg: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "dev.yaml").read_text())
    cfg["options"].update(strikes_each_side=1, atm_hysteresis=0.0)  # small windows that move often
    cfg["strategy_engine"]["engines"]["options"] = [
        {"name": "atm_short_straddle", "timeframe": "1m",
         "params": {"entry_start": "09:20", "stop_loss_pct": 5.0, "exit_time": "11:00", "underlyings": "NIFTY"}},
    ]  # fmt: skip
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_the_engine_follows_atm_through_feed_subscriptions_and_keeps_what_it_holds(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bus: Bus, redis_client: redis.Redis
) -> None:
    config = write_config(tmp_path)
    env_over = {
        "REDIS_URL": redis_url,
        "KITE_ALGO__SERVICES__ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "KITE_ALGO__DATA__SPEED": "max",
        "KITE_ALGO__DATA__DAYS": "1",
        "KITE_ALGO__DATA__START_DATE": SESSION_DAY,
        "KITE_ALGO__DATA__STEP_MS": "1000",
        "KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE": "0",
        "KITE_ALGO_CONFIG": str(config),
    }
    for key, value in env_over.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err = (tmp_path / "feed.err").open("wb")
    feed = subprocess.Popen(
        [sys.executable, "-m", "services.feed"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
    )
    svc = OptionsService(load_settings(), bus)
    svc.read_block_ms = 50
    day = date.fromisoformat(SESSION_DAY)
    stop_at = session_open_ns(day) + 115 * 60 * NS  # 11:10 IST: past the straddle's 11:00 exit
    try:
        svc.on_start()
        deadline = time.monotonic() + 240
        while svc._last_event_ns < stop_at:
            assert time.monotonic() < deadline, "the engine did not reach 11:10 IST in time"
            assert feed.poll() is None, (tmp_path / "feed.err").read_text()[-2000:]
            svc.step()
        held_at_end = set(svc.engine.held_symbols()) if svc.engine else set()
        svc.on_stop()  # writes the checkpoint
        # a restart on the same day carries on with the same universe and feed requests
        again = OptionsService(load_settings(), bus)
        again.on_start()
        assert again.symbols == svc.symbols and again.subscribed == svc.subscribed
        again.on_stop()
    finally:
        feed.send_signal(signal.SIGTERM)
        feed.wait(30)
        err.close()

    requests: list[tuple[int, FeedSubscription]] = []
    for entry_id, fields in redis_client.xrange(streams.CONTROL_FEED):
        msg = codec.decode(fields)
        assert isinstance(msg, FeedSubscription) and msg.requester == "options"
        requests.append((int(entry_id.split(b"-")[0]), msg))
    first = requests[0][1]
    assert first.action == FeedAction.SUBSCRIBE
    assert len(first.instrument_tokens) == 3 * 2 * 3  # three underlyings x CE+PE x ATM+-1
    drops = [(ms, m) for ms, m in requests if m.action == FeedAction.UNSUBSCRIBE]
    assert drops, "ATM never moved in two hours of the session"
    assert svc.counters["atm_moves"] > 3

    # option ticks on the bus: only contracts the engine asked for (the feed streams no default strikes)
    ticks_of: dict[int, list[tuple[int, int]]] = defaultdict(list)  # token -> [(entry ms, event ns)]
    symbol_of: dict[int, str] = {}
    for entry_id, fields in redis_client.xrange(streams.ticks("NFO")):
        t = codec.decode(fields)
        if isinstance(t, Tick) and t.symbol.endswith(("CE", "PE")):
            ticks_of[t.instrument_token].append((int(entry_id.split(b"-")[0]), t.ts_event))
            symbol_of[t.instrument_token] = t.symbol
    asked = {tok for _, m in requests if m.action == FeedAction.SUBSCRIBE for tok in m.instrument_tokens}
    assert set(ticks_of) <= asked and set(first.instrument_tokens) <= set(ticks_of)

    # a dropped contract stops streaming (unless asked for again later): none of its ticks come
    # more than a couple of seconds (wall clock) after the request
    last_action: dict[int, tuple[int, FeedAction]] = {}
    for ms, m in requests:
        for tok in m.instrument_tokens:
            last_action[tok] = (ms, m.action)
    stopped = [tok for tok, (_, action) in last_action.items() if action == FeedAction.UNSUBSCRIBE]
    assert stopped
    for tok in stopped:
        dropped_ms = last_action[tok][0]
        late = [ms for ms, _ in ticks_of.get(tok, []) if ms > dropped_ms + 2000]
        assert not late, f"{symbol_of.get(tok)} still streamed after it was dropped"

    # the straddle's legs, held from 09:20 to 11:00 while ATM moved: never dropped, ticking throughout
    intents = [codec.decode(f) for _, f in redis_client.xrange(streams.ORDER_INTENTS)]
    legs = {i.instrument_token: i for i in intents if isinstance(i, OrderIntent) and not i.reduce_only}
    exits = {i.instrument_token: i for i in intents if isinstance(i, OrderIntent) and i.reduce_only}
    assert len(legs) == 2 and set(exits) == set(legs), "the straddle did not enter and time-exit both NIFTY legs"
    assert not held_at_end
    for tok, entry in legs.items():
        assert entry.underlying == "NIFTY" and entry.option_type in ("CE", "PE") and entry.expiry and entry.strike > 0
        assert entry.quantity == 65  # one lot of the master's lot size
        dropped_while_held = [
            ms for ms, m in drops if tok in m.instrument_tokens and ms < int(exits[tok].ts_init // 1_000_000)
        ]
        assert not dropped_while_held, f"{entry.symbol} was dropped while held"
        held = [ts for _, ts in ticks_of[tok] if entry.ts_event <= ts <= exits[tok].ts_event]
        gaps = [b - a for a, b in itertools.pairwise(held)]
        assert held and max(gaps) <= 60 * NS, f"{entry.symbol}: a gap of {max(gaps) / NS:.0f}s while held"
    moved_away = any(tok not in svc.entry_tokens() for tok in legs)
    assert moved_away, "ATM never left the straddle's strike: the test proves nothing about held contracts"


def test_intents_are_sized_in_lots_tagged_with_the_contract_and_split_at_the_freeze_limit(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bus: Bus
) -> None:
    from shared.enums import Side
    from shared.sim.market import SimMarket

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("KITE_ALGO__OPTIONS__LOTS", '{"NIFTY": 30, "BANKNIFTY": 2}')
    monkeypatch.delenv("KITE_ALGO_CONFIG", raising=False)
    svc = OptionsService(load_settings(), bus)
    day = date.fromisoformat(SESSION_DAY)
    svc.master = SimMarket(1, day).master
    nifty_ce = svc.master.option("NIFTY", svc.master.nearest_expiry("NIFTY", day), 26_000.0, "CE")
    bank = svc.master.option("BANKNIFTY", svc.master.nearest_expiry("BANKNIFTY", day), 58_500.0, "PE")

    def raw(inst: object, intent_id: str) -> OrderIntent:
        return OrderIntent(
            ts_event=session_open_ns(day), intent_id=intent_id, strategy="atm_short_straddle", engine="options",
            exchange="NFO", symbol=inst.tradingsymbol, instrument_token=inst.instrument_token,  # type: ignore[attr-defined]
            side=Side.SELL, underlying="NIFTY",
        )  # fmt: skip

    big = svc.shape(raw(nifty_ce, "i-1"))
    assert [(i.intent_id, i.quantity) for i in big] == [("i-1", 1755), ("i-1-2", 195)]  # 30 lots of 65; 1,800 freeze
    assert all(i.strike == 26_000.0 and i.option_type == "CE" and i.underlying == "NIFTY" for i in big)
    assert big[0].expiry == nifty_ce.expiry.isoformat()  # type: ignore[union-attr]
    (small,) = svc.shape(raw(bank, "i-2"))
    assert small.quantity == 2 * bank.lot_size and small.underlying == "BANKNIFTY" and small.option_type == "PE"
    assert svc.counters["split_intents"] == 1
    # an exit: the same slices, the last asking risk for whatever the strategy still holds
    exit_intent = msgspec.structs.replace(raw(nifty_ce, "x-1"), side=Side.BUY, reduce_only=True)
    assert [(i.intent_id, i.quantity) for i in svc.shape(exit_intent)] == [("x-1", 1755), ("x-1-2", 0)]
    (small_exit,) = svc.shape(msgspec.structs.replace(raw(bank, "x-2"), side=Side.BUY, reduce_only=True))
    assert small_exit.quantity == 0 and small_exit.option_type == "PE"


def test_atm_is_chosen_around_the_forward_of_the_traded_expiry(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bus: Bus
) -> None:
    from shared.options.chain import SPOT_FUTURE, SPOT_INDEX, SpotQuote, atm_strike, index_forward, option_forward
    from shared.sim.market import SimMarket

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("KITE_ALGO_CONFIG", raising=False)
    svc = OptionsService(load_settings(), bus)
    day = date.fromisoformat(SESSION_DAY)
    market = SimMarket(1, day, step_ms=1000)
    for _ in range(600):
        market.step()
    master = market.master
    now = market.now_ns
    svc.day = day  # not a start-up: no checkpoint to carry on from
    svc.resolve_universe(master, day)
    fut = master.future("NIFTY", day)
    weekly = master.nearest_expiry("NIFTY", day)
    assert fut.expiry is not None and fut.expiry > weekly  # the monthly future outlives the weekly
    strikes = master.strikes("NIFTY", weekly)

    # only the future known: its price carried back to the weekly's expiry
    price = market.future_price(fut.instrument_token)
    svc.future_quote["NIFTY"] = SpotQuote(price, now)
    assert svc._select(master, now)
    ref = svc.forward["NIFTY"]
    assert ref == pytest.approx(option_forward(price, fut.expiry, weekly, now, 0.06))
    assert ref == pytest.approx(market.forward("NIFTY", weekly), abs=0.05)  # the simulator's own forward
    assert svc.selections["NIFTY"].atm == atm_strike(strikes, ref)
    assert svc._choose("NIFTY", now).source == SPOT_FUTURE  # type: ignore[union-attr]

    # a fresh index level: the index carried to the weekly's expiry; 30 s old with a 10 s limit: the future
    level = market.spot("NIFTY")
    svc.index_quote["NIFTY"] = SpotQuote(level, now - NS)
    assert svc._choose("NIFTY", now).source == SPOT_INDEX  # type: ignore[union-attr]
    svc.selections = {}
    assert svc._select(master, now)
    assert svc.forward["NIFTY"] == pytest.approx(index_forward(level, weekly, now, 0.06))
    assert svc.forward["NIFTY"] == pytest.approx(market.forward("NIFTY", weekly), abs=0.05)
    svc.index_quote["NIFTY"] = SpotQuote(level, now - 30 * NS)
    assert svc._choose("NIFTY", now).source == SPOT_FUTURE  # type: ignore[union-attr]
    assert svc.counters["spot_switches"] == 2 and "spot=[NIFTY=future:" in svc.health_detail()


# -- the index spot, in event-time order with the NFO ticks ------------------------------------------

STEP_NS = 5 * NS


def spot_scenario(day: date) -> tuple[Any, list[tuple[str, Tick]], dict[str, float]]:
    """A scripted NIFTY morning, published at once as the feed publishes (event order, streams interleaved).

    Every 5 s from 09:15 to 09:45: the NIFTY 50 level on ticks.INDICES, then the current future and
    the weekly CE/PE of the strikes around on ticks.NFO. The index's forward sits 10 points above a
    strike until 09:25, then jumps 200 points; the index stops after 09:29:55. The future prices
    100 points (two strikes) above the index's forward all morning: ATM from the future and ATM
    from the index differ, so the strike sold shows which one the engine followed.
    """
    from shared.options.chain import index_forward, option_forward
    from shared.sim.market import SimMarket

    master = SimMarket(7, day).master
    fut = master.future("NIFTY", day)
    index = master.index("NIFTY")
    weekly = master.nearest_expiry("NIFTY", day)
    assert fut.expiry is not None
    open_ns = session_open_ns(day)
    entry_ns = open_ns + 5 * 60 * NS
    unit = index_forward(1.0, weekly, entry_ns, 0.06)
    base = round((25_900.0 + 10.0) / unit / 0.05) * 0.05  # its forward at 09:20: 25,910
    strikes = [k for k in master.strikes("NIFTY", weekly) if 25_500 <= k <= 26_500]
    options = [master.option("NIFTY", weekly, k, t) for k in strikes for t in ("CE", "PE")]
    items: list[tuple[str, Tick]] = []
    volume = 0
    for step in range(0, 30 * 60 // 5 + 1):
        ts = open_ns + step * STEP_NS
        level = base + (200.0 if ts >= open_ns + 10 * 60 * NS else 0.0)
        fwd = index_forward(level, weekly, ts, 0.06)
        fut_price = round((fwd + 100.0) / option_forward(1.0, fut.expiry, weekly, ts, 0.06) / 0.05) * 0.05
        volume += 65
        if ts < open_ns + 15 * 60 * NS:
            items.append((streams.ticks("INDICES"), Tick(ts_event=ts, instrument_token=index.instrument_token,
                                                         exchange=index.exchange, symbol=index.tradingsymbol,
                                                         last_price=level)))  # fmt: skip
        items.append((streams.ticks("NFO"), Tick(ts_event=ts, instrument_token=fut.instrument_token, exchange="NFO",
                                                 symbol=fut.tradingsymbol, last_price=fut_price, last_quantity=65,
                                                 volume=volume)))  # fmt: skip
        for opt in options:
            items.append((streams.ticks("NFO"), Tick(ts_event=ts, instrument_token=opt.instrument_token,
                                                     exchange="NFO", symbol=opt.tradingsymbol, last_price=100.0,
                                                     last_quantity=65, volume=volume)))  # fmt: skip
    from shared.options.chain import atm_strike

    all_strikes = master.strikes("NIFTY", weekly)
    fut_at_entry = next(t.last_price for _, t in items if t.symbol == fut.tradingsymbol and t.ts_event == entry_ns)
    expected = {
        "index": atm_strike(all_strikes, index_forward(base, weekly, entry_ns, 0.06)),
        "future": atm_strike(all_strikes, option_forward(fut_at_entry, fut.expiry, weekly, entry_ns, 0.06)),
        "peeked": atm_strike(all_strikes, index_forward(base + 200.0, weekly, entry_ns, 0.06)),
        "level": base,
    }
    return master, items, expected


def spot_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Any:
    cfg: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "dev.yaml").read_text())
    cfg["options"].update(strikes_each_side=2)
    cfg["strategy_engine"]["engines"]["options"] = [
        {"name": "atm_short_straddle", "timeframe": "1m",
         "params": {"entry_start": "09:20", "entry_cutoff": "09:30", "stop_loss_pct": 5.0, "exit_time": "09:40",
                    "underlyings": "NIFTY"}},
    ]  # fmt: skip
    path = tmp_path / "spot.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("KITE_ALGO_CONFIG", str(path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return load_settings()


def started_options(settings: Any, bus: Bus) -> OptionsService:
    svc = OptionsService(settings, bus)
    svc.read_block_ms = 10
    svc.read_count = 200  # many batches: the feed is far ahead of the engine, as at speed=max
    svc.master_wait_s = 5
    svc.on_start()
    return svc


def drain_options(svc: OptionsService, until_ns: int | None = None) -> None:
    for _ in range(2000):
        svc.step()
        if svc.last_batch == 0 or (until_ns is not None and svc._last_event_ns >= until_ns):
            return
    raise AssertionError("the stream did not drain")


def signals_of(client: redis.Redis) -> list[Any]:
    from shared.contracts import Signal

    return [m for _, f in client.xrange(streams.SIGNALS) if isinstance(m := codec.decode(f), Signal)]


def test_the_index_level_is_the_spot_in_event_time_order_and_the_signals_say_so(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bus: Bus,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.options.service")
    from tests.services.test_engines import publish_master

    day = date.fromisoformat(SESSION_DAY)
    settings = spot_settings(tmp_path, monkeypatch, redis_url)
    master, items, expected = spot_scenario(day)
    # the three answers differ: the strike sold says which level ATM came from
    assert len({expected["index"], expected["future"], expected["peeked"]}) == 3, expected
    publish_master(bus, master, day)
    svc = started_options(settings, bus)
    bus.publish_many(items)  # the whole morning is in Redis before the engine reads its first tick
    drain_options(svc)

    sigs = signals_of(redis_client)
    entries = [s for s in sigs if s.signal == "SHORT"]
    exits = [s for s in sigs if s.signal == "EXIT"]
    assert len(entries) == 2 and len(exits) == 2, [(s.signal, s.symbol, s.reason) for s in sigs]
    weekly = master.nearest_expiry("NIFTY", day)
    sold = {master.by_symbol("NFO", s.symbol).strike for s in entries}
    # ATM at 09:20 from the 09:20 index level: neither the future's nor the index's later level
    assert sold == {expected["index"]}, (sold, expected)
    for s in entries:
        assert s.indicators["spot_source"] == "index" and s.indicators["spot"] == pytest.approx(expected["level"])
        assert abs(s.indicators["spot_forward"] - (expected["index"] + 10)) < 1  # the forward it chose around
        assert f"[spot: index {expected['level']:.2f}, forward" in s.reason  # the reason column of signals.csv
    # the index stops after 09:29:55: at the 09:40 time exit the spot is the future's LTP
    for s in exits:
        assert s.indicators["spot_source"] == "future" and "[spot: future " in s.reason
        assert "time exit" in s.reason
    # 09:15:00: the first future tick goes in before the index tick of the same instant (future),
    # 09:15:05: index; after 09:30:05 the index is past 10 s old: future. Each switch is logged.
    switches = [r.getMessage() for r in caplog.records if "NIFTY spot from the" in r.getMessage()]
    assert len(switches) == 3 and "from the index now" in switches[1], switches
    assert "from the future now" in switches[2] and "past options.spot_max_age_s 10" in switches[2]
    assert svc.counters["spot_switches"] == 2 and svc.counters["index_ticks"] == 15 * 60 // 5
    assert "spot=[NIFTY=future:" in svc.health_detail()
    assert svc.selections["NIFTY"].expiry == weekly
    published = [codec.decode(f) for _, f in redis_client.xrange(streams.ORDER_INTENTS)]
    intents = [m for m in published if isinstance(m, OrderIntent)]
    assert {i.strike for i in intents} == {expected["index"]} and len(intents) == 4
    svc.on_stop()


@pytest.mark.parametrize("checkpoint_at", [None, "09:27"])
def test_a_restart_applies_the_same_index_ticks_at_the_same_places(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bus: Bus,
    redis_client: redis.Redis,
    checkpoint_at: str | None,
) -> None:
    """Crash (kill -9: nothing acknowledged after the checkpoint, if any) and restart: the replay
    publishes every signal again identically (same ids, spot source, spot, reason)."""
    from tests.services.test_engines import publish_master

    day = date.fromisoformat(SESSION_DAY)
    settings = spot_settings(tmp_path, monkeypatch, redis_url)
    master, items, expected = spot_scenario(day)
    publish_master(bus, master, day)
    first = started_options(settings, bus)
    bus.publish_many(items)
    if checkpoint_at is None:
        first.checkpoint_and_ack = lambda: None  # type: ignore[method-assign]  # dies before any checkpoint
    else:
        hh, mm = (int(x) for x in checkpoint_at.split(":"))
        drain_options(first, until_ns=session_open_ns(day) + ((hh - 9) * 60 + mm - 15) * 60 * NS)
        first.checkpoint_and_ack()
        first.durable.drain()
        first.checkpoint_and_ack = lambda: None  # type: ignore[method-assign]  # dies before the next one
    drain_options(first)
    first.consumer.close()  # type: ignore[union-attr]  # no final checkpoint, no ack: what kill -9 leaves
    before = signals_of(redis_client)
    assert redis_client.xpending(streams.ticks("NFO"), "options")["pending"] > 0

    second = started_options(settings, bus)
    drain_options(second)
    after = signals_of(redis_client)[len(before) :]
    assert after, "nothing was replayed"
    seen = {s.signal_id: s for s in before}
    for s in after:
        assert s.signal_id in seen, f"{s.signal} {s.symbol} at {s.ts_event} was not published by the first run"
        old = seen[s.signal_id]
        assert (s.indicators, s.reason, s.symbol, s.price) == (old.indicators, old.reason, old.symbol, old.price)
    assert {s.indicators["spot_source"] for s in after if s.signal == "EXIT"} == {"future"}
    if checkpoint_at is not None:
        assert not [s for s in after if s.signal == "SHORT"]  # the entries are inside the checkpoint
        assert second.index_quote["NIFTY"].price == pytest.approx(expected["level"] + 200.0)
    second.on_stop()  # the final checkpoint acknowledges what was replayed
    assert redis_client.xpending(streams.ticks("NFO"), "options")["pending"] == 0

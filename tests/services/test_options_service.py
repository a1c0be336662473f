"""The options engine against a real feed process (real Redis): it asks for the strikes around ATM,
the feed streams them, ATM moves and the engine drops what it no longer needs, never a contract it holds.

The feed runs as ``python -m services.feed`` (sim source, speed max, no default option strikes,
so every option tick on the bus is one the engine asked for); the engine runs in-process.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


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


def test_atm_is_chosen_around_the_forward_of_the_traded_expiry(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bus: Bus
) -> None:
    from shared.options.chain import atm_strike, option_forward
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
    svc.day = day  # not a start-up: no checkpoint to carry on from
    svc.resolve_universe(master, day)
    fut = master.future("NIFTY", day)
    weekly = master.nearest_expiry("NIFTY", day)
    assert fut.expiry is not None and fut.expiry > weekly  # the monthly future outlives the weekly
    price = market.future_price(fut.instrument_token)
    ref = svc.atm_reference(master, "NIFTY", price, market.now_ns)
    assert ref == pytest.approx(option_forward(price, fut.expiry, weekly, market.now_ns, 0.06))
    assert ref == pytest.approx(market.forward("NIFTY", weekly), abs=0.05)  # the simulator's own forward
    svc.spot["NIFTY"] = price
    assert svc._select(master, market.now_ns)
    assert svc.selections["NIFTY"].atm == atm_strike(master.strikes("NIFTY", weekly), ref)

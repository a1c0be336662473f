"""The risk service against a real Redis: sizing, fail-closed, halts, idempotency, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis

import services.risk.service as risk_service
from services.risk.checkpoint import checkpoint_path
from services.risk.service import RiskService
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.clock import NS, ist_day, wall_ns
from shared.config import PortfolioConfig, Settings, load_settings
from shared.contracts import (
    ControlCommand,
    Heartbeat,
    InstrumentsPublished,
    Message,
    OrderIntent,
    PositionSnapshot,
    RiskDecision,
    Tick,
)
from shared.enums import ControlAction, Decision, ServiceState, Side
from shared.instruments import Instrument, InstrumentsMaster
from shared.risk import size_intent
from shared.sim.calendar import session_open_ns
from shared.sim.market import SimMarket
from shared.state.checkpoint import CheckpointError

DAY = date(2026, 11, 25)
T0 = session_open_ns(DAY) + 30 * 60 * NS  # 09:45 IST
ROOT = Path(__file__).resolve().parent.parent.parent
CAPITAL = 500_000.0


@pytest.fixture(scope="module")
def master() -> InstrumentsMaster:
    return SimMarket(42, DAY).master


@pytest.fixture(scope="module")
def nifty(master: InstrumentsMaster) -> Instrument:
    return master.future("NIFTY", DAY)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> Settings:
    for key in list(os.environ):
        if key.startswith("KITE_ALGO"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    # The numbers these tests rely on, whatever configs/dev.yaml says.
    monkeypatch.setenv("KITE_ALGO__TRADING__PAPER_CAPITAL", str(CAPITAL))
    monkeypatch.setenv("KITE_ALGO__RISK__MAX_DAILY_LOSS", "25000")
    monkeypatch.setenv("KITE_ALGO__RISK__MAX_TRADES_PER_SYMBOL_PER_DAY", "2")
    monkeypatch.setenv("KITE_ALGO__RISK__STALE_DATA_SECONDS", "10")
    monkeypatch.setenv("KITE_ALGO__PORTFOLIO__RISK_PER_TRADE_PCT", "0.01")
    monkeypatch.setenv("KITE_ALGO__PORTFOLIO__MAX_LEVERAGE", "2")
    monkeypatch.setenv("KITE_ALGO__PORTFOLIO__MAX_EXPOSURE_PCT", "0.8")
    monkeypatch.setenv("KITE_ALGO__PORTFOLIO__FUTURES_MARGIN_PCT", "0.15")
    monkeypatch.setattr(risk_service, "INPUT_BLOCK_MS", None)  # drain mode: never wait for inputs
    return load_settings()


@pytest.fixture
def svc(settings: Settings, bus: Bus) -> Iterator[RiskService]:
    service = RiskService(settings, bus)
    service.on_start()
    yield service
    service.on_stop()


# -- helpers -------------------------------------------------------------------------------


def publish_master(bus: Bus, master: InstrumentsMaster, ts: int) -> None:
    """What the feed's publish_master does: both keys, then the announcement."""
    day = ist_day(ts).isoformat()
    text = master.to_csv_text()
    key = streams.instruments_csv_key(day)
    bus.redis.set(key, text)
    bus.redis.set(streams.INSTRUMENTS_LATEST, text)
    bus.publish(streams.INSTRUMENTS, InstrumentsPublished(ts_event=ts, day=day, key=key, count=len(master)))


def tick(inst: Instrument, ts: int, price: float | None = None) -> Tick:
    return Tick(
        ts_event=ts,
        instrument_token=inst.instrument_token,
        exchange=inst.exchange,
        symbol=inst.tradingsymbol,
        last_price=price if price is not None else inst.last_price,
    )


def snapshot(ts: int, *, day_pnl: float = 0.0, capital: float = CAPITAL) -> PositionSnapshot:
    return PositionSnapshot(
        ts_event=ts,
        mode="paper",
        positions=(),
        capital=capital,
        cash=capital,
        realized_pnl=day_pnl,
        unrealized_pnl=0.0,
        charges=0.0,
        day_pnl=day_pnl,
    )


def intent(inst: Instrument, intent_id: str, ts: int, **kw: Any) -> OrderIntent:
    price = inst.last_price
    base: dict[str, Any] = dict(
        ts_event=ts,
        intent_id=intent_id,
        strategy="fno_intraday_trend",
        engine="fno",
        exchange=inst.exchange,
        symbol=inst.tradingsymbol,
        instrument_token=inst.instrument_token,
        side=Side.BUY,
        stop_loss=round(price - 54.0, 1),  # 1.5 x a 5m ATR of ~36 points
        ref_price=price,
    )
    base.update(kw)
    return OrderIntent(**base)


def control(action: ControlAction, command_id: str, symbol: str = "") -> ControlCommand:
    return ControlCommand(ts_event=wall_ns(), command_id=command_id, action=action, symbol=symbol, issued_by="ops")


def drain(service: RiskService, rounds: int = 3) -> None:
    for _ in range(rounds):
        service.step()


def read(r: redis.Redis, stream: str) -> list[Message]:
    return [codec.decode(fields) for _, fields in r.xrange(stream)]  # type: ignore[misc]


def decisions(r: redis.Redis) -> list[RiskDecision]:
    return [m for m in read(r, streams.RISK_DECISIONS) if isinstance(m, RiskDecision)]


def approved(r: redis.Redis) -> list[OrderIntent]:
    return [m for m in read(r, streams.ORDERS_APPROVED) if isinstance(m, OrderIntent)]


def market_ready(bus: Bus, master: InstrumentsMaster, inst: Instrument, ts: int = T0, **snap: Any) -> None:
    """Master, a tick and a fresh portfolio snapshot: what a running session provides."""
    publish_master(bus, master, ts)
    bus.publish(streams.ticks(inst.exchange), tick(inst, ts))
    bus.publish(streams.POSITIONS, snapshot(ts, **snap))


# -- sizing and approval -------------------------------------------------------------------


def test_intent_with_a_fresh_snapshot_is_sized_to_whole_lots_and_approved(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "i-1", T0 + NS))
    drain(svc)

    (decision,) = decisions(redis_client)
    assert decision.decision == Decision.ALLOW and decision.rule == "passed"
    # ₹5 lakh, 1% risk over a 54-point stop = 92 units; a 65-unit NIFTY lot (~₹17 lakh notional,
    # ~₹2.6 lakh margin) fits once: futures count at their margin, not their notional.
    assert decision.quantity == nifty.lot_size == 65
    assert "1 lot(s) of 65" in decision.reason
    (order,) = approved(redis_client)
    assert order.intent_id == "i-1" and order.quantity == 65 and order.symbol == nifty.tradingsymbol

    svc.heartbeat(force=True)
    hb = read(redis_client, streams.HEALTH)[-1]
    assert isinstance(hb, Heartbeat) and hb.service == "risk"
    assert hb.counters["intents"] == 1 and hb.counters["allowed"] == 1 and hb.counters["blocked"] == 0
    assert "halted=false" in hb.detail


def test_futures_margin_rate_lets_a_lot_fit_that_notional_sizing_never_could(nifty: Instrument) -> None:
    it = intent(nifty, "m", T0)
    args: dict[str, Any] = dict(
        equity=CAPITAL,
        lot_size=65,
        price=nifty.last_price,
        atr_stop_distance=None,
        open_exposure=0.0,
        config=PortfolioConfig(),
        strategy_budget=None,
        tick_size=0.05,
    )
    assert size_intent(it, **args).quantity == 0  # notional: ₹17 lakh > 0.8 x ₹5 lakh
    sized = size_intent(it, **args, margin_rate=PortfolioConfig().futures_margin_pct)
    assert sized.quantity == 65 and sized.capped_by == "risk"  # 1% risk binds, not the margin caps
    crowded = size_intent(it, **{**args, "open_exposure": 2 * CAPITAL - 100_000.0}, margin_rate=0.15)
    assert crowded.quantity == 0 and crowded.capped_by == "leverage"


def test_an_intent_before_executions_first_book_waits_for_it_at_start_up(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    import threading

    publish_master(bus, master, T0)
    bus.publish(streams.ticks("NFO"), tick(nifty, T0))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "i-1", T0 + NS))
    later = threading.Timer(0.5, lambda: bus.publish(streams.POSITIONS, snapshot(T0 + 2 * NS)))
    later.start()
    drain(svc)
    later.join()
    assert [d.decision for d in decisions(redis_client)] == [Decision.ALLOW]  # decided once the book came


def test_without_a_snapshot_risk_blocks_fail_closed_until_execution_publishes_one(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    svc.first_snapshot_wait_s = 0.3  # start-up wait for execution's first book, then fail closed
    publish_master(bus, master, T0)
    bus.publish(streams.ticks("NFO"), tick(nifty, T0))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "i-1", T0 + NS))
    drain(svc)
    (blocked,) = decisions(redis_client)
    assert blocked.decision == Decision.BLOCK and blocked.rule == "portfolio_snapshot"
    assert "no portfolio snapshot yet (fail-closed)" in blocked.reason
    assert approved(redis_client) == []

    bus.publish(streams.POSITIONS, snapshot(T0 + 2 * NS))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "i-2", T0 + 3 * NS))
    drain(svc)
    assert [d.decision for d in decisions(redis_client)] == [Decision.BLOCK, Decision.ALLOW]
    assert [o.intent_id for o in approved(redis_client)] == ["i-2"]


def test_without_a_master_or_for_an_unknown_symbol_the_intent_is_blocked_with_the_reason(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    bus.publish(streams.ticks("NFO"), tick(nifty, T0))
    bus.publish(streams.POSITIONS, snapshot(T0))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "before-master", T0 + NS))
    drain(svc)
    publish_master(bus, master, T0 + NS)  # the feed starts: risk reloads on the announcement
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "unknown", T0 + 2 * NS, symbol="NOSUCH26DECFUT"))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "known", T0 + 3 * NS))
    drain(svc)

    by_id = {d.intent_id: d for d in decisions(redis_client)}
    assert by_id["before-master"].decision == Decision.BLOCK and by_id["before-master"].rule == "instrument"
    assert "no instruments master loaded" in by_id["before-master"].reason
    assert by_id["unknown"].decision == Decision.BLOCK
    assert "unknown instrument" in by_id["unknown"].reason and "NFO:NOSUCH26DECFUT" in by_id["unknown"].reason
    assert by_id["known"].decision == Decision.ALLOW


def test_reduce_only_intent_without_a_position_to_reduce_is_blocked(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "x", T0 + NS, side=Side.SELL, stop_loss=0.0, reduce_only=True))
    drain(svc)
    (d,) = decisions(redis_client)
    assert d.decision == Decision.BLOCK and d.rule == "reduce_only" and "nothing to reduce" in d.reason


# -- halts ---------------------------------------------------------------------------------


def test_day_loss_in_a_snapshot_halts_squares_off_and_blocks_entries(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty, day_pnl=-26_000.0)
    drain(svc)
    (square_off,) = [m for m in read(redis_client, streams.CONTROL) if isinstance(m, ControlCommand)]
    assert square_off.action == ControlAction.SQUARE_OFF_ALL and square_off.issued_by == "risk"
    assert "max_daily_loss" in square_off.reason

    bus.publish(streams.ORDER_INTENTS, intent(nifty, "after-loss", T0 + NS))
    drain(svc)
    (d,) = decisions(redis_client)
    assert d.decision == Decision.BLOCK and d.rule == "session_halted" and "-26,000" in d.reason

    # RESUME while the loss still stands: the next intent halts the session again.
    bus.publish(streams.CONTROL, control(ControlAction.RESUME, "c-resume"))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "still-losing", T0 + 2 * NS))
    drain(svc)
    halt = decisions(redis_client)[-1]
    assert halt.decision == Decision.HALT_SESSION and halt.rule == "max_daily_loss"
    commands = [m for m in read(redis_client, streams.CONTROL) if isinstance(m, ControlCommand)]
    assert commands[-1].action == ControlAction.SQUARE_OFF_ALL
    assert commands[-1].command_id == "risk-halt-still-losing" and commands[-1].issued_by == "risk"
    assert approved(redis_client) == []
    svc.heartbeat(force=True)
    hb = read(redis_client, streams.HEALTH)[-1]
    assert isinstance(hb, Heartbeat) and hb.counters["halts"] == 2 and "halted=true" in hb.detail


def test_halt_control_blocks_and_resume_allows_again(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.CONTROL, control(ControlAction.HALT, "c-halt"))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "while-halted", T0 + NS))
    drain(svc)
    bus.publish(streams.CONTROL, control(ControlAction.RESUME, "c-resume"))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "after-resume", T0 + 2 * NS))
    drain(svc)
    first, second = decisions(redis_client)
    assert first.decision == Decision.BLOCK and first.rule == "session_halted" and "manual halt by ops" in first.reason
    assert second.decision == Decision.ALLOW
    assert [o.intent_id for o in approved(redis_client)] == ["after-resume"]


def test_killed_symbol_is_blocked_and_revived(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.CONTROL, control(ControlAction.KILL_SYMBOL, "k", nifty.tradingsymbol))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "killed", T0 + NS))
    drain(svc)
    bus.publish(streams.CONTROL, control(ControlAction.REVIVE_SYMBOL, "r", nifty.tradingsymbol))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "revived", T0 + 2 * NS))
    drain(svc)
    assert [(d.decision, d.rule) for d in decisions(redis_client)] == [
        (Decision.BLOCK, "killed_symbol"),
        (Decision.ALLOW, "passed"),
    ]


# -- idempotency and restarts --------------------------------------------------------------


def test_same_intent_twice_and_after_a_crash_before_ack_gets_one_approval_and_the_same_decision(
    settings: Settings,
    bus: Bus,
    redis_client: redis.Redis,
    master: InstrumentsMaster,
    nifty: Instrument,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_ready(bus, master, nifty)
    it = intent(nifty, "dup", T0 + NS)
    bus.publish(streams.ORDER_INTENTS, it)
    bus.publish(streams.ORDER_INTENTS, it)  # an engine that re-sent it

    first = RiskService(settings, bus)
    first.on_start()
    assert first.market is not None
    monkeypatch.setattr(first.market, "ack", lambda deliveries: 0)  # crash after the checkpoint, before the ack
    drain(first)
    assert len(approved(redis_client)) == 1 and len(decisions(redis_client)) == 1
    assert first.market.pending_count() > 0

    second = RiskService(settings, bus)  # restart: same consumer, pending entries come back first
    second.on_start()
    assert second.engine.state.decisions["dup"] == decisions(redis_client)[0]
    bus.publish(streams.ORDER_INTENTS, it)  # and once more, after the restart
    drain(second)
    assert second.market is not None and second.market.pending_count() == 0
    assert len(approved(redis_client)) == 1 and len(decisions(redis_client)) == 1
    assert second.counters["duplicates"] == 3 and second.counters["intents"] == 0
    second.on_stop()


def test_trades_per_symbol_day_pnl_and_halt_survive_a_restart(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    # ₹20 lakh of capital so that several lots fit; the limit is 2 entries per symbol per day.
    market_ready(bus, master, nifty, capital=2_000_000.0, day_pnl=-1_000.0)
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "e1", T0 + NS))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "e2", T0 + 2 * NS))
    bus.publish(streams.CONTROL, control(ControlAction.KILL_SYMBOL, "k", "RELIANCE"))
    first = RiskService(settings, bus)
    first.on_start()
    drain(first)
    assert [d.decision for d in decisions(redis_client)] == [Decision.ALLOW, Decision.ALLOW]
    del first  # killed: no on_stop, no final checkpoint

    saved = json.loads(checkpoint_path(settings.artifacts).read_text())
    assert saved["kind"] == "risk_state" and saved["state"]["trades"] == {nifty.tradingsymbol: 2}

    second = RiskService(settings, bus)
    second.on_start()
    assert second.engine.state.day_pnl == -1_000.0 and "RELIANCE" in second.engine.state.killed
    bus.publish(streams.ticks("NFO"), tick(nifty, T0 + 3 * NS))
    bus.publish(streams.POSITIONS, snapshot(T0 + 3 * NS, capital=2_000_000.0, day_pnl=-1_000.0))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "e3", T0 + 4 * NS))
    drain(second)
    third = decisions(redis_client)[-1]
    assert third.intent_id == "e3" and third.decision == Decision.BLOCK
    assert third.rule == "max_trades_per_symbol_per_day" and "2 entries" in third.reason
    assert [o.intent_id for o in approved(redis_client)] == ["e1", "e2"]
    second.on_stop()


def test_manual_halt_survives_a_restart(
    settings: Settings, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.CONTROL, control(ControlAction.HALT, "h"))
    first = RiskService(settings, bus)
    first.on_start()
    drain(first)
    second = RiskService(settings, bus)
    second.on_start()
    assert second.engine.state.halted
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "after-restart", T0 + NS))
    drain(second)
    (d,) = decisions(redis_client)
    assert d.decision == Decision.BLOCK and d.rule == "session_halted"
    second.on_stop()


def test_next_trading_day_resets_trade_counts_and_needs_that_days_snapshot(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty, capital=2_000_000.0)
    for n in (1, 2, 3):
        bus.publish(streams.ORDER_INTENTS, intent(nifty, f"d1-{n}", T0 + n * NS))
    drain(svc)
    assert [d.rule for d in decisions(redis_client)] == ["passed", "passed", "max_trades_per_symbol_per_day"]

    t1 = session_open_ns(date(2026, 11, 26)) + 30 * 60 * NS
    bus.publish(streams.ticks("NFO"), tick(nifty, t1))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "d2-stale-book", t1 + NS))
    drain(svc)
    bus.publish(streams.POSITIONS, snapshot(t1 + 2 * NS, capital=2_000_000.0))
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "d2-1", t1 + 3 * NS))
    drain(svc)
    day2 = decisions(redis_client)[3:]
    assert [(d.intent_id, d.decision, d.rule) for d in day2] == [
        ("d2-stale-book", Decision.BLOCK, "portfolio_snapshot"),
        ("d2-1", Decision.ALLOW, "passed"),
    ]
    assert "from 2026-11-25, not 2026-11-26" in day2[0].reason
    assert svc.engine.state.day == "2026-11-26" and svc.engine.state.trades == {nifty.tradingsymbol: 1}


def test_unreadable_checkpoint_without_backup_stops_the_start(settings: Settings, bus: Bus) -> None:
    path = checkpoint_path(settings.artifacts)
    path.parent.mkdir(parents=True)
    path.write_text('{"kind": "risk_state", "state": {"trades": "many"}}')
    with pytest.raises(CheckpointError, match=r"risk_state_latest\.json"):
        RiskService(settings, bus).on_start()
    assert path.read_text().startswith('{"kind"')  # left for the operator, not overwritten


def test_malformed_intent_goes_to_deadletter_and_the_service_carries_on(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    redis_client.xadd(streams.ORDER_INTENTS, {"type": "order_intent", "body": b"\x93not msgpack"})
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "good", T0 + NS))
    drain(svc)
    (dead,) = redis_client.xrange(streams.DEADLETTER)
    assert dead[1][b"source_stream"] == streams.ORDER_INTENTS.encode() and dead[1][b"group"] == b"risk"
    (d,) = decisions(redis_client)
    assert d.intent_id == "good" and d.decision == Decision.ALLOW
    assert svc.market is not None and svc.market.pending_count() == 0


# -- the process ---------------------------------------------------------------------------


def test_risk_process_decides_and_stops_cleanly_on_sigterm(
    service_env: dict[str, str], bus: Bus, redis_client: redis.Redis, master: InstrumentsMaster, nifty: Instrument
) -> None:
    market_ready(bus, master, nifty)
    bus.publish(streams.ORDER_INTENTS, intent(nifty, "proc", T0 + NS))
    proc = subprocess.Popen([sys.executable, "-m", "services.risk"], env=service_env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not approved(redis_client) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert [o.quantity for o in approved(redis_client)] == [65]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]
    last = read(redis_client, streams.HEALTH)[-1]
    assert isinstance(last, Heartbeat) and last.service == "risk" and last.state == ServiceState.STOPPED
    artifacts = Path(service_env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"])
    assert (artifacts / "checkpoints" / "risk_state_latest.json").is_file()

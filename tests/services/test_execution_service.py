"""The execution service against a real Redis: orders, fills, journals, idempotency, restarts, control."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time as wall
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from services.execution.service import ExecutionService
from shared.brokers.charges import square_off_charge
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.clock import ist_datetime, ist_to_ns
from shared.config import Settings, load_settings
from shared.contracts import (
    ControlCommand,
    Heartbeat,
    InstrumentsPublished,
    Message,
    OrderIntent,
    RiskDecision,
    Signal,
    Tick,
)
from shared.contracts import depth as depth_fields
from shared.enums import ControlAction, Decision, OrderStatus, Product, ServiceState, Side, SignalKind
from shared.errors import ConfigError
from shared.instruments import COLUMNS
from shared.state.checkpoint import check_state_checkpoint, read_checkpoint, write_checkpoint
from shared.state.journal import read_events, read_orders, read_pnl, read_signals
from shared.state.paths import StatePaths
from shared.state.recovery import rebuild_from_journal

ROOT = Path(__file__).resolve().parent.parent.parent
DAY = date(2025, 11, 17)
CAPITAL = 500_000.0
MASTER_CSV = "\n".join(
    [
        ",".join(COLUMNS),
        "1001,51713,NIFTY25NOVFUT,NIFTY,0,2025-11-25,0,0.05,65,FUT,NFO-FUT,NFO",
        "738561,2885,RELIANCE,RELIANCE INDUSTRIES,0,,0,0.1,1,EQ,NSE,NSE",
    ]
)
FUT = (1001, "NIFTY25NOVFUT", "NFO")
EQ = (738561, "RELIANCE", "NSE")


def at(hh: int, mm: int, ss: float = 0.0, day: date = DAY) -> int:
    return ist_to_ns(ist_datetime(day, time(hh, mm))) + int(ss * 1e9)


def tick(ts: int, inst: tuple[int, str, str] = FUT, last: float = 24_500.0, depth: int = 65) -> Tick:
    token, symbol, exchange = inst
    step = 0.1 if inst == EQ else 0.05
    return Tick(
        ts_event=ts,
        instrument_token=token,
        exchange=exchange,
        symbol=symbol,
        last_price=last,
        **depth_fields(
            [(round(last - step * (k + 1), 2), depth, 1) for k in range(3)],
            [(round(last + step * (k + 1), 2), depth, 1) for k in range(3)],
        ),
    )


def intent(intent_id: str, side: Side = Side.BUY, quantity: int = 65, inst: tuple[int, str, str] = FUT,
           **kw: Any) -> OrderIntent:  # fmt: skip
    token, symbol, exchange = inst
    fields: dict[str, Any] = {"ts_event": at(9, 30), "strategy": "ema", "engine": "fno", "timeframe": "5m",
                              "underlying": "NIFTY", "signal_id": "sig1", "signal_ts": at(9, 30)}  # fmt: skip
    fields.update(kw)
    return OrderIntent(intent_id=intent_id, exchange=exchange, symbol=symbol, instrument_token=token, side=side,
                       quantity=quantity, product=Product.MIS, **fields)  # fmt: skip


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Settings:
    for key in list(os.environ):
        if key.startswith("KITE_ALGO"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    redis_client.set(streams.INSTRUMENTS_LATEST, MASTER_CSV)
    return load_settings()


@pytest.fixture
def paths(settings: Settings) -> StatePaths:
    return StatePaths.from_settings(settings)


@pytest.fixture
def service(settings: Settings, bus: Bus) -> Iterator[ExecutionService]:
    svc = started(settings, bus)
    yield svc
    if svc.journal is not None and not svc.journal.closed:
        svc.on_stop()


def started(settings: Settings, bus: Bus) -> ExecutionService:
    svc = ExecutionService(settings, bus)
    svc.on_start()
    return svc


def drain(svc: ExecutionService, times: int = 3) -> None:
    for _ in range(times):
        svc.step()


def send(bus: Bus, *items: tuple[str, Message]) -> None:
    bus.publish_many(list(items))


def read(r: redis.Redis, stream: str) -> list[Any]:
    return [codec.decode(f) for _, f in r.xrange(stream)]  # type: ignore[misc]


# -- the order flow ------------------------------------------------------------------------------


def test_approved_intent_and_ticks_give_events_a_fill_a_snapshot_and_journal_rows(
    service: ExecutionService, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    sig = Signal(
        ts_event=at(9, 30),
        signal_id="sig1",
        strategy="ema",
        logical="NIFTY",
        symbol="NIFTY25NOVFUT",
        price=24_500.0,
        signal=SignalKind.LONG,
        timeframe="5m",
        indicators={"profile": "INTRADAY"},
    )
    # the approved intent may reach execution before its signal: the profile rides on the intent
    send(bus, (streams.ORDERS_APPROVED, intent("i1", profile="INTRADAY")))
    drain(service)
    send(bus, (streams.SIGNALS, sig), (streams.ticks("NFO"), tick(at(9, 30, 0.25))))
    drain(service)

    events = read(redis_client, streams.ORDER_EVENTS)
    assert [(e.order_id, e.status) for e in events] == [("P-i1", OrderStatus.OPEN), ("P-i1", OrderStatus.FILLED)]
    (fill,) = read(redis_client, streams.FILLS)
    assert (fill.fill_id, fill.quantity, fill.price) == ("P-i1-1", 65, 24_500.05) and fill.charges > 0
    snap = read(redis_client, streams.POSITIONS)[-1]
    assert snap.ts_event >= fill.ts_event and snap.mode == "paper"
    (line,) = snap.positions
    assert (line.symbol, line.quantity, line.avg_price) == ("NIFTY25NOVFUT", 65, 24_500.05)
    assert snap.charges == fill.charges and snap.day_pnl == pytest.approx(snap.unrealized_pnl - fill.charges)

    rows = read_orders(paths.orders_csv)
    assert [(r.order_id, r.status) for r in rows] == [("P-i1", OrderStatus.OPEN), ("P-i1", OrderStatus.FILLED)]
    assert (rows[0].tf, rows[0].profile, rows[0].underlying, rows[0].strategy) == ("5m", "INTRADAY", "NIFTY", "ema")
    assert rows[1].fill is not None and rows[1].fill.fill_id == "P-i1-1"
    assert rows[0].parent_signal_timestamp == "2025-11-17T04:00:00Z"
    (srow,) = read_signals(paths.signals_csv)
    assert srow.signal_id == "sig1" and srow.indicators["mode"] == "paper"
    assert [e["status"] for e in read_events(paths.events_log) if e["event"] == "order"] == ["OPEN", "FILLED"]
    for stream in (streams.ORDERS_APPROVED, streams.SIGNALS, streams.ticks("NFO")):
        assert redis_client.xpending(stream, "execution")["pending"] == 0


def test_the_same_intent_delivered_twice_places_one_order(
    service: ExecutionService, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("i1")), (streams.ORDERS_APPROVED, intent("i1")))
    drain(service)
    assert service.counters["duplicate_intents"] == 1
    assert [e.status for e in read(redis_client, streams.ORDER_EVENTS)] == [OrderStatus.OPEN]
    assert {r.order_id for r in read_orders(paths.orders_csv)} == {"P-i1"}


def test_a_rejected_intent_is_journaled_with_its_reason(
    service: ExecutionService, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("odd", quantity=100)))
    drain(service)
    (evt,) = read(redis_client, streams.ORDER_EVENTS)
    assert evt.status == OrderStatus.REJECTED and "lot size 65" in evt.status_message
    (row,) = read_orders(paths.orders_csv)
    assert row.status == OrderStatus.REJECTED and "lot size 65" in row.extra["status_message"]
    assert service.counters["rejected"] == 1


def test_a_restart_keeps_one_order_per_intent_and_the_journal_s_book(
    settings: Settings, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    first = started(settings, bus)
    send(bus, (streams.ORDERS_APPROVED, intent("big", quantity=65 * 4)), (streams.ticks("NFO"), tick(at(9, 31))))
    drain(first)
    assert first.broker.orders["P-big"].status == OrderStatus.PARTIALLY_FILLED  # the book showed 195
    first.on_stop()

    second = started(settings, bus)
    try:
        restored = second.broker.orders["P-big"]
        assert (restored.status, restored.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 195)
        # redelivered: the intent, and the tick that already filled it
        send(bus, (streams.ORDERS_APPROVED, intent("big", quantity=65 * 4)), (streams.ticks("NFO"), tick(at(9, 31))))
        drain(second)
        assert second.counters["duplicate_intents"] == 1
        assert restored.filled_quantity == 195
        send(bus, (streams.ticks("NFO"), tick(at(9, 32), last=24_510.0)))
        drain(second)
        assert restored.status == OrderStatus.FILLED
        assert [f.fill_id for f in restored.fills][-1] == "P-big-4"
        rows = read_orders(paths.orders_csv)
        assert {r.order_id for r in rows} == {"P-big"}
        rebuilt = rebuild_from_journal(paths.orders_csv, CAPITAL)
        live = second.broker.portfolio
        assert [(p.symbol, p.quantity, p.avg_price, p.realized_pnl, p.charges) for p in rebuilt.positions] == [
            (p.symbol, p.quantity, p.avg_price, p.realized_pnl, p.charges) for p in second.broker.positions()
        ]
        assert (rebuilt.charges, rebuilt.cash) == (live.total_charges, live.cash)
    finally:
        second.on_stop()
    checkpoint = read_checkpoint(paths.checkpoint("paper"))
    assert checkpoint is not None
    check_state_checkpoint(checkpoint, "paper")
    assert checkpoint["positions"][0]["quantity"] == 260 and checkpoint["open_orders"] == []


def test_a_restart_restores_a_stop_order_and_trusts_the_journal_over_the_checkpoint(
    settings: Settings, bus: Bus, paths: StatePaths, caplog: pytest.LogCaptureFixture
) -> None:
    first = started(settings, bus)
    send(bus, (streams.ORDERS_APPROVED, intent("in")), (streams.ticks("NFO"), tick(at(9, 31))),
         (streams.ORDERS_APPROVED, intent("stop", Side.SELL, order_type="SL-M", trigger_price=24_400.0)))  # fmt: skip
    drain(first)
    first.on_stop()
    checkpoint = read_checkpoint(paths.checkpoint("paper"))
    assert checkpoint is not None
    checkpoint["positions"][0]["quantity"] = 130  # a checkpoint that lies
    write_checkpoint(paths.checkpoint("paper"), checkpoint)

    second = started(settings, bus)
    try:
        assert "disagrees" in caplog.text and "trusting the journal" in caplog.text
        pos = second.broker.portfolio.position("NIFTY25NOVFUT", Product.MIS)
        assert pos is not None and pos.quantity == 65
        stop = second.broker.orders["P-stop"]
        assert (stop.status, stop.order_type, stop.trigger_price) == (OrderStatus.TRIGGER_PENDING, "SL-M", 24_400.0)
        send(bus, (streams.ticks("NFO"), tick(at(9, 40), last=24_395.0)))
        drain(second)
        assert stop.status == OrderStatus.FILLED and pos.quantity == 0
    finally:
        second.on_stop()


def test_last_quote_fills_an_intent_in_the_slice_it_arrives_and_slippage_comes_from_the_config(
    settings: Settings, bus: Bus, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_ALGO__PAPER__FILL_TIMING", "last_quote")
    monkeypatch.setenv("KITE_ALGO__PAPER__SLIPPAGE_TICKS", "1")
    svc = started(load_settings(), bus)
    try:
        send(bus, (streams.ticks("NSE"), tick(at(9, 30), EQ, 1_500.0)))  # no order yet: still kept as the quote
        drain(svc)
        send(bus, (streams.ORDERS_APPROVED, intent("q", quantity=5, inst=EQ)))
        svc.step()  # one slice: placed and filled, no tick needed
        (fill,) = read(redis_client, streams.FILLS)
        assert (fill.fill_id, fill.quantity, fill.price) == ("P-q-1", 5, 1_500.2)  # best ask 1500.1 + 1 tick
    finally:
        svc.on_stop()


def test_intents_read_before_the_instruments_master_wait_for_it_and_are_then_placed(
    settings: Settings, bus: Bus, redis_client: redis.Redis
) -> None:
    redis_client.delete(streams.INSTRUMENTS_LATEST)
    svc = started(settings, bus)
    try:
        send(bus, (streams.ORDERS_APPROVED, intent("w")))
        drain(svc)
        assert read(redis_client, streams.ORDER_EVENTS) == []
        assert redis_client.xpending(streams.ORDERS_APPROVED, streams.group("execution"))["pending"] == 1
        redis_client.set("instruments:2025-11-17", MASTER_CSV)
        send(bus, (streams.INSTRUMENTS, InstrumentsPublished(ts_event=at(9, 0), day="2025-11-17",
                                                             key="instruments:2025-11-17", count=2)))  # fmt: skip
        drain(svc)
        assert [(e.order_id, e.status) for e in read(redis_client, streams.ORDER_EVENTS)] == [("P-w", OrderStatus.OPEN)]
        assert redis_client.xpending(streams.ORDERS_APPROVED, streams.group("execution"))["pending"] == 0
    finally:
        svc.on_stop()


def test_risk_blocks_and_service_state_changes_are_journaled_to_events_jsonl(
    service: ExecutionService, bus: Bus, paths: StatePaths
) -> None:
    block = RiskDecision(ts_event=at(9, 31), intent_id="b1", symbol="NIFTY25NOVFUT", decision=Decision.BLOCK,
                         quantity=0, requested_quantity=65, reason="max_daily_loss: session halted",
                         rule="max_daily_loss")  # fmt: skip
    allow = msgspec.structs.replace(block, intent_id="a1", decision=Decision.ALLOW, quantity=65, rule="passed")
    states = (ServiceState.STARTING, ServiceState.RUNNING, ServiceState.RUNNING, ServiceState.STOPPING)
    beats = [Heartbeat(ts_event=at(9, 30), service="fno", pid=7, state=state) for state in states]
    send(bus, (streams.RISK_DECISIONS, block), (streams.RISK_DECISIONS, allow), *((streams.HEALTH, hb) for hb in beats))
    drain(service)
    events = read_events(paths.events_log)
    risk = [e for e in events if e["event"] == "risk"]
    assert [(e["intent_id"], e["decision"], e["rule"]) for e in risk] == [("b1", "BLOCK", "max_daily_loss")]
    assert risk[0]["reason"] == "max_daily_loss: session halted"
    states = [e["state"] for e in events if e["event"] == "service" and e["service"] == "fno"]
    assert states == ["STARTING", "RUNNING", "STOPPING"]  # changes only, not every heartbeat


def test_square_off_all_flattens_and_the_round_trip_reaches_pnl_csv(
    service: ExecutionService, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("a")), (streams.ORDERS_APPROVED, intent("e", quantity=5, inst=EQ)),
         (streams.ticks("NFO"), tick(at(9, 31))), (streams.ticks("NSE"), tick(at(9, 31), EQ, 1_500.0)))  # fmt: skip
    drain(service)
    cmd = ControlCommand(ts_event=at(10, 0), command_id="c1", action=ControlAction.SQUARE_OFF_ALL, issued_by="test")
    send(bus, (streams.CONTROL, cmd), (streams.CONTROL, cmd))  # a repeated command places nothing more
    drain(service)
    send(bus, (streams.ticks("NFO"), tick(at(10, 1), last=24_520.0)), (streams.ticks("NSE"), tick(at(10, 1), EQ)))
    drain(service)

    assert all(p.is_flat for p in service.broker.positions())
    sq = {r.order_id for r in read_orders(paths.orders_csv) if r.order_id.startswith("SQ-")}
    assert sq == {"SQ-c1-NIFTY25NOVFUT-MIS-ema", "SQ-c1-RELIANCE-MIS-ema"}
    trades = read_pnl(paths.pnl_csv)
    assert sorted(t.symbol for t in trades) == ["NIFTY25NOVFUT", "RELIANCE"]
    fut = next(t for t in trades if t.symbol == "NIFTY25NOVFUT")
    assert fut.gross_pnl == pytest.approx(65 * (24_519.95 - 24_500.05))
    snap = read(redis_client, streams.POSITIONS)[-1]
    assert all(line.quantity == 0 for line in snap.positions)


def test_snapshots_split_each_line_by_strategy_through_a_restart_and_a_square_off(
    settings: Settings, bus: Bus, redis_client: redis.Redis, paths: StatePaths
) -> None:
    first = started(settings, bus)
    # ema long two lots, orb short one: the broker holds +65 net
    send(bus, (streams.ORDERS_APPROVED, intent("a", quantity=130)),
         (streams.ORDERS_APPROVED, intent("b", Side.SELL, 65, strategy="orb")),
         (streams.ticks("NFO"), tick(at(9, 31), depth=195)))  # fmt: skip
    drain(first)
    (line,) = read(redis_client, streams.POSITIONS)[-1].positions
    assert (line.symbol, line.quantity, line.by_strategy) == ("NIFTY25NOVFUT", 65, {"ema": 130, "orb": -65})
    first.on_stop()

    second = started(settings, bus)  # the split comes back from the journal
    try:
        drain(second)
        (line,) = read(redis_client, streams.POSITIONS)[-1].positions
        assert line.by_strategy == {"ema": 130, "orb": -65}
        cmd = ControlCommand(ts_event=at(10, 0), command_id="c9", action=ControlAction.SQUARE_OFF_ALL)
        send(bus, (streams.CONTROL, cmd))
        drain(second)
        send(bus, (streams.ticks("NFO"), tick(at(10, 1), last=24_520.0)))
        drain(second)

        (line,) = read(redis_client, streams.POSITIONS)[-1].positions
        assert (line.quantity, line.by_strategy) == (0, {})
        rows = read_orders(paths.orders_csv)
        sent = {r.order_id for r in rows if r.order_id.startswith("SQ-") and not r.internal}
        assert sent == {"SQ-c9-NIFTY25NOVFUT-MIS-ema"}  # only the net goes to the exchange
        assert {r.order_id for r in rows if r.internal} == {"SQ-c9-NIFTY25NOVFUT-MIS-ema-X",
                                                            "SQ-c9-NIFTY25NOVFUT-MIS-orb-X"}  # fmt: skip
        trades = {t.strategy: t for t in read_pnl(paths.pnl_csv)}
        assert sorted(trades) == ["ema", "orb"] and trades["ema"].quantity == 130 and trades["orb"].side == Side.SELL
        live = second.broker.portfolio
        assert sum(t.net_pnl for t in trades.values()) == pytest.approx(live.net_pnl, abs=1e-6)
        rebuilt = rebuild_from_journal(paths.orders_csv, CAPITAL)
        assert (rebuilt.realized_pnl, rebuilt.charges, rebuilt.cash) == (live.realized_pnl, live.total_charges,
                                                                        live.cash)  # fmt: skip
    finally:
        second.on_stop()


def test_mis_auto_square_off_fee_is_journaled_and_rebuilt(
    service: ExecutionService, bus: Bus, paths: StatePaths
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("e", quantity=5, inst=EQ)), (streams.ticks("NSE"), tick(at(10, 0), EQ)))
    drain(service)
    send(bus, (streams.ticks("NSE"), tick(at(15, 20), EQ, 1_490.0)))
    drain(service)
    rows = read_orders(paths.orders_csv)
    assert [r.fee for r in rows if r.order_id.startswith("ASQ-")] == [square_off_charge(DAY), 0.0]
    rebuilt = rebuild_from_journal(paths.orders_csv, CAPITAL)
    assert rebuilt.charges == service.broker.portfolio.total_charges
    assert rebuilt.realized_pnl == service.broker.portfolio.realized_pnl


def test_cancel_all_cancels_working_orders(service: ExecutionService, bus: Bus, redis_client: redis.Redis) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("l", order_type="LIMIT", price=24_000.0)))
    drain(service)
    cmd = ControlCommand(ts_event=at(10, 0), command_id="c2", action=ControlAction.CANCEL_ALL)
    send(bus, (streams.CONTROL, cmd))
    drain(service)
    assert [e.status for e in read(redis_client, streams.ORDER_EVENTS)] == [OrderStatus.OPEN, OrderStatus.CANCELLED]
    assert service.broker.open_orders() == []


def test_a_new_day_expires_working_orders_and_starts_a_flat_book(
    service: ExecutionService, bus: Bus, paths: StatePaths
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("l", order_type="LIMIT", price=24_000.0)),
         (streams.ticks("NFO"), tick(at(15, 0))))  # fmt: skip
    drain(service)
    send(bus, (streams.ticks("NFO"), tick(at(9, 15, day=date(2025, 11, 18)))))
    drain(service)
    rows = read_orders(paths.orders_csv)
    assert rows[-1].status == OrderStatus.CANCELLED and rows[-1].ts_ns == at(15, 0)
    assert service.book_day == date(2025, 11, 18) and service.broker.open_orders() == []


def test_live_mode_without_kite_credentials_stops_naming_the_tokens_file(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    monkeypatch.setenv("KITE_ALGO__TRADING__MODE", "live")
    monkeypatch.setenv("KITE_ALGO__KITE__TOKENS_FILE", str(tmp_path / "no_tokens.env"))
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"no_tokens\.env"):
        ExecutionService(load_settings(), bus)


def test_execution_process_stops_on_sigterm_with_exit_0_and_a_checkpoint(
    service_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.set(streams.INSTRUMENTS_LATEST, MASTER_CSV)
    proc = subprocess.Popen([sys.executable, "-m", "services.execution"], env=service_env, cwd=ROOT,
                            stderr=subprocess.PIPE)  # fmt: skip
    bus = Bus(redis_client)
    try:
        # Tick groups start at "$" (no replay of history): wait until the service is reading.
        deadline = wall.monotonic() + 15
        while wall.monotonic() < deadline and proc.poll() is None and not (
            redis_client.exists(streams.ticks("NFO")) and redis_client.xinfo_groups(streams.ticks("NFO"))
        ):
            wall.sleep(0.05)
        send(bus, (streams.ORDERS_APPROVED, intent("p1")))
        deadline = wall.monotonic() + 15
        while redis_client.xlen(streams.ORDER_EVENTS) < 1 and wall.monotonic() < deadline and proc.poll() is None:
            wall.sleep(0.05)  # the order is working: the next tick fills it
        send(bus, (streams.ticks("NFO"), tick(at(9, 31))))
        while redis_client.xlen(streams.FILLS) < 1 and wall.monotonic() < deadline and proc.poll() is None:
            wall.sleep(0.05)
        filled = redis_client.xlen(streams.FILLS)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert filled == 1, err.decode()[-3000:]
    assert proc.returncode == 0, err.decode()[-2000:]
    artifacts = Path(service_env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"])
    checkpoint = read_checkpoint(artifacts / "checkpoints" / "paper_state_latest.json")
    assert checkpoint is not None and checkpoint["positions"][0]["quantity"] == 65
    assert (artifacts / "checkpoints" / "runtime_state_latest.json").exists()
    last = codec.decode(redis_client.xrevrange(streams.HEALTH, count=1)[0][1])
    assert last.service == "execution" and last.state == "STOPPED"

"""The execution service in live mode: the Kite broker through the real client against the sandbox, real Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.kite.runner import SandboxThread
from services.execution.service import ExecutionService
from shared.brokers.kite import kite_tag
from shared.brokers.kite_session import write_tokens
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.config import load_settings
from shared.contracts import OrderIntent
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.instruments import Instrument
from shared.state.journal import read_orders
from shared.state.paths import StatePaths
from tests.conftest import ROOT
from tests.sandbox.conftest import faults, login, sandbox_config


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    sb = SandboxThread(sandbox_config()).start()
    yield sb
    sb.stop()


@pytest.fixture
def live_env(sandbox: SandboxThread, service_env: dict[str, str], tmp_path: Path, redis_client: redis.Redis) -> dict:
    kite = login(sandbox)
    tokens = tmp_path / "secrets" / "kite_tokens.env"
    write_tokens(tokens, kite.api_key, kite.access_token)
    redis_client.set(streams.INSTRUMENTS_LATEST, sandbox.sandbox.account.master.to_csv_text())
    return {
        **service_env,
        "KITE_ALGO__TRADING__MODE": "live",
        "KITE_ALGO__KITE__API_ROOT": sandbox.root,
        "KITE_ALGO__KITE__WS_ROOT": sandbox.ws_root,
        "KITE_ALGO__KITE__TOKENS_FILE": str(tokens),
        "KITE_ALGO__KITE__POLL_SECONDS": "0.2",
        "KITE_ALGO__KITE__LOOKUP_DELAY_SECONDS": "0.1",
        "KITE_ALGO__KITE__REQUEST_TIMEOUT_SECONDS": "2",
        "ACCESS_TOKEN_FOR_TEST": kite.access_token,
    }


def future(sb: SandboxThread) -> Instrument:
    return sb.sandbox.account.master.futures("NIFTY")[0]


def intent(inst: Instrument, intent_id: str, **kw: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "ts_event": time.time_ns(), "strategy": "ema", "engine": "fno", "side": Side.BUY,
        "quantity": inst.lot_size, "product": Product.NRML, "order_type": OrderType.MARKET,
    }  # fmt: skip
    fields.update(kw)
    return OrderIntent(intent_id=intent_id, exchange=inst.exchange, symbol=inst.tradingsymbol,
                       instrument_token=inst.instrument_token, **fields)  # fmt: skip


def tags_at_kite(sb: SandboxThread, tag: str) -> list[dict]:
    return [o for o in login(sb).orders() if o["tag"] == tag]


def test_live_execution_journals_before_sending_and_books_fills(
    sandbox: SandboxThread, live_env: dict, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> None:
    for key, value in live_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KITE_ALGO__KITE__ORDER_UPDATES_SOCKET", "false")  # the socket needs its own process
    settings = load_settings()
    bus = Bus(redis_client)
    svc = ExecutionService(settings, bus)
    svc.on_start()
    try:
        inst = future(sandbox)
        bus.publish(streams.ORDERS_APPROVED, intent(inst, "live:1"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not redis_client.xlen(streams.FILLS):
            svc.step()
        fills = [codec.decode(f) for _, f in redis_client.xrange(streams.FILLS)]
        assert sum(f.quantity for f in fills) == inst.lot_size
        rows = read_orders(StatePaths.from_settings(settings).orders_csv)
        assert rows[0].status == OrderStatus.PENDING  # on disk before Kite heard of it
        assert rows[-1].status == OrderStatus.FILLED
        assert len(tags_at_kite(sandbox, kite_tag("live:1"))) == 1
    finally:
        svc.on_stop()


def _wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_kill_9_between_sending_and_acknowledging_leaves_exactly_one_order(
    sandbox: SandboxThread, live_env: dict, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """The order call hangs after Kite placed the order; the service is killed; its restart adopts it."""
    inst = future(sandbox)
    tag = kite_tag("live:crash")
    faults(sandbox, hang_after_place=1, hang_seconds=60)
    log1 = tmp_path / "exec1.log"
    with log1.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.execution"], env=live_env, cwd=ROOT, stderr=log)
    try:
        _wait(lambda: "live preflight passed" in log1.read_text() or proc.poll() is not None, 30, "start-up")
        time.sleep(1.0)  # the order-update socket and the consumers are up
        Bus(redis_client).publish(streams.ORDERS_APPROVED, intent(inst, "live:crash"))
        _wait(lambda: len(tags_at_kite(sandbox, tag)) == 1, 20, "the order to reach Kite")
        time.sleep(0.3)
        assert proc.poll() is None  # still hanging in the order call
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    log2 = tmp_path / "exec2.log"
    with log2.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.execution"], env=live_env, cwd=ROOT, stderr=log)
    try:
        _wait(lambda: redis_client.xlen(streams.FILLS) > 0 or proc.poll() is not None, 30, "the adopted order's fill")
        assert proc.poll() is None, log2.read_text()[-3000:]
        assert len(tags_at_kite(sandbox, tag)) == 1  # exactly one order, before and after the restart
        fills = [codec.decode(f) for _, f in redis_client.xrange(streams.FILLS)]
        assert sum(f.quantity for f in fills) == inst.lot_size and fills[0].order_id == "K-live:crash"
        assert "found in Kite's book by tag" in log2.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    token = live_env["ACCESS_TOKEN_FOR_TEST"]
    for path in (log1, log2, *Path(live_env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"]).rglob("*")):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path  # never logged or journaled


@pytest.mark.slow
def test_order_updates_arrive_over_the_socket_without_polling(
    sandbox: SandboxThread, live_env: dict, redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = {**live_env, "KITE_ALGO__KITE__POLL_SECONDS": "600"}  # polling out of the way: only the socket
    log_path = tmp_path / "exec.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.execution"], env=env, cwd=ROOT, stderr=log)
    try:
        _wait(lambda: "order-update socket connected" in log_path.read_text() or proc.poll() is not None, 30,
              "the order-update socket")  # fmt: skip
        assert proc.poll() is None, log_path.read_text()[-3000:]
        inst = future(sandbox)
        Bus(redis_client).publish(streams.ORDERS_APPROVED, intent(inst, "live:sock"))
        _wait(lambda: redis_client.xlen(streams.FILLS) > 0, 20, "a fill from the socket's update")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0, log_path.read_text()[-3000:]


def test_live_preflight_with_an_expired_token_refuses_to_start(
    sandbox: SandboxThread, live_env: dict, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> None:
    for key, value in live_env.items():
        monkeypatch.setenv(key, value)
    faults(sandbox, expire_tokens=True)
    svc = ExecutionService(load_settings(), Bus(redis_client))
    with pytest.raises(SystemExit, match="log in again"):
        svc.on_start()
    if svc.journal is not None:
        svc.journal.close()





@pytest.mark.parametrize("policy", ["halt", "adopt"])
def test_positions_changed_behind_the_systems_back_are_noticed(
    sandbox: SandboxThread, live_env: dict, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis, policy: str
) -> None:
    for key, value in live_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KITE_ALGO__KITE__ORDER_UPDATES_SOCKET", "false")
    monkeypatch.setenv("KITE_ALGO__KITE__RECONCILE_SECONDS", "0.2")
    monkeypatch.setenv("KITE_ALGO__KITE__DRIFT_POLICY", policy)
    svc = ExecutionService(load_settings(), Bus(redis_client))
    svc.on_start()
    try:
        for _ in range(5):
            svc.step()
        assert not redis_client.xlen(streams.ALERTS)  # the books agree at start
        inst = future(sandbox)
        web = login(sandbox)  # someone trades on Kite web with the same account
        oid = web.place_order("regular", "NFO", inst.tradingsymbol, "SELL", inst.lot_size, "NRML", "MARKET",
                              market_protection=-1)  # fmt: skip
        _wait(lambda: web.order_history(oid)[-1]["status"] == "COMPLETE", 10, "the outside order to fill")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not redis_client.xlen(streams.ALERTS):
            svc.step()
            time.sleep(0.05)
        svc.step()
        (alert,) = [codec.decode(f) for _, f in redis_client.xrange(streams.ALERTS)]
        assert alert.code == "position_drift" and inst.tradingsymbol in alert.message
        controls = [codec.decode(f) for _, f in redis_client.xrange(streams.CONTROL)]
        pos = {(p.symbol, p.product): p.quantity for p in svc.broker.positions()}
        if policy == "halt":
            assert [c.action.value for c in controls] == ["HALT"]
            assert pos.get((inst.tradingsymbol, Product.NRML), 0) == 0
        else:
            assert controls == [] and pos[(inst.tradingsymbol, Product.NRML)] == -inst.lot_size
    finally:
        svc.on_stop()

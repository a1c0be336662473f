"""The sandbox's binary WebSocket driven by the real ``KiteTicker`` (in a subprocess: one reactor each)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kiteconnect import KiteConnect

from sandbox.kite.runner import SandboxThread
from tests.conftest import ROOT
from tests.sandbox.conftest import faults, login, sandbox_config

pytestmark = pytest.mark.slow


class Probe:
    """A ticker subprocess whose JSON events are collected as they arrive."""

    def __init__(self, sb: SandboxThread, kite: KiteConnect, seconds: float, spec: dict[str, list[int]]) -> None:
        cmd = [sys.executable, "-m", "tests.sandbox.ticker_probe", sb.ws_root, kite.api_key, kite.access_token,
               str(seconds), json.dumps(spec)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["ev"] == kind]

    def wait_for(self, pred, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        stderr = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"condition not met; events: {self.events[-10:]} stderr: {stderr[-2000:]}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._reader.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    s = SandboxThread(sandbox_config(heartbeat_seconds=0.3, tokens_per_connection=4)).start()
    yield s
    s.stop()


def _tokens(sb: SandboxThread) -> tuple[int, int, int, int]:
    m = sb.sandbox.account.master
    index = m.index("NIFTY").instrument_token
    fut = m.futures("NIFTY")[0].instrument_token
    eq1, eq2 = (e.instrument_token for e in m.equities()[:2])
    return index, fut, eq1, eq2


def test_modes_packets_and_order_updates(sb: SandboxThread) -> None:
    kite = login(sb)
    index, fut, eq1, eq2 = _tokens(sb)
    probe = Probe(sb, kite, 20, {"full": [index, fut], "quote": [eq1], "ltp": [eq2]})
    try:
        probe.wait_for(lambda: len(probe.of("sample")) >= 4)
        samples = {(e["tick"]["instrument_token"], e["tick"]["mode"]): e["tick"] for e in probe.of("sample")}
        assert set(samples) >= {(index, "full"), (fut, "full"), (eq1, "quote"), (eq2, "ltp")}
        idx, f = samples[(index, "full")], samples[(fut, "full")]
        q, ltp = samples[(eq1, "quote")], samples[(eq2, "ltp")]
        assert idx["tradable"] is False and "exchange_timestamp" in idx and "depth" not in idx
        acct = sb.sandbox.account
        assert idx["ohlc"]["close"] == acct.master.by_token(index).last_price  # H,L,O,C order decoded right
        assert f["tradable"] is True and len(f["depth"]["buy"]) == 5 and len(f["depth"]["sell"]) == 5
        assert f["depth"]["buy"][0]["price"] < f["depth"]["sell"][0]["price"] and f["oi"] > 0
        assert f["ohlc"]["low"] <= f["last_price"] <= f["ohlc"]["high"]
        assert "depth" not in q and q["volume_traded"] > 0
        assert set(ltp) == {"tradable", "mode", "instrument_token", "last_price"}
        oid = kite.place_order("regular", "NFO", acct.master.by_token(fut).tradingsymbol, "BUY",
                               acct.master.by_token(fut).lot_size, "NRML", "MARKET", market_protection=-1)  # fmt: skip
        probe.wait_for(lambda: any(e["order_id"] == oid and e["status"] == "COMPLETE" for e in probe.of("order")))
    finally:
        probe.close()


def test_heartbeats_without_subscriptions_and_instrument_limit(sb: SandboxThread) -> None:
    kite = login(sb)
    idle = Probe(sb, kite, 10, {})
    many = sb.sandbox.account.master.equities()[:6]
    full = Probe(sb, kite, 10, {"ltp": [e.instrument_token for e in many]})
    try:
        idle.wait_for(lambda: len(idle.of("heartbeat")) >= 2)
        assert not idle.of("ticks")
        full.wait_for(lambda: any("Maximum instruments" in e["reason"] for e in full.of("error")))
        full.wait_for(lambda: len(full.of("ticks")) >= 3)
        seen = {t for e in full.of("ticks") for t in e["tokens"]}
        assert len(seen) <= 4
    finally:
        idle.close()
        full.close()


def test_dropped_socket_reconnects_and_resubscribes(sb: SandboxThread) -> None:
    kite = login(sb)
    _, fut, _, _ = _tokens(sb)
    probe = Probe(sb, kite, 30, {"quote": [fut]})
    try:
        probe.wait_for(lambda: len(probe.of("ticks")) >= 3)
        faults(sb, drop_sockets=True)
        probe.wait_for(lambda: len(probe.of("connect")) >= 2, timeout=20)
        before = len(probe.events)
        probe.wait_for(lambda: any(e["ev"] == "ticks" for e in probe.events[before:]))
    finally:
        probe.close()


def test_bad_token_fails_the_handshake(sb: SandboxThread) -> None:
    kite = login(sb)
    kite.set_access_token("not-a-token")
    probe = Probe(sb, kite, 4, {"ltp": [_tokens(sb)[0]]})
    try:
        probe.wait_for(lambda: bool(probe.of("error")) or bool(probe.of("close")))
        time.sleep(0.5)
        assert not probe.of("connect") and not probe.of("ticks")
    finally:
        probe.close()

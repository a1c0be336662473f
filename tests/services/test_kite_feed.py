"""The feed's ``kite`` source: the real KiteTicker in the feed process against the sandbox, real Redis."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from sandbox.kite.runner import SandboxThread
from shared.brokers.kite_session import write_tokens
from shared.bus import codec, streams
from shared.candles import CandleBuilder
from shared.clock import MARKET_CLOSE, MARKET_OPEN, ist_to_ns, ns_to_ist
from tests.conftest import ROOT
from tests.sandbox.conftest import SESSION_DAY, faults, login, sandbox_config

pytestmark = pytest.mark.slow
PER_CONNECTION = 40


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    sb = SandboxThread(sandbox_config(tokens_per_connection=PER_CONNECTION, heartbeat_seconds=0.5)).start()
    yield sb
    sb.stop()


def _ticks(r: redis.Redis) -> int:
    return sum(r.xlen(s) for s in streams.ALL_TICK_STREAMS)


def _wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_kite_feed_spreads_instruments_survives_a_silent_socket_and_stamps_ist(
    sandbox: SandboxThread, service_env: dict[str, str], tmp_path: Path
) -> None:
    kite = login(sandbox)
    tokens_file = tmp_path / "secrets" / "kite_tokens.env"
    write_tokens(tokens_file, kite.api_key, kite.access_token)
    assert stat.S_IMODE(os.stat(tokens_file).st_mode) == 0o600
    env = {
        **service_env,
        "TZ": "America/New_York",  # the host zone must not leak into event times
        "KITE_ALGO__DATA__SOURCE": "kite",
        "KITE_ALGO__KITE__API_ROOT": sandbox.root,
        "KITE_ALGO__KITE__WS_ROOT": sandbox.ws_root,
        "KITE_ALGO__KITE__TOKENS_FILE": str(tokens_file),
        "KITE_ALGO__KITE__TOKENS_PER_CONNECTION": str(PER_CONNECTION),
        "KITE_ALGO__KITE__STALE_SECONDS": "2",
        "KITE_ALGO__KITE__RECONNECT_MAX_DELAY_SECONDS": "5",
    }
    log_path = tmp_path / "feed.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.feed"], env=env, cwd=ROOT, stderr=log)
    r = redis.Redis.from_url(env["REDIS_URL"])
    try:
        _wait(lambda: _ticks(r) > 200 or proc.poll() is not None, 30, "ticks from the kite feed")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        state = requests.get(sandbox.root + "/_sandbox/state", timeout=5).json()["data"]
        sizes = [c["instruments"] for c in state["connections"]]
        assert len(sizes) >= 2 and max(sizes) <= PER_CONNECTION  # more instruments than one connection takes

        tick = codec.decode(r.xrevrange(streams.ticks("NFO"), count=1)[0][1])
        when = ns_to_ist(tick.ts_event)
        assert when.date() == SESSION_DAY and MARKET_OPEN <= when.time() <= MARKET_CLOSE, when
        assert r.get(streams.INSTRUMENTS_LATEST)  # the master came from Kite's CSV dump

        faults(sandbox, silence_sockets=True)  # every socket goes silently dead
        time.sleep(0.5)
        silenced = _ticks(r)
        _wait(lambda: len(requests.get(sandbox.root + "/_sandbox/state", timeout=5).json()["data"]["connections"])
              == len(sizes) and not any(c["silent"] for c in requests.get(
                  sandbox.root + "/_sandbox/state", timeout=5).json()["data"]["connections"]),
              30, "the watchdog to replace every silent connection")  # fmt: skip
        _wait(lambda: _ticks(r) > silenced + 100, 30, "ticks after the reconnect")

        def resubscribed() -> bool:  # each connection back with its instruments (reconnects may lag under load)
            state = requests.get(sandbox.root + "/_sandbox/state", timeout=5).json()["data"]
            return sorted(c["instruments"] for c in state["connections"]) == sorted(sizes)

        _wait(resubscribed, 30, f"every connection resubscribed to its instruments {sorted(sizes)}")
    finally:
        proc.terminate()
        proc.wait(20)
        r.close()
    text = log_path.read_text()
    assert "no frame for" in text and kite.access_token not in text


def _state(sandbox: SandboxThread) -> dict:  # type: ignore[type-arg]
    return requests.get(sandbox.root + "/_sandbox/state", timeout=5).json()["data"]


def _decoded(r: redis.Redis) -> list:  # type: ignore[type-arg]
    """Every tick on the tick streams, decoded, in publish order per stream."""
    return [codec.decode(fields) for s in streams.ALL_TICK_STREAMS for _, fields in r.xrange(s)]


def test_minutes_missed_by_a_dead_socket_are_back_filled_so_the_candles_have_no_hole(
    sandbox: SandboxThread, service_env: dict[str, str], tmp_path: Path
) -> None:
    kite = login(sandbox)
    tokens_file = tmp_path / "secrets" / "kite_tokens.env"
    write_tokens(tokens_file, kite.api_key, kite.access_token)
    env = {
        **service_env,
        "KITE_ALGO__DATA__SOURCE": "kite",
        "KITE_ALGO__KITE__API_ROOT": sandbox.root,
        "KITE_ALGO__KITE__WS_ROOT": sandbox.ws_root,
        "KITE_ALGO__KITE__TOKENS_FILE": str(tokens_file),
        "KITE_ALGO__KITE__TOKENS_PER_CONNECTION": str(PER_CONNECTION),
        # The sandbox runs 20 market seconds a wall second: 8 s of silence is over 2 market
        # minutes, so at least one whole minute passes with no tick on any socket.
        "KITE_ALGO__KITE__STALE_SECONDS": "8",
        "KITE_ALGO__KITE__RECONNECT_MAX_DELAY_SECONDS": "5",
        "KITE_ALGO__KITE__BACKFILL_MAX_INSTRUMENTS": "10",  # every future and index of a connection
        "KITE_ALGO__KITE__BACKFILL_TIMEOUT_SECONDS": "60",
    }
    log_path = tmp_path / "feed.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.feed"], env=env, cwd=ROOT, stderr=log)
    r = redis.Redis.from_url(env["REDIS_URL"])
    try:
        _wait(lambda: _ticks(r) > 200 or proc.poll() is not None, 30, "ticks from the kite feed")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        sockets = len(_state(sandbox)["connections"])

        faults(sandbox, silence_sockets=True)
        silenced_ns = int(_state(sandbox)["now_ns"])
        _wait(lambda: len((s := _state(sandbox))["connections"]) == sockets
              and not any(c["silent"] for c in s["connections"]), 40,
              "the watchdog to replace every socket")  # fmt: skip
        resumed_ns = int(_state(sandbox)["now_ns"])
        _wait(lambda: log_path.read_text().count("back-filled") >= sockets or proc.poll() is not None, 60,
              "every connection's back-fill")  # fmt: skip
        time.sleep(3)  # a market minute more of live ticks after the back-fill
        assert proc.poll() is None, log_path.read_text()[-3000:]
        ticks = _decoded(r)
    finally:
        proc.terminate()
        proc.wait(20)
        r.close()

    minute = 60 * 1_000_000_000
    # Surely lost on the wire: after the minute the silence began in, before the one before
    # the reconnect was seen (the state is read a little after the first tick back).
    gap = range(silenced_ns // minute * minute + minute, resumed_ns // minute * minute - minute, minute)
    assert len(gap) >= 1, (silenced_ns, resumed_ns)
    futures = {t.instrument_token: t.symbol for t in ticks if t.symbol.endswith("FUT")}
    assert futures
    builder = CandleBuilder(["1m"])
    bars: dict[int, list] = {token: [] for token in futures}  # type: ignore[type-arg]
    for t in ticks:
        for bar in builder.on_tick(t):
            if bar.instrument_token in bars:
                bars[bar.instrument_token].append(bar)
    assert builder.late_ticks == 0 and builder.volume_resets == 0
    for token, symbol in futures.items():
        times = [t.ts_event for t in ticks if t.instrument_token == token]
        assert times == sorted(times), f"{symbol}: ticks out of event-time order"
        have = {ts // minute * minute for ts in times}
        every = range(min(have), max(have) + minute, minute)
        assert [m for m in every if m not in have] == [], f"{symbol}: minutes without ticks"
        opens = [b.ts_open for b in bars[token]]
        assert opens == list(range(opens[0], opens[0] + minute * len(opens), minute)), f"{symbol}: a hole in the bars"
        # the back-filled bars are Kite's candles: OHLC and volume
        history = {ist_to_ns(c["date"]): c for c in kite.historical_data(
            token, ns_to_ist(gap[0]), ns_to_ist(gap[-1]), "minute")}  # fmt: skip
        for bar in bars[token]:
            if bar.ts_open in gap:
                c = history[bar.ts_open]
                assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
                    c["open"], c["high"], c["low"], c["close"], c["volume"]), symbol  # fmt: skip
    text = log_path.read_text()
    assert "no frame for" in text and "did not finish" not in text

"""``run_trader live --config configs/live.yaml`` against the Kite sandbox: real processes, real clients.

Feed (KiteTicker), risk and execution (KiteBroker) run under supervisord; the engines are left
out (their strategies need hours of bars before they act), so the test plays the engine: it
asks the feed for an option's ticks and sends a future, an option and an equity intent to
risk. Each must come back filled from Kite, exactly once, journaled, with no token in any log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from sandbox.kite.runner import SandboxThread
from shared.brokers.kite import kite_tag
from shared.brokers.kite_session import write_tokens
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.contracts import FeedSubscription, OrderIntent, Tick
from shared.enums import FeedAction, OrderStatus, OrderType, Product, Side
from shared.instruments import Instrument
from shared.state.journal import read_orders
from tests.e2e.session import ROOT, session_env
from tests.sandbox.conftest import SESSION_DAY, login, sandbox_config

pytestmark = pytest.mark.slow


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run_trader exited {proc.returncode}: {log.read_text()[-3000:]}")
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")


def _last_tick(r: redis.Redis, symbol: str) -> Tick | None:
    for stream in (streams.ticks("NFO"), streams.ticks("NSE")):
        for _, fields in r.xrevrange(stream, count=3000):
            if fields.get(b"symbol") == symbol.encode():
                return codec.decode(fields)  # type: ignore[return-value]
    return None


def _intent(inst: Instrument, tick: Tick, intent_id: str, product: Product) -> OrderIntent:
    return OrderIntent(
        ts_event=tick.ts_event, intent_id=intent_id, strategy="e2e",
        engine="fno" if inst.exchange == "NFO" else "equity",
        exchange=inst.exchange, symbol=inst.tradingsymbol, instrument_token=inst.instrument_token, side=Side.BUY,
        quantity=inst.lot_size, order_type=OrderType.MARKET, product=product, ref_price=tick.last_price,
        stop_loss=round(tick.last_price * 0.9, 1), timeframe="5m",
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["live", "paper"])
def test_session_on_kite_data_trades_futures_options_and_equity(redis_url: str, tmp_path: Path, mode: str) -> None:
    """live: orders go to Kite. paper with ``data.source: kite``: Kite's data, simulated fills, no Kite order."""
    sb = SandboxThread(sandbox_config(speed=5.0)).start()
    artifacts = tmp_path / "artifacts"
    log_path = tmp_path / "run_trader.log"
    try:
        kite = login(sb)
        tokens = tmp_path / "secrets" / "kite_tokens.env"
        write_tokens(tokens, kite.api_key, kite.access_token)
        env = session_env(redis_url, artifacts, **{
            "KITE_ALGO__DATA__SPEED": "1", "KITE_ALGO__DATA__START_DATE": SESSION_DAY.isoformat(),
            "KITE_ALGO__KITE__API_ROOT": sb.root, "KITE_ALGO__KITE__WS_ROOT": sb.ws_root,
            "KITE_ALGO__KITE__TOKENS_FILE": str(tokens), "KITE_ALGO__KITE__POLL_SECONDS": "0.5",
            "KITE_ALGO__TRADING__PAPER_CAPITAL": "100000000", "KITE_ALGO__DATA__SOURCE": "kite",
        })  # fmt: skip
        config = ROOT / "configs" / ("live.yaml" if mode == "live" else "dev.yaml")
        r = redis.Redis.from_url(redis_url)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scripts.run_trader", mode, "--config", str(config), "--engines", "none"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            master = sb.sandbox.account.master
            fut = master.futures("NIFTY")[0]
            eq = next(i for i in master.equities() if i.tradingsymbol in {"RELIANCE", "INFY", "TCS", "HDFCBANK"})
            expiry = master.nearest_expiry("NIFTY", SESSION_DAY)
            chain = master.option_chain("NIFTY", expiry)
            spot = sb.sandbox.account.market.spot("NIFTY")
            opt = min((o for o in chain if o.instrument_type == "CE"), key=lambda o: abs(o.strike - spot))
            _wait(lambda: _last_tick(r, fut.tradingsymbol) is not None and _last_tick(r, eq.tradingsymbol) is not None,
                  60, "ticks from the kite feed", proc, log_path)  # fmt: skip
            bus = Bus(r)
            bus.publish(streams.CONTROL_FEED, FeedSubscription(
                ts_event=time.time_ns(), action=FeedAction.SUBSCRIBE, requester="e2e",
                instrument_tokens=(opt.instrument_token,)))  # fmt: skip
            _wait(lambda: _last_tick(r, opt.tradingsymbol) is not None, 30, "the option's ticks", proc, log_path)
            time.sleep(2.0)  # risk and execution are reading
            legs = [(fut, Product.NRML, "e2e-fut"), (opt, Product.NRML, "e2e-opt"), (eq, Product.MIS, "e2e-eq")]
            for inst, product, iid in legs:
                tick = _last_tick(r, inst.tradingsymbol)
                assert tick is not None
                bus.publish(streams.ORDER_INTENTS, _intent(inst, tick, iid, product))
            _wait(lambda: {f.intent_id for _, x in r.xrange(streams.FILLS) for f in [codec.decode(x)]}
                  >= {iid for *_, iid in legs}, 60, "fills of all three intents", proc, log_path)  # fmt: skip
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(90)
        assert proc.returncode == 0, log_path.read_text()[-3000:]
        book = login(sb).orders()
        if mode == "paper":
            assert book == []  # simulated fills only
        for inst, _, iid in legs if mode == "live" else []:
            mine = [o for o in book if o["tag"] == kite_tag(iid)]
            assert len(mine) == 1 and mine[0]["status"] == "COMPLETE", (iid, mine)
            assert mine[0]["tradingsymbol"] == inst.tradingsymbol
        rows = read_orders(artifacts / "orders.csv")
        filled = {row.intent_id for row in rows if row.status == OrderStatus.FILLED}
        assert filled == {iid for *_, iid in legs}
        for path in [log_path, *artifacts.rglob("*")]:
            if path.is_file() and path.suffix in (".log", ".csv", ".json", ".jsonl", ".conf"):
                assert kite.access_token not in path.read_text(errors="replace"), path
    finally:
        sb.stop()

"""A simulated session with the options engine, every service a real process (run_trader, supervisord).

The ATM short straddle sells NIFTY's ATM CE and PE at 09:20; one leg is stopped out, the other
closed at the time exit (10:40 here: the test stops the session at 10:50 to stay fast). Checked:
the journals carry the contract, risk allowed the trades, the charges are the option rate card's
on the premiums, and the position snapshots carry IV and Greeks while the legs are held. A
second straddle on FINNIFTY breaches a net delta limit: risk blocks it and says why.
"""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from shared.brokers.charges import Segment, order_charges
from shared.bus import codec, streams
from shared.clock import ist_day
from shared.contracts import OrderIntent, PositionSnapshot, RiskDecision
from shared.enums import Decision, Side, SignalKind
from shared.sim import calendar
from shared.state.journal import read_orders, read_signals
from tests.e2e.session import SESSION_DAY, TraderRun, session_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
ROOT = Path(__file__).resolve().parents[2]
STOP_AT = "10:50"


def straddle_config(tmp_path: Path) -> Path:
    cfg: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "dev.yaml").read_text())
    cfg["strategy_engine"]["engines"]["options"] = [
        {"name": "atm_short_straddle", "timeframe": "1m",
         "params": {"entry_start": "09:20", "stop_loss_pct": 0.2, "exit_time": "10:40", "underlyings": "NIFTY"}},
        # FINNIFTY under a delta limit of 5 units: not one lot of either leg fits, risk blocks both
        {"name": "atm_short_straddle", "timeframe": "1m",
         "params": {"id": "fin_straddle", "entry_start": "09:20", "stop_loss_pct": 0.05, "exit_time": "10:40",
                    "underlyings": "FINNIFTY"}},
    ]  # fmt: skip
    cfg["risk"]["greeks"]["max_abs_delta"] = {"NIFTY": 2000, "FINNIFTY": 5}
    path = tmp_path / "straddle.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_until(run: TraderRun, hhmm: str, timeout: float = 240) -> None:
    """Until the feed passed ``hhmm`` IST and every consumer group has read its streams."""
    day = date.fromisoformat(SESSION_DAY)
    open_ns, close_ns = calendar.session_open_ns(day), calendar.session_close_ns(day)
    hh, mm = (int(x) for x in hhmm.split(":"))
    run.wait_until(((hh * 60 + mm) - (9 * 60 + 15)) * 60e9 / (close_ns - open_ns), timeout=timeout)
    deadline = time.monotonic() + timeout
    while not run.all_read():
        assert time.monotonic() < deadline, "the services did not catch up with the feed"
        time.sleep(0.3)
    time.sleep(2)  # the last batch: journaled and checkpointed


def test_the_straddle_is_sold_one_leg_stopped_the_other_time_exited(redis_url: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    # speed=max on a loaded machine: risk may see a tick late; do not let that read as stale data
    env = session_env(
        redis_url,
        artifacts,
        KITE_ALGO_CONFIG=str(straddle_config(tmp_path)),
        KITE_ALGO__RISK__STALE_DATA_SECONDS="60",
    )
    run = TraderRun(env, engines="options")
    try:
        run_until(run, STOP_AT)
    finally:
        code = run.stop()
    assert code == 0, run.output()[-3000:]
    r = redis.Redis.from_url(redis_url)

    decided = [codec.decode(f) for _, f in r.xrange(streams.RISK_DECISIONS)]
    decisions = {m.intent_id: m for m in decided if isinstance(m, RiskDecision)}
    every_intent = [m for _, f in r.xrange(streams.ORDER_INTENTS) if isinstance(m := codec.decode(f), OrderIntent)]

    # the FINNIFTY straddle breaches its delta limit: both legs blocked, with the reason
    fin = [i for i in every_intent if i.underlying == "FINNIFTY" and not i.reduce_only]
    assert sorted(i.option_type for i in fin) == ["CE", "PE"]
    for i in fin:
        d = decisions[i.intent_id]
        assert d.decision == Decision.BLOCK and d.rule == "greeks_delta", d
        assert "net delta of FINNIFTY would go from" in d.reason and "past the limit +/-5" in d.reason

    intents = [i for i in every_intent if i.underlying == "NIFTY"]
    entries = [i for i in intents if not i.reduce_only]
    exits = {i.symbol: i for i in intents if i.reduce_only}
    assert sorted(i.option_type for i in entries) == ["CE", "PE"], intents
    assert {i.symbol for i in entries} == set(exits)
    for i in entries:
        assert i.side == Side.SELL and i.underlying == "NIFTY" and i.strike > 0 and i.expiry
        assert i.quantity == 65  # one lot, from the instruments master
    reasons = sorted(exits[i.symbol].reason for i in entries)
    assert any("stop" in x and "hit" in x for x in reasons), reasons
    assert any("time exit 10:40" in x for x in reasons), reasons
    assert all(decisions[i.intent_id].decision == Decision.ALLOW for i in intents), [
        (d.decision, d.rule, d.reason) for d in decisions.values()
    ]

    # orders.csv: each leg sold and bought back, with the contract in the journal
    rows = read_orders(artifacts / "orders.csv")
    fills = [row for row in rows if row.fill is not None]
    by_symbol: dict[str, list[Any]] = defaultdict(list)
    for row in fills:
        by_symbol[row.symbol].append(row)
    assert set(by_symbol) == {i.symbol for i in entries}
    for i in entries:
        legs = by_symbol[i.symbol]
        assert [row.side for row in legs] == [Side.SELL, Side.BUY]
        for row in legs:
            assert row.underlying == "NIFTY" and row.strategy == "atm_short_straddle"
            assert row.extra["option_type"] == i.option_type and row.extra["strike"] == i.strike
            assert row.extra["expiry"] == i.expiry
            # charges on the premium turnover, as the options rate card prices them
            fill = row.fill
            assert fill is not None
            expected = order_charges(Segment.OPTIONS, row.side, fill.quantity * fill.price, ist_day(row.ts_ns))
            assert fill.charges == pytest.approx(expected.total, abs=1e-6)
            assert fill.charges > 20  # the flat ₹20 brokerage plus taxes

    # signals.csv: the straddle's entries say ATM came from the index level (fresh in the simulator)
    sold = [row for row in read_signals(artifacts / "signals.csv") if row.signal == SignalKind.SHORT]
    assert {row.symbol for row in sold} >= {i.symbol for i in entries}
    for row in sold:
        assert "[spot: index " in row.reason, row.reason

    # pnl.csv: two round trips with their charges
    with (artifacts / "pnl.csv").open() as fh:
        trades = list(csv.DictReader(fh))
    assert sorted(t["symbol"] for t in trades) == sorted(by_symbol)
    for t in trades:
        legs = by_symbol[t["symbol"]]
        assert float(t["charges"]) == pytest.approx(sum(row.fill.charges for row in legs), abs=1e-6)
        assert float(t["net_pnl"]) == pytest.approx(float(t["gross_pnl"]) - float(t["charges"]), abs=1e-6)

    # the position snapshots carry IV and Greeks of each option line while it is held
    both_held = None
    for _, f in r.xrange(streams.POSITIONS):
        snap = codec.decode(f)
        if isinstance(snap, PositionSnapshot):
            open_lines = {p.symbol: p for p in snap.positions if p.quantity}
            if len(open_lines) == 2:
                both_held = open_lines
    assert both_held is not None, "no snapshot with both legs held"
    for line in both_held.values():
        assert line.quantity == -65 and 0.03 < line.iv < 1.0
        assert line.vega < 0 and line.gamma < 0 and line.theta > 0  # short options: short vol, long decay
        assert (line.delta < 0) == line.symbol.endswith("CE")
    state = json.loads((artifacts / "checkpoints" / "paper_state_latest.json").read_text())
    assert all(p["quantity"] == 0 for p in state["positions"])
    assert state["equity"]["charges"] == pytest.approx(sum(row.fill.charges for row in fills), abs=1e-6)

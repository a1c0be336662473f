"""Parity: one morning through every service (replay feed, real Redis) and through the backtester.

The same ticks (``ticks.csv`` in the replay layout, read by the same ``ReplaySource``) go
through ``python -m scripts.run_trader paper --engines fno`` and through ``Backtest``; the
journals must be equal line for line: every signal, every order change and fill, every
round trip's PnL.

Why the session is paced (speed 60: ticks 30 s of event time apart arrive 0.5 s apart):
in the services an intent reaches execution after execution has handled the tick that
caused it, and the order fills on the next tick. At speed=max execution races ahead of the
engines and an order would fill on whichever tick execution happens to be at: faster,
but not one answer. The risk limits that read the book's PnL through ``positions``
snapshots (day loss, symbol loss) are set out of reach, and sizing binds at one lot, so
the age of the snapshot risk happens to hold (a race in any multi-process system) cannot
change a decision. The pacing must leave room for the services' latency: a fill has to reach
risk before the next intent (30 s of event time, 0.5 s of wall time, later); at load average
12 on two cores 0.25 s was once not enough.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
import yaml

from shared.backtest.data import HistoryData
from shared.backtest.generate import generate_history
from shared.backtest.runner import Backtest
from shared.config import load_settings
from shared.state.journal import read_orders
from tests.e2e.session import TraderRun, session_env

pytestmark = pytest.mark.slow
DAY = date(2026, 11, 25)
MINUTES = 100  # 09:15 .. 10:55: 50 minutes of warm-up for EMA50 on 1m bars, then 50 of trading


def parity_folder(tmp_path: Path) -> Path:
    """A replay folder with two ticks a minute (open at :00, close at :30) of two index futures."""
    source = tmp_path / "history"
    generate_history(source, DAY, DAY, ["NIFTY", "BANKNIFTY"], seed=5)  # a morning with crosses
    folder = tmp_path / "replay"
    folder.mkdir()
    (folder / "instruments.csv").write_text((source / "instruments.csv").read_text())
    rows: list[tuple[str, str, str, str, int]] = []
    for path in sorted((source / "candles" / "NFO").glob("*.csv")):
        with path.open() as fh:
            candles = list(csv.DictReader(fh))[:MINUTES]
        # A pre-open tick (no volume) ten minutes early: paced, it gives every service five
        # seconds to subscribe before the session's first tick (a service that starts after a
        # tick was published warms up from it and would miss it in its first bar).
        rows.append((candles[0]["date"].replace("09:15:00", "09:05:00"), path.stem, candles[0]["open"], "0", 0))
        volume = 0
        for c in candles:
            stamp = c["date"]
            half = stamp.replace(":00+0530", ":30+0530")
            volume += int(c["volume"]) // 2
            rows.append((stamp, path.stem, c["open"], str(volume), 0))
            volume += int(c["volume"]) - int(c["volume"]) // 2
            rows.append((half, path.stem, c["close"], str(volume), 1))
    rows.sort(key=lambda r: (r[0], r[1]))
    with (folder / "ticks.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        # last_quantity is the depth shown on each side of the price (ten lots): orders fill whole
        w.writerow(["timestamp", "exchange", "tradingsymbol", "last_price", "last_quantity", "volume"])
        w.writerows([(r[0], "NFO", r[1], r[2], 650, r[3]) for r in rows])
    return folder


def parity_config(tmp_path: Path, folder: Path) -> Path:
    config = {
        "trading": {"mode": "paper", "fno_universe": ["NIFTY", "BANKNIFTY"], "paper_capital": 500000},
        "data": {"source": "replay", "replay_path": str(folder), "replay_kind": "ticks", "speed": 60},
        "strategy_engine": {
            "engines": {"fno": [{"name": "ema20_50_intraday", "timeframe": "1m", "params": {"stop_atr": 200.0}}]}
        },
        "risk": {
            "max_daily_loss": 1e9,
            "per_symbol_max_loss": 1e9,
            "max_trades_per_symbol_per_day": 1000,
            "max_orders_per_minute": 600,
        },
        # risk sizes from the stop distance: a stop never reached, 100% risk, the exposure cap binds
        # at one lot. No stop exits: a stop hit on the tick right after the entry's fill races that
        # fill to risk (a reduce-only exit on a book risk still sees flat is blocked).
        "portfolio": {"risk_per_trade_pct": 1.0},
    }
    path = tmp_path / "parity.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.timeout(300)
def test_services_and_backtester_agree_line_for_line(redis_url: str, tmp_path: Path) -> None:
    folder = parity_folder(tmp_path)
    config = parity_config(tmp_path, folder)
    artifacts = tmp_path / "artifacts"
    env = session_env(redis_url, artifacts, KITE_ALGO_CONFIG=str(config))
    for key in ("KITE_ALGO__DATA__SPEED", "KITE_ALGO__DATA__DAYS", "KITE_ALGO__DATA__START_DATE"):
        env.pop(key)
    run = TraderRun(env, engines="fno")
    try:
        run.wait_finished(timeout=300)
    finally:
        rc = run.stop()
    assert rc == 0, run.output()[-3000:]

    settings = load_settings(config)
    data = HistoryData(folder)
    backtest = Backtest(settings, data.master, symbols=["NIFTY", "BANKNIFTY"])
    result = backtest.run(data.ticks(), finish=False)  # the feed stopped mid-session: no 15:30 close
    out = result.journal.write(tmp_path / "backtest")

    for name in ("signals", "orders", "pnl"):
        live = (artifacts / f"{name}.csv").read_text().splitlines()
        ours = out[name].read_text().splitlines()
        assert len(live) > 1, f"the session wrote no {name}"
        for i, (a, b) in enumerate(zip(live, ours, strict=False)):
            assert a == b, f"{name}.csv line {i + 1} differs:\nservices:   {a}\nbacktester: {b}"
        assert len(live) == len(ours), f"{name}.csv: {len(live)} lines from the services, {len(ours)} backtested"
    fills = [r for r in read_orders(out["orders"]) if r.fill is not None]
    assert len(fills) >= 4, "too few fills for the comparison to mean much"
    assert len(result.journal.trades) >= 2

"""Backtest throughput: an EMA 20/50 crossover over N one-minute bars, ours beside backtrader and NautilusTrader.

    .venv/bin/pip install -e '.[bench]'          # backtrader, nautilus_trader (not in dev)
    .venv/bin/python -m bench.backtest [--bars 500000] [--runs 3]

Every contender gets the same bars (simulated RELIANCE minutes, ``generate_history``) and
runs the same strategy: EMA20/EMA50 on closes, long on an up-cross, short on a down-cross,
reversing, market orders at the next bar's open.

- **kite-algo (full path)**: the bar path (``BarBacktest.run_bars``, what ``run_backtest`` picks
  for 1-minute candles) with ``ema20_50_intraday`` on 1m bars: indicators computed once as arrays
  (numba-compiled loops when installed), the strategy engine called on the cross bars and exit
  candidates only, and around each of those the services' code: risk (sizing and every rule),
  the paper broker (depth fill model, charges, MIS square-off), the seed's journals in memory,
  position snapshots, the minute equity curve. Its journals are the tick path's, line for line
  (``tests/unit/test_backtest_bars.py``); the bench checks the trade counts agree. Reading the
  CSV into columns is not timed (reported as ``load_s``), as the tick path's ``HistoryData``
  parse is not; nor is loading numba's compiled loops, once per process before any run.
  Intraday rules apply (entries 09:15-15:00, exit 15:10), so it trades a little
  less than the peers; the work per bar is the same or more.
- **kite-algo (tick path)**: the same backtest with ``path="ticks"``: the replay source's four
  ticks a bar through the candle builder, indicators, strategy engine, risk, broker and journals.
- **kite-algo (data only)**: the same CSV turned into the same ticks, nothing else: the share
  of the tick path that is reading data.
- **backtrader**: ``Cerebro`` over ``GenericCSVData`` of the same CSV (parsing included),
  a strategy with ``bt.ind.EMA`` and ``order_target_size``, no commission.
- **NautilusTrader**: ``BacktestEngine.run`` with its example ``EMACross`` (20/50) on the same
  bars (turned into Nautilus bars beforehand, not timed), a netting margin account.
- **bare loop**: a plain Python loop over the closes (two EMAs, the cross, PnL at the next
  open): no risk, no accounting, no journal.

Reports bars/s (median of ``--runs``) and the ratios to each peer measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import save
from shared.backtest.bars import BarBacktest, BarHistory
from shared.backtest.data import HistoryData
from shared.backtest.generate import MINUTES, generate_history
from shared.backtest.runner import Backtest
from shared.config import Settings, StrategyEngineConfig, StrategySpec
from shared.indicators.series import warm_up
from shared.sim import calendar

SYMBOL = "RELIANCE"
QTY = 65


def make_data(folder: Path, bars: int) -> Path:
    """``bars`` minutes of RELIANCE (whole sessions) in the replay layout; returns the candle CSV."""
    days = -(-bars // MINUTES)
    start = date(2020, 1, 1)
    end = start
    while len(calendar.trading_days(start, end)) < days:
        end += timedelta(days=max(1, (days - len(calendar.trading_days(start, end))) * 7 // 5))
    candles = folder / "candles" / "NSE" / f"{SYMBOL}.csv"
    if not candles.exists():
        generate_history(folder, start, end, [SYMBOL], seed=1)
    return candles


def settings() -> Settings:
    spec = StrategySpec(name="ema20_50_intraday", timeframe="1m", params={"stop_atr": 200.0})
    base = Settings()
    return base.model_copy(
        update={
            "strategy_engine": StrategyEngineConfig(engines={"equity": [spec]}),
            "risk": base.risk.model_copy(
                update={"max_daily_loss": 1e12, "per_symbol_max_loss": 1e12, "max_trades_per_symbol_per_day": 10_000}
            ),
            "portfolio": base.portfolio.model_copy(update={"risk_per_trade_pct": 1.0}),
        }
    )


def ours(folder: Path) -> tuple[float, dict[str, Any]]:
    """The bar path: what ``run_backtest`` runs on these candles (the load is reported, not timed)."""
    started = time.perf_counter()
    history = BarHistory.load(folder)
    load_s = time.perf_counter() - started
    runner = BarBacktest(settings(), history.master, symbols=[SYMBOL], fill_timing="same_tick")
    started = time.perf_counter()
    result = runner.run_bars(history)
    elapsed = time.perf_counter() - started
    info = {"trades": len(result.journal.trades), "fills": result.counters["fills"], "load_s": round(load_s, 2)}
    return elapsed, info


def ours_ticks(folder: Path) -> tuple[float, dict[str, Any]]:
    """The tick path: every bar as four ticks through the services' code."""
    data = HistoryData(folder)
    runner = Backtest(settings(), data.master, symbols=[SYMBOL], fill_timing="same_tick")
    started = time.perf_counter()
    result = runner.run(data.ticks())
    elapsed = time.perf_counter() - started
    return elapsed, {"trades": len(result.journal.trades), "fills": result.counters["fills"]}


def data_only(folder: Path) -> tuple[float, dict[str, Any]]:
    data = HistoryData(folder)
    started = time.perf_counter()
    n = sum(1 for _ in data.ticks())
    return time.perf_counter() - started, {"ticks": n}


def backtrader_run(candles: Path) -> tuple[float, dict[str, Any]]:
    import backtrader as bt

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.ind.EMA(self.data.close, period=20)
            self.slow = bt.ind.EMA(self.data.close, period=50)
            self.last = 0
            self.orders = 0

        def next(self) -> None:
            diff = self.fast[0] - self.slow[0]
            sign = (diff > 0) - (diff < 0)
            if sign and self.last and sign != self.last:
                self.order_target_size(target=sign * QTY)
                self.orders += 1
            if sign:
                self.last = sign

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=str(candles), dtformat="%Y-%m-%dT%H:%M:%S+0530", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    ))  # fmt: skip
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(1e12)
    started = time.perf_counter()
    (strategy,) = cerebro.run()
    return time.perf_counter() - started, {"orders": strategy.orders}


def nautilus_run(candles: Path) -> tuple[float, dict[str, Any]]:
    from decimal import Decimal

    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    df = pd.read_csv(candles)
    df.index = pd.to_datetime(df.pop("date"), format="%Y-%m-%dT%H:%M:%S%z").dt.tz_convert("UTC")
    instrument = TestInstrumentProvider.equity(SYMBOL, "XNSE")
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(df)
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id=TraderId("BENCH-001"), logging=LoggingConfig(bypass_logging=True))
    )
    engine.add_venue(Venue("XNSE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USD, starting_balances=[Money(1_000_000_000, USD)])  # fmt: skip
    engine.add_instrument(instrument)
    engine.add_data(bars)
    config = EMACrossConfig(instrument_id=instrument.id, bar_type=bar_type, trade_size=Decimal(QTY),
                            fast_ema_period=20, slow_ema_period=50)  # fmt: skip
    engine.add_strategy(EMACross(config))
    started = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - started
    orders = len(engine.cache.orders())
    engine.dispose()
    return elapsed, {"orders": orders}


def bare_loop(candles: Path) -> tuple[float, dict[str, Any]]:
    with candles.open() as fh:
        rows = list(csv.reader(fh))[1:]
    opens = [float(r[1]) for r in rows]
    closes = [float(r[4]) for r in rows]
    started = time.perf_counter()
    k20, k50 = 2 / 21, 2 / 51
    fast = sum(closes[:20]) / 20
    slow = sum(closes[:50]) / 50
    for x in closes[20:50]:
        fast += (x - fast) * k20
    last = 0
    pos = 0
    pnl = 0.0
    entry = 0.0
    trades = 0
    for i in range(50, len(closes) - 1):
        x = closes[i]
        fast += (x - fast) * k20
        slow += (x - slow) * k50
        diff = fast - slow
        sign = (diff > 0) - (diff < 0)
        if sign and last and sign != last:
            price = opens[i + 1]
            if pos:
                pnl += (price - entry) * pos
                trades += 1
            pos, entry = sign * QTY, price
        if sign:
            last = sign
    return time.perf_counter() - started, {"trades": trades, "pnl": round(pnl, 2)}


def measure(name: str, runs: int, bars: int, fn: Callable[[], tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    times, info = [], {}
    for _ in range(runs):
        elapsed, info = fn()
        times.append(elapsed)
        print(f"  {name}: {elapsed:.2f} s ({bars / elapsed:,.0f} bars/s) {info}", flush=True)
    med = statistics.median(times)
    return {"seconds": times, "median_s": med, "bars_per_s": bars / med, "info": info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", default="bench/.data/backtest", help="where the bars are written (kept)")
    parser.add_argument("--skip", default="", help="comma list of contenders to leave out")
    args = parser.parse_args(argv)
    folder = Path(args.data) / str(args.bars)
    candles = make_data(folder, args.bars)
    with candles.open() as fh:
        bars = sum(1 for _ in fh) - 1
    print(f"{bars:,} one-minute bars in {candles}", flush=True)
    warm_s = warm_up()  # numba's one-off load per process, outside every run (reported)
    print(f"numba loops loaded in {warm_s:.2f} s (once per process, not timed)", flush=True)
    contenders: dict[str, Callable[[], tuple[float, dict[str, Any]]]] = {
        "kite_algo_full_path": lambda: ours(folder),
        "kite_algo_tick_path": lambda: ours_ticks(folder),
        "kite_algo_data_only": lambda: data_only(folder),
        "backtrader": lambda: backtrader_run(candles),
        "nautilus_trader": lambda: nautilus_run(candles),
        "bare_python_loop": lambda: bare_loop(candles),
    }
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: dict[str, Any] = {}
    for name, fn in contenders.items():
        if name in skip:
            continue
        try:
            results[name] = measure(name, args.runs, bars, fn)
        except ImportError as exc:
            print(f"  {name}: not installed ({exc}); pip install -e '.[bench]'", flush=True)
    full = results.get("kite_algo_full_path")
    ticks = results.get("kite_algo_tick_path")
    if full and ticks and full["info"]["trades"] != ticks["info"]["trades"]:
        print(f"  WARNING: bar path {full['info']['trades']} trades, tick path {ticks['info']['trades']}", flush=True)
    if full:
        for peer in ("kite_algo_tick_path", "backtrader", "nautilus_trader", "bare_python_loop"):
            if peer in results:
                full[f"x_{peer}"] = full["bars_per_s"] / results[peer]["bars_per_s"]
    print(f"\nbars/s (median of {args.runs} runs), load average {os.getloadavg()}:")
    for name, r in results.items():
        ratios = "  ".join(f"{k}={v:.2f}" for k, v in r.items() if k.startswith("x_"))
        print(f"  {name:22s} {r['bars_per_s']:>12,.0f}  {ratios}")
    meta = {"bars": bars, "runs": args.runs, "load_average": os.getloadavg(), "numba_warm_up_s": warm_s}
    path = save("backtest", {**meta, "results": results})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

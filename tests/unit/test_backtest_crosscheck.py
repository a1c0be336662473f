"""Cross-check against backtrader: the same EMA 20/50 crossover gives the same trades, bar for bar.

Our side is the whole backtester (engine, ``ema20_50_intraday`` on 1-minute bars, risk,
paper broker), with ``fill_timing: same_tick`` so a decision at a bar's close fills at the
next bar's open. backtrader runs a strategy written here with the same rules, on the same
CSV candles, market orders at the next bar's open, a fixed 65 units, no commission.

Conventions that differ, and how the comparison accounts for them (docs/backtesting.md):

- EMA seeding: both seed with the SMA of the first ``period`` values; no difference.
- Crossover: ours is a change of sign of EMA20 - EMA50 against the last non-zero sign
  (touching zero is no cross); the backtrader strategy here computes the same.
- Fill price: backtrader fills at the open; our paper book walks the replayed depth, one
  tick (0.05) around the last price: buys pay open + 0.05, sells get open - 0.05.
- Intraday rules: ``ema20_50_intraday`` enters only in [09:15, 15:00) and exits from 15:10
  (bar close times); the backtrader strategy applies them to its bars' close times.
- Reversal: ours sends an exit and an entry (two orders of 65), backtrader's
  ``order_target_size`` one order of 130; both are compared as per-unit fills.
- Size: risk sizes our orders from the stop distance, so ours carry a stop of 200 ATR (never
  reached in a session) and risk 100% a trade; the exposure cap (5 lakh capital, futures at
  15% margin) then binds at exactly one lot (65), which the comparison asserts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from shared.backtest.data import HistoryData
from shared.backtest.generate import generate_history
from shared.backtest.runner import Backtest
from shared.clock import IST
from shared.config import Settings, StrategyEngineConfig, StrategySpec

bt = pytest.importorskip("backtrader")

START, END = date(2025, 1, 1), date(2025, 1, 17)
LOT = 65
TICK = 0.05
ENTRY_START, ENTRY_CUTOFF, EXIT_TIME = 9 * 60 + 15, 15 * 60, 15 * 60 + 10


def our_settings() -> Settings:
    spec = StrategySpec(name="ema20_50_intraday", timeframe="1m", params={"stop_atr": 200.0, "reverse": True})
    base = Settings()
    return base.model_copy(
        update={
            "strategy_engine": StrategyEngineConfig(engines={"fno": [spec]}),
            "risk": base.risk.model_copy(
                update={"max_daily_loss": 1e9, "per_symbol_max_loss": 1e9, "max_trades_per_symbol_per_day": 10_000}
            ),
            "portfolio": base.portfolio.model_copy(update={"risk_per_trade_pct": 1.0}),
        }
    )


class _Crossover(bt.Strategy):  # type: ignore[misc]
    """EMA 20/50 crossover with ema20_50_intraday's time rules, on bar close times."""

    def __init__(self) -> None:
        self.fast = bt.indicators.EMA(self.data.close, period=20)
        self.slow = bt.indicators.EMA(self.data.close, period=50)
        self.last_sign = 0
        self.fills: list[tuple[datetime, str, int, float]] = []

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            when, side = bt.num2date(order.executed.dt), "BUY" if order.isbuy() else "SELL"
            self.fills.append((when, side, abs(order.executed.size), order.executed.price))

    def next(self) -> None:
        diff = self.fast[0] - self.slow[0]
        sign = 1 if diff > 0 else -1 if diff < 0 else 0
        cross = 0
        if sign:
            cross = sign if self.last_sign and sign != self.last_sign else 0
            self.last_sign = sign
        close_time = bt.num2date(self.data.datetime[0]) + timedelta(minutes=1)
        minutes = close_time.hour * 60 + close_time.minute
        held = self.position.size
        direction = (held > 0) - (held < 0)
        if held and minutes >= EXIT_TIME:
            self.order_target_size(target=0)
            return
        can_enter = ENTRY_START <= minutes < ENTRY_CUTOFF
        if cross and cross != direction:
            self.order_target_size(target=cross * LOT if can_enter else 0)


def backtrader_fills(candles: Path) -> list[tuple[datetime, str, int, float]]:
    cerebro = bt.Cerebro(stdstats=False)
    data = bt.feeds.GenericCSVData(
        dataname=str(candles), dtformat="%Y-%m-%dT%H:%M:%S+0530", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    )  # fmt: skip
    cerebro.adddata(data)
    cerebro.addstrategy(_Crossover)
    cerebro.broker.setcash(1e12)
    cerebro.broker.setcommission(commission=0.0)
    (strategy,) = cerebro.run()
    out = []
    for when, side, size, price in strategy.fills:  # a reversal of 130 is an exit and an entry of 65
        out.extend([(when, side, LOT, price)] * (size // LOT))
    return out


def test_same_trades_as_backtrader(tmp_path: Path) -> None:
    generate_history(tmp_path, START, END, ["NIFTY"], seed=3)
    (candles,) = (tmp_path / "candles" / "NFO").glob("*.csv")
    data = HistoryData(tmp_path)
    runner = Backtest(our_settings(), data.master, symbols=["NIFTY"], fill_timing="same_tick")
    result = runner.run(data.ticks())
    ours = []
    for row in result.journal.orders:
        extra = row["extra"]
        assert isinstance(extra, dict)
        if "fill_id" in extra:
            ts = int(extra.get("fill_ts_ns", extra["ts_ns"]))
            ours.append((ts, str(row["side"]), int(extra["fill_quantity"]), float(extra["fill_price"])))
    theirs = backtrader_fills(candles)

    assert len(theirs) >= 20, "too few trades for the comparison to mean much"
    assert len(ours) == len(theirs)
    for (ts, side, qty, price), (when, b_side, b_qty, b_price) in zip(ours, theirs, strict=True):
        ours_at = datetime.fromtimestamp(ts / 1e9, IST).replace(tzinfo=None)
        assert (ours_at, side, qty) == (when, b_side, b_qty)
        assert price == pytest.approx(b_price + (TICK if side == "BUY" else -TICK), abs=1e-6), (ours_at, side)

"""The backtester's parts: simulated history, data loading, the runner over days and rolls, reports, CLI."""

from __future__ import annotations

import csv
import json
import math
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from scripts.run_trader import main as run_trader_main
from shared.backtest import run_backtest
from shared.backtest.data import HistoryData
from shared.backtest.generate import MINUTES, generate_history
from shared.backtest.report import Report, drawdown, monthly_returns, ratios, trade_stats
from shared.backtest.runner import Backtest, EquityPoint, _EngineSlot
from shared.clock import NS, ist_day
from shared.config import ROOT, StrategyEngineConfig, StrategySpec, load_settings
from shared.contracts import Bar, Tick
from shared.enums import Side, SignalKind
from shared.errors import ConfigError, DataError
from shared.indicators import IndicatorValues
from shared.sim import calendar
from shared.state.formats import PnlRecord
from shared.state.journal import read_orders, read_pnl, read_signals
from shared.strategies.base import (
    ParamValue,
    Strategy,
    StrategyContext,
    StrategyDecision,
    ist_day_number,
    ist_seconds,
    parse_hhmm,
)
from shared.strategies.registry import STRATEGIES

CONFIG = ROOT / "configs" / "backtest.yaml"
GOLDEN_DATA = ROOT / "tests" / "data" / "backtest_golden"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two months (a futures roll inside) of NIFTY and RELIANCE."""
    folder = tmp_path_factory.mktemp("history")
    generate_history(folder, date(2025, 1, 20), date(2025, 2, 7), ["NIFTY", "RELIANCE"], seed=5)
    return folder


# -- simulated history --------------------------------------------------------------------------
def test_generated_history_is_kites_layout_one_row_a_minute(history: Path) -> None:
    days = calendar.trading_days(date(2025, 1, 20), date(2025, 2, 7))
    with (history / "candles" / "NSE" / "RELIANCE.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["date", "open", "high", "low", "close", "volume"]
    assert len(rows) == len(days) * MINUTES
    assert rows[0]["date"] == "2025-01-20T09:15:00+0530" and rows[-1]["date"] == "2025-02-07T15:29:00+0530"
    o, h, lo, c = (np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close"))
    assert np.all(lo <= np.minimum(o, c)) and np.all(np.maximum(o, c) <= h) and np.all(lo > 0)
    assert np.allclose(np.round(c / 0.05) * 0.05, c)  # on the tick grid
    # the future rolls: January's contract until the day before its expiry, then February's
    futures = sorted(p.stem for p in (history / "candles" / "NFO").glob("*.csv"))
    assert futures == ["NIFTY25FEBFUT", "NIFTY25JANFUT"]


def test_generator_rejects_unknown_symbols_and_empty_ranges(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown symbol 'NOPE'"):
        generate_history(tmp_path, date(2025, 1, 6), date(2025, 1, 6), ["NOPE"])
    with pytest.raises(ConfigError, match="no trading day"):
        generate_history(tmp_path, date(2025, 1, 4), date(2025, 1, 5), ["NIFTY"])  # a weekend


# -- data -------------------------------------------------------------------------------------------
def test_parquet_candles_give_the_same_ticks_as_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src = GOLDEN_DATA / "candles" / "NSE" / "RELIANCE.csv"
    folder = tmp_path / "pq"
    (folder / "candles" / "NSE").mkdir(parents=True)
    (folder / "instruments.csv").write_text((GOLDEN_DATA / "instruments.csv").read_text())
    table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(column_types={"date": pa.string()}))
    stamps = pa.array([np.datetime64(s[:19]) - np.timedelta64(330, "m") for s in table["date"].to_pylist()])
    table = table.set_column(0, "date", stamps.cast(pa.timestamp("ns", tz="UTC")))
    pq.write_table(table, folder / "candles" / "NSE" / "RELIANCE.parquet")
    csv_folder = tmp_path / "csv"
    (csv_folder / "candles" / "NSE").mkdir(parents=True)
    (csv_folder / "instruments.csv").write_text((GOLDEN_DATA / "instruments.csv").read_text())
    (csv_folder / "candles" / "NSE" / "RELIANCE.csv").write_text(src.read_text())
    a = list(HistoryData(folder).ticks())
    b = list(HistoryData(csv_folder).ticks())
    assert len(a) == 4 * 3000 and a == b


def test_bad_candle_rows_stop_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "candles" / "NSE").mkdir(parents=True)
    (tmp_path / "instruments.csv").write_text((GOLDEN_DATA / "instruments.csv").read_text())
    (tmp_path / "candles" / "NSE" / "RELIANCE.csv").write_text(
        "date,open,high,low,close,volume\n2025-01-06T09:15:00+0530,10,9,8,9.5,100\n2025-01-06T09:16:00+0530,x,1,1,1,1\n"
    )
    with pytest.raises(DataError) as err:
        HistoryData(tmp_path)
    assert "RELIANCE.csv:2: inconsistent candle" in str(err.value) and "RELIANCE.csv:3" in str(err.value)
    with pytest.raises(ConfigError, match="is not a folder"):
        HistoryData(tmp_path / "missing")
    with pytest.raises(ConfigError, match="before --from"):
        HistoryData(GOLDEN_DATA, date(2025, 1, 10), date(2025, 1, 9))


def test_date_range_selects_whole_ist_days() -> None:
    ticks = list(HistoryData(GOLDEN_DATA, date(2025, 1, 8), date(2025, 1, 9)).ticks())
    days = {ist_day(t.ts_event) for t in ticks}
    assert days == {date(2025, 1, 8), date(2025, 1, 9)}
    assert len(ticks) == 2 * 2 * MINUTES * 4


# -- the runner ---------------------------------------------------------------------------------------
def test_a_backtest_over_a_futures_roll_trades_both_contracts_and_books_every_day(history: Path) -> None:
    settings = load_settings(CONFIG)
    # every configured strategy: two on NIFTY's future (each exit trades only its own strategy's
    # units, so every strategy is flat at the day's end and the days add up to the round trips)
    result = run_backtest(settings, data_path=history, progress=False)
    days = calendar.trading_days(date(2025, 1, 20), date(2025, 2, 7))
    assert sorted(result.day_pnl) == days
    traded = {t.symbol for t in result.journal.trades}
    assert {"NIFTY25JANFUT", "NIFTY25FEBFUT", "RELIANCE"} <= traded
    # MIS: flat at every day's end, so the days' PnL adds up to the journal's round trips and fees
    fees = sum(float(r["extra"].get("fee", 0.0)) for r in result.journal.orders)  # type: ignore[union-attr]
    assert result.net_pnl == pytest.approx(sum(t.net_pnl for t in result.journal.trades) - fees, abs=1e-6)
    # the equity curve ends at capital + net PnL and is sampled every minute of the sessions
    assert result.equity[-1].equity == pytest.approx(result.capital + result.net_pnl, abs=1e-6)
    assert len(result.equity) >= len(days) * MINUTES
    assert result.counters["ticks"] == sum(1 for _ in HistoryData(history).ticks())
    # every fill went through risk: each strategy order's intent has an ALLOW/REDUCE decision
    allowed = {d.intent_id for d in result.decisions if d.decision.value in ("ALLOW", "REDUCE")}
    placed = {str(r["extra"]["intent_id"]) for r in result.journal.orders}  # type: ignore[index]
    assert {i for i in placed if not i.startswith(("ASQ", "SQ"))} <= allowed


def test_the_engines_indicators_survive_the_roll(history: Path) -> None:
    """On the roll day the new contract's EMA50 (5m) is ready from the first bar: the series moved with it."""
    settings = load_settings(CONFIG)
    data = HistoryData(history)
    runner = Backtest(settings, data.master, strategies=["ema20_50_intraday"])
    feb = data.master.by_symbol("NFO", "NIFTY25FEBFUT").instrument_token
    for tick in data.ticks():
        runner.on_tick(tick)
        if tick.instrument_token == feb:
            break
    first_feb_day = runner.day
    for tick in data.ticks():
        if tick.ts_event > runner.now and ist_day(tick.ts_event) == first_feb_day:
            runner.on_tick(tick)
            if ist_time_minutes(tick.ts_event) >= 9 * 60 + 25:
                break
    (slot,) = [s for s in runner.slots if s.name == "fno"]
    assert slot.engine is not None and feb in slot.symbols
    series = slot.engine._series[(feb, "5m")]  # the engine's own view (no public accessor)
    assert series.values["ema50"] is not None  # two 5m bars into the contract: only history can make it


def ist_time_minutes(ts_ns: int) -> int:
    return int((ts_ns // NS + 19_800) % 86_400 // 60)


def test_unknown_symbols_and_no_strategies_are_config_errors() -> None:
    settings = load_settings(CONFIG)
    data = HistoryData(GOLDEN_DATA)
    with pytest.raises(ConfigError, match="'TCS' is neither"):
        Backtest(settings, data.master, symbols=["TCS"])
    with pytest.raises(ConfigError, match="no strategy to run"):
        Backtest(settings.model_copy(update={"strategy_engine": settings.strategy_engine.model_copy(
            update={"enabled": False})}), data.master)  # fmt: skip


# -- reports -------------------------------------------------------------------------------------------
def _trade(net: float, ts: int = 0) -> PnlRecord:
    return PnlRecord(ts, "X", "s", Side.BUY, 1, 100.0, 100.0 + net, net + 1.0, 1.0, net, 60.0)


def test_trade_statistics_by_hand() -> None:
    stats = trade_stats([_trade(300), _trade(-100), _trade(-50), _trade(150)])
    assert stats["trades"] == 4 and stats["net_pnl"] == 300 and stats["charges"] == 4
    assert stats["win_rate"] == 0.5 and stats["profit_factor"] == 450 / 150 and stats["avg_trade"] == 75
    assert trade_stats([_trade(10)])["profit_factor"] == math.inf
    assert trade_stats([])["win_rate"] == 0.0


def test_sharpe_sortino_drawdown_and_months_by_hand() -> None:
    daily = [1000.0, -500.0, 2000.0, -1500.0, 500.0]
    sharpe, sortino = ratios(daily, 100_000)
    r = np.array(daily) / 100_000
    assert sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert sortino == pytest.approx(r.mean() / math.sqrt((0.005**2 + 0.015**2) / 5) * math.sqrt(252))
    day = 86_400 * NS
    curve = [EquityPoint(i * day, e, False) for i, e in enumerate([100, 120, 90, 110, 130, 125, 125])]
    depth, pct, days, dd = drawdown(curve)
    assert depth == 30 and pct == pytest.approx(30 / 120) and days == 3  # peak day 1, recovered day 4
    assert list(dd) == [0, 0, -30, -10, 0, -5, -5]
    months = monthly_returns({date(2025, 1, 2): 100.0, date(2025, 1, 3): 50.0, date(2025, 2, 3): -30.0}, 1000)
    assert months == pytest.approx({"2025-01": 0.15, "2025-02": -0.03})


def test_report_files_and_a_self_contained_html(tmp_path: Path) -> None:
    settings = load_settings(CONFIG)
    result = run_backtest(settings, data_path=GOLDEN_DATA, progress=False)
    paths = Report(result, title="golden").write(tmp_path)
    summary = json.loads(paths["summary"].read_text())
    assert summary["total"]["trades"] == len(read_pnl(paths["pnl"])) == len(result.journal.trades)
    assert summary["total"]["net_pnl"] == pytest.approx(result.net_pnl)
    assert set(summary["strategies"]) == {"ema20_50_intraday", "fno_intraday_trend"}
    assert len(read_orders(paths["orders"])) == len(result.journal.orders)
    assert len(read_signals(paths["signals"])) == result.counters["signals"]
    with paths["trades"].open() as fh:
        assert len(list(csv.DictReader(fh))) == summary["total"]["trades"]
    page = paths["html"].read_text()
    assert page.count("<svg") == 2 and "<polyline" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "<script" not in page and "2025-01" in page


# -- command line -----------------------------------------------------------------------------------
def test_run_trader_backtest_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    rc = run_trader_main([
        "backtest", "--config", str(CONFIG), "--data", str(GOLDEN_DATA), "--from", "2025-01-06", "--to",
        "2025-01-15", "--symbols", "NIFTY,RELIANCE", "--strategies", "ema20_50_intraday", "--out", str(out),
        "--no-progress",
    ])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "8 sessions" in text and "report.html" in text
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["strategies"]) == ["ema20_50_intraday"]
    assert summary["params"]["symbols"] == ["NIFTY", "RELIANCE"]


def test_command_line_errors_exit_2_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_trader_main(["backtest", "--config", str(CONFIG), "--data", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert run_trader_main(["backtest", "--config", str(CONFIG), "--data", str(GOLDEN_DATA),
                            "--symbols", "NOPE"]) == 2  # fmt: skip
    assert "'NOPE' is neither" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run_trader_main(["backtest", "--from", "2025-13-01"])
    assert exc.value.code == 2


def test_backtest_data_command_writes_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_trader_main(["backtest-data", "--out", str(tmp_path), "--from", "2025-03-03", "--to", "2025-03-04",
                          "--symbols", "BANKNIFTY,TCS"])  # fmt: skip
    assert rc == 0 and "wrote 1,500 candles in 2 files" in capsys.readouterr().out
    data = HistoryData(tmp_path)
    symbols = {data.master.by_token(t.instrument_token).tradingsymbol for t in data.ticks()}
    assert symbols == {"BANKNIFTY25MARFUT", "TCS"}


# -- several strategies on one symbol --------------------------------------------------------------------
class _FixedSide(Strategy):
    """A test strategy: enters ``side`` on the first bar closing at or after ``enter``, exits at ``leave``."""

    name: ClassVar[str] = "test_fixed_side"
    playbook: ClassVar[str] = "TEST"
    defaults: ClassVar[dict[str, ParamValue]] = {"side": "LONG", "enter": "10:00", "leave": "12:00", "stop": 70.0}

    def configure(self) -> None:
        self.kind = SignalKind(str(self.params["side"]))
        self.enter_s = parse_hhmm(str(self.params["enter"]), where=self.id)
        self.leave_s = parse_hhmm(str(self.params["leave"]), where=self.id)
        self.stop = float(self.params["stop"])

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        t = ist_seconds(bar.ts_event)
        if ctx.position is not None:
            return [self.exit_decision("leave", "TEST_EXIT")] if t >= self.leave_s else []
        if ctx.memo.get("day") == ist_day_number(bar.ts_event) or not self.enter_s <= t < self.leave_s:
            return []
        ctx.memo["day"] = ist_day_number(bar.ts_event)
        stop = bar.close - self.stop if self.kind == SignalKind.LONG else bar.close + self.stop
        return [StrategyDecision(self.kind, 0.9, "enter", stop=stop, playbook=self.playbook, setup_type="TEST")]

    def on_tick(self, tick: Tick, ctx: StrategyContext) -> list[StrategyDecision]:
        return []  # the stop only sizes the entry: the exits keep to the schedule


def test_two_strategies_holding_opposite_sides_of_one_future_each_close_their_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long of 2 lots and a short of 1 lot in NIFTY's future: the book nets them to +65.

    One engine never holds both sides of a symbol (``shared.trading.resolution``), so the short
    comes from a second engine on the same future, as when two engine services trade it. Both
    exits must pass risk (each reduces its own strategy's position, whatever the net) and be
    sized to that strategy's units, and both round trips must close in pnl.csv.
    """
    monkeypatch.setitem(STRATEGIES, _FixedSide.name, _FixedSide)
    base = load_settings(CONFIG)

    def spec(sid: str, side: str, enter: str, leave: str) -> StrategySpec:
        return StrategySpec(name=_FixedSide.name, params={"id": sid, "side": side, "enter": enter, "leave": leave})

    def engines(*specs: StrategySpec) -> StrategyEngineConfig:
        return base.strategy_engine.model_copy(update={"engines": {"fno": list(specs)}})

    # ₹10 lakh and a 70-point stop: the long sizes to 2 lots (risk); the short then fits 1 lot under
    # the symbol's net cap. Loss limits out of the way: the test is about whose units an exit trades.
    settings = base.model_copy(update={
        "strategy_engine": engines(spec("long_probe", "LONG", "10:00", "11:00")),
        "trading": base.trading.model_copy(update={"paper_capital": 1_000_000.0}),
        "risk": base.risk.model_copy(update={"per_symbol_max_loss": 100_000.0, "max_daily_loss": 100_000.0}),
    })  # fmt: skip
    day = date(2025, 1, 8)
    data = HistoryData(GOLDEN_DATA, day, day)
    runner = Backtest(settings, data.master, symbols=["NIFTY"])
    short = engines(spec("short_probe", "SHORT", "10:30", "11:30"))
    runner.slots.append(_EngineSlot("fno", ["NIFTY"], short, None, settings.trading.mode))
    result = runner.run(data.ticks())

    exits = [d for d in result.decisions if d.intent_id in _exit_ids(result)]
    assert [(d.decision.value, d.quantity) for d in exits] == [("ALLOW", 130), ("ALLOW", 65)]
    trades = {t.strategy: t for t in result.journal.trades}
    assert sorted(trades) == ["long_probe", "short_probe"]
    assert (trades["long_probe"].side, trades["long_probe"].quantity) == (Side.BUY, 130)
    assert (trades["short_probe"].side, trades["short_probe"].quantity) == (Side.SELL, 65)
    for t in trades.values():  # closed by the strategies' own exits, long before the 15:25 square-off
        assert t.gross_pnl == pytest.approx(
            t.quantity * (t.exit_price - t.entry_price) * (1 if t.side == Side.BUY else -1)
        )
    orders = [r for r in result.journal.orders if r["status"] == "FILLED"]
    assert not any(str(r["extra"]["order_id"]).startswith("ASQ") for r in orders)  # type: ignore[index]
    # flat at the end of the day, strategy by strategy: the day's PnL is the two round trips'
    assert result.net_pnl == pytest.approx(sum(t.net_pnl for t in trades.values()), abs=1e-6)


def _exit_ids(result: Any) -> set[str]:
    return {str(r["extra"]["intent_id"]) for r in result.journal.orders if r["extra"].get("reduce_only")}

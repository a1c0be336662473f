"""The bar path gives the tick path's results: journals line for line, decisions, equity, metrics.

Each case runs the same generated history (``generate_history``: NIFTY's future, which rolls
inside the range, and two stocks over eight sessions) through ``run_backtest`` twice, with
``path="ticks"`` and ``path="bars"``, and compares everything a backtest produces. The cases
are chosen so that every part of the bar path is exercised, and each asserts that its
feature happened (a comparison of two empty journals would prove nothing):

- ``5m_next_tick`` / ``5m_same_tick``: ``configs/backtest.yaml``'s EMA strategy (5m bars, a
  15m higher timeframe, ATR stops): crosses, reversals, stop exits on ticks, the 15:10 time
  exit, both fill timings, a futures roll;
- ``1m_stops_targets_halt``: 1m bars with tight stops and targets, one order a minute at
  most and small loss limits: exits blocked by the throttle, symbols killed for the day,
  the day-loss halt found at a position snapshot between two events, its square-off;
- ``1m_eod_square_off``: exits at 15:01 throttled to one a minute, so positions stay open
  in the book until the broker's MIS square-off at 15:20 / 15:25 (``ASQ-`` orders);
- ``two_strategies_one_engine``: a 5m and a 1m EMA strategy in each engine: conflicts
  settled between them (dropped entries), strategies run only on their own candidates.

``test_strategy_states_at_the_end_equal_the_tick_path_s`` compares what the journals do not
show: each strategy's positions, memory and day statistics when the run ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scripts.run_trader import main as run_trader_main
from shared.backtest import run_backtest
from shared.backtest.bars import BarBacktest, BarHistory
from shared.backtest.data import HistoryData
from shared.backtest.generate import generate_history
from shared.backtest.report import Report
from shared.backtest.runner import Backtest, BacktestResult
from shared.config import ROOT, Settings, StrategySpec, load_settings
from shared.contracts import Bar
from shared.enums import Decision
from shared.errors import ConfigError
from shared.indicators.series import SeriesIndicators
from shared.strategies.base import BarArrays, StrategyContext
from shared.strategies.ema20_50_intraday import Ema2050Intraday

CONFIG = ROOT / "configs" / "backtest.yaml"
GOLDEN_DATA = ROOT / "tests" / "data" / "backtest_golden"
SYMBOLS = ["NIFTY", "RELIANCE", "TCS"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight sessions of NIFTY (January's future rolls to February's), RELIANCE and TCS."""
    folder = tmp_path_factory.mktemp("bars_history")
    generate_history(folder, date(2025, 1, 27), date(2025, 2, 5), SYMBOLS, seed=3)
    return folder


def _ema_everywhere(settings: Settings, timeframe: str, **params: Any) -> Settings:
    spec = StrategySpec(name="ema20_50_intraday", timeframe=timeframe, params=params)
    engines = {"fno": [spec], "equity": [spec]}
    engine_config = settings.strategy_engine.model_copy(update={"engines": engines})
    return settings.model_copy(update={"strategy_engine": engine_config})


def _risk(settings: Settings, **limits: float) -> Settings:
    return settings.model_copy(update={"risk": settings.risk.model_copy(update=limits)})


def _decisions(r: BacktestResult) -> list[tuple[object, ...]]:
    return [
        (d.intent_id, d.decision, d.quantity, d.requested_quantity, d.rule, d.reason, d.ts_event) for d in r.decisions
    ]


def _features_5m(r: BacktestResult) -> None:
    reasons = [row["reason"] for row in r.journal.signals]
    assert any(str(x).startswith("stop ") for x in reasons), "no stop exit"
    assert any(str(x).startswith("time exit") for x in reasons), "no time exit"
    assert any("cross" in str(x) for x in reasons)
    assert {row["symbol"] for row in r.journal.signals} >= {"NIFTY25JANFUT", "NIFTY25FEBFUT", "RELIANCE", "TCS"}


def _features_halt(r: BacktestResult) -> None:
    rules = {d.rule for d in r.decisions}
    assert {"order_rate", "per_symbol_max_loss", "session_halted"} <= rules, rules
    assert any(str(row["reason"]).startswith("target ") for row in r.journal.signals), "no target exit"
    assert any("SQ-risk-loss-" in str(row["extra"]) for row in r.journal.orders), "no day-loss square-off"


def _features_two(r: BacktestResult) -> None:
    strategies = {row["strategy"] for row in r.journal.signals}
    assert strategies == {"ema20_50_intraday", "ema_fast"}, strategies
    assert any("dropped" in str(row["reason"]) for row in r.journal.signals), "no conflict resolved"


def _features_eod(r: BacktestResult) -> None:
    assert any("ASQ-" in str(row["extra"]) for row in r.journal.orders), "no MIS auto square-off"
    assert any(d.decision == Decision.BLOCK and d.rule == "order_rate" for d in r.decisions)


def _two_strategies(settings: Settings) -> Settings:
    """Two EMA strategies in each engine (5m and 1m): one resolution per symbol and time, 1m/5m/15m series."""
    slow = StrategySpec(name="ema20_50_intraday", timeframe="5m", params={"stop_atr": 1.5})
    fast = StrategySpec(name="ema20_50_intraday", timeframe="1m", params={"id": "ema_fast", "stop_atr": 2.0})
    engines = {"fno": [slow, fast], "equity": [slow, fast]}
    engine_config = settings.strategy_engine.model_copy(update={"engines": engines})
    return settings.model_copy(update={"strategy_engine": engine_config})


CASES: dict[str, tuple[Callable[[Settings], Settings], str, Callable[[BacktestResult], None]]] = {
    "5m_next_tick": (lambda s: s, "next_tick", _features_5m),
    "5m_same_tick": (lambda s: s, "same_tick", _features_5m),
    "1m_stops_targets_halt": (
        lambda s: _risk(
            _ema_everywhere(s, "1m", stop_atr=0.8, target_atr=2.0),
            max_orders_per_minute=1,
            max_daily_loss=4_000.0,
            per_symbol_max_loss=1_500.0,
        ),
        "next_tick",
        _features_halt,
    ),
    "two_strategies_one_engine": (_two_strategies, "next_tick", _features_two),
    "1m_eod_square_off": (
        lambda s: _risk(
            _ema_everywhere(s, "1m", stop_atr=6.0, exit_time="15:01"),
            max_orders_per_minute=1,
            max_daily_loss=1e9,
            per_symbol_max_loss=1e9,
        ),
        "same_tick",
        _features_eod,
    ),
}


def _run(settings: Settings, data: Path, path: str, fill_timing: str, out: Path) -> tuple[BacktestResult, Report]:
    result = run_backtest(
        settings, data_path=data, start=None, end=None, progress=False, fill_timing=fill_timing,
        symbols=SYMBOLS, strategies=["ema20_50_intraday"], path=path,
    )  # fmt: skip
    report = Report(result)
    report.write(out)
    return result, report


@pytest.mark.parametrize("case", sorted(CASES))
def test_bar_path_journals_and_metrics_equal_the_tick_path(case: str, history: Path, tmp_path: Path) -> None:
    configure, fill_timing, features = CASES[case]
    settings = configure(load_settings(CONFIG))
    ticks, tick_report = _run(settings, history, "ticks", fill_timing, tmp_path / "ticks")
    bars, bar_report = _run(settings, history, "bars", fill_timing, tmp_path / "bars")
    assert (ticks.path, bars.path) == ("ticks", "bars")
    features(ticks)
    for name in ("signals.csv", "orders.csv", "pnl.csv", "trades.csv", "equity.csv"):
        want = (tmp_path / "ticks" / name).read_text().splitlines()
        got = (tmp_path / "bars" / name).read_text().splitlines()
        for line, (w, g) in enumerate(zip(want, got, strict=False), start=1):
            assert g == w, f"{case}: {name} line {line} differs\n ticks: {w}\n bars:  {g}"
        assert len(got) == len(want), f"{case}: {name} has {len(got)} lines on the bar path, {len(want)} on ticks"
    assert _decisions(bars) == _decisions(ticks)
    assert bars.day_pnl == ticks.day_pnl
    assert bars.counters == ticks.counters
    want_summary, got_summary = tick_report.summary(), bar_report.summary()
    for key in ("elapsed_s", "path"):  # the only two that may differ
        want_summary.pop(key)
        got_summary.pop(key)
    assert got_summary == want_summary


@pytest.mark.parametrize("case", ["5m_next_tick", "two_strategies_one_engine", "1m_stops_targets_halt"])
def test_strategy_states_at_the_end_equal_the_tick_path_s(case: str, history: Path) -> None:
    configure, fill_timing, _ = CASES[case]
    settings = configure(load_settings(CONFIG))
    kwargs: dict[str, Any] = {"symbols": SYMBOLS, "strategies": ["ema20_50_intraday"], "fill_timing": fill_timing}
    data = HistoryData(history)
    ticks = Backtest(settings, data.master, **kwargs)
    ticks.run(data.ticks())
    candles = BarHistory.load(history)
    bars = BarBacktest(settings, candles.master, **kwargs)
    bars.run_bars(candles)
    for tick_slot, bar_slot in zip(ticks.slots, bars.slots, strict=True):
        assert tick_slot.engine is not None and bar_slot.engine is not None
        want = [s.state.to_dict() for s in tick_slot.engine.strategies]
        got = [s.state.to_dict() for s in bar_slot.engine.strategies]
        assert got == want


def test_the_golden_cases_run_on_the_path_they_can(tmp_path: Path) -> None:
    """The EMA-only golden case takes the bar path (and still matches its golden); fno_intraday_trend cannot."""
    settings = load_settings(CONFIG)
    ema = run_backtest(settings, data_path=GOLDEN_DATA, start=None, end=None, progress=False, fill_timing="same_tick",
                       strategies=["ema20_50_intraday"])  # fmt: skip
    assert ema.path == "bars" and ema.path_note == ""
    golden = GOLDEN_DATA / "expected" / "same_tick_ema_only"
    paths = Report(ema).write(tmp_path)
    assert paths["orders"].read_text() == (golden / "orders.csv").read_text()
    assert paths["trades"].read_text() == (golden / "trades.csv").read_text()
    both = run_backtest(settings, data_path=GOLDEN_DATA, start=None, end=None, progress=False, fill_timing="next_tick")
    assert both.path == "ticks"
    assert "fno_intraday_trend" in both.path_note and "vector_plan" in both.path_note


def test_path_ticks_forces_ticks_and_path_bars_says_why_it_cannot(tmp_path: Path) -> None:
    settings = load_settings(CONFIG)
    forced = run_backtest(settings, data_path=GOLDEN_DATA, start=None, end=None, progress=False,
                          strategies=["ema20_50_intraday"], path="ticks")  # fmt: skip
    assert forced.path == "ticks" and forced.path_note == ""
    with pytest.raises(ConfigError, match=r"fno_intraday_trend.*vector_plan"):
        run_backtest(settings, data_path=GOLDEN_DATA, start=None, end=None, progress=False, path="bars")
    with pytest.raises(ConfigError, match=r"backtest\.path"):
        run_backtest(settings, data_path=GOLDEN_DATA, progress=False, path="fast")
    (tmp_path / "instruments.csv").write_text((GOLDEN_DATA / "instruments.csv").read_text())
    (tmp_path / "ticks.csv").write_text("timestamp,exchange,tradingsymbol,last_price\n")
    assert BarHistory.folder_problem(tmp_path) == "the data has ticks (ticks.csv), not only 1-minute candles"


def test_candles_off_the_minute_or_the_session_take_the_tick_path(tmp_path: Path) -> None:
    generate_history(tmp_path, date(2025, 1, 27), date(2025, 1, 27), ["RELIANCE"], seed=1)
    candles = tmp_path / "candles" / "NSE" / "RELIANCE.csv"
    lines = candles.read_text().splitlines()
    lines.append(lines[-1].replace("T15:29:00", "T15:45:00"))  # a post-close candle
    candles.write_text("\n".join(lines) + "\n")
    assert "outside the session" in BarHistory.load(tmp_path).problem()
    result = run_backtest(load_settings(CONFIG), data_path=tmp_path, start=None, end=None, progress=False,
                          symbols=["RELIANCE"], strategies=["ema20_50_intraday"])  # fmt: skip
    assert result.path == "ticks" and "outside the session" in result.path_note


def test_the_ema_plan_names_every_bar_where_the_strategy_decides_while_flat() -> None:
    """``vector_plan``'s contract, checked by brute force: flat, ``on_bar`` decides only on candidate bars."""
    rng = np.random.default_rng(4)
    n = 3_000
    close = np.round(2_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n))), 1)
    high, low = close + 1.0, close - 1.0
    ts = 1_737_949_500_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000  # from 2025-01-27 09:15 IST
    volume = rng.integers(1, 1_000, n)
    ind = SeriesIndicators.compute(ts, high, low, close, volume)
    arrays = BarArrays(ts, ts + 60_000_000_000, close, high, low, close, volume)
    strategy = Ema2050Intraday(timeframe="1m", params={"entry_start": "00:00", "entry_cutoff": "23:58",
                                                       "exit_time": "23:59"})  # fmt: skip
    plan = strategy.vector_plan(ind, arrays)
    memo: dict[str, Any] = {}
    decided = np.zeros(n, dtype=bool)
    for i in range(n):
        bar = Bar(ts_event=int(ts[i]) + 60_000_000_000, instrument_token=1, symbol="X", timeframe="1m",
                  ts_open=int(ts[i]), open=float(close[i]), high=float(high[i]), low=float(low[i]),
                  close=float(close[i]), volume=int(volume[i]))  # fmt: skip
        synced: dict[str, Any] = {}
        plan.sync(synced, i)
        assert synced.get("sign") == memo.get("sign"), f"bar {i}: sync gives {synced} where the strategy has {memo}"
        ctx = StrategyContext("X", "X", "NSE", 1, bar.ts_event, "1m", None, memo)
        decided[i] = bool(strategy.on_bar(bar, ind.values(i), ctx))
    assert decided.any()
    assert not (decided & ~plan.candidates).any(), "a decision on a bar the plan does not name"


def test_command_line_path_flag_and_the_summary_says_which_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    out = tmp_path / "report"
    code = run_trader_main(["backtest", "--config", str(CONFIG), "--data", str(GOLDEN_DATA), "--out", str(out),
                            "--strategies", "ema20_50_intraday", "--no-progress", "--path", "ticks"])  # fmt: skip
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["path"] == "ticks"
    assert "tick path" in capsys.readouterr().out


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sessions of the same three instruments, with an ``oi`` column on the future's candles."""
    folder = tmp_path_factory.mktemp("bars_small")
    generate_history(folder, date(2025, 1, 28), date(2025, 1, 30), SYMBOLS, seed=8)
    future = folder / "candles" / "NFO" / "NIFTY25JANFUT.csv"
    lines = future.read_text().splitlines()
    rows = [lines[0] + ",oi"] + [f"{line},{1_000_000 + 75 * i}" for i, line in enumerate(lines[1:])]
    future.write_text("\n".join(rows) + "\n")
    return folder


def test_the_bar_paths_ticks_are_the_replays(small_history: Path) -> None:
    """Every tick the bar path builds (at events) is the replay source's tick at that place, field for field."""
    want = list(HistoryData(small_history).ticks())
    candles = BarHistory.load(small_history)
    runner = BarBacktest(load_settings(CONFIG), candles.master, symbols=SYMBOLS, strategies=["ema20_50_intraday"])
    runner._prepare(candles)
    assert runner.tl.size == len(want)
    got = [runner._tick_at(p) for p in range(runner.tl.size)]
    assert got == want
    assert any(t.oi for t in got)


def test_the_bar_paths_bars_close_where_the_candle_builder_closes_them(small_history: Path) -> None:
    """Each series' bars (OHLCV, OI, times) and the tick that closes each equal the candle builder's on the ticks."""
    from shared.candles import CandleBuilder

    ticks = list(HistoryData(small_history).ticks())
    candles = BarHistory.load(small_history)
    runner = BarBacktest(load_settings(CONFIG), candles.master, symbols=SYMBOLS, strategies=["ema20_50_intraday"])
    runner._prepare(candles)
    for (si, logical), sets in runner._sets.items():
        slot = runner.slots[si]
        for tf, series in sets.items():
            builder = CandleBuilder(sorted(sets, key=lambda t: int(t[:-1])))  # the engine's timeframes
            closed: list[tuple[int, Bar]] = []
            for day_ticks in _by_day(ticks):
                day = date.fromordinal(date(1970, 1, 1).toordinal() + (day_ticks[0][1].ts_event + 19_800 * 10**9)
                                       // (86_400 * 10**9))  # fmt: skip
                tokens = {t for t, info in slot.resolve(runner.master, day).items() if info[0] == logical}
                for p, tick in day_ticks:
                    if tick.instrument_token in tokens:
                        closed.extend((2 * p, b) for b in builder.on_tick(tick) if b.timeframe == tf)
                end = day_ticks[-1][0] + 1
                closed.extend((2 * end - 1, b) for b in builder.flush(1 << 62) if b.timeframe == tf)
            want = [(key, b.ts_open, b.ts_event, b.open, b.high, b.low, b.close, b.volume, b.oi) for key, b in closed]
            got = []
            for i in range(len(series.keys)):
                b = series.bar(i, "")
                got.append((series.keys[i], b.ts_open, b.ts_event, b.open, b.high, b.low, b.close, b.volume, b.oi))
            assert got == want, f"{logical} {tf}"


def _by_day(ticks: list[Any]) -> list[list[tuple[int, Any]]]:
    days: list[list[tuple[int, Any]]] = []
    last = None
    for p, tick in enumerate(ticks):
        day = (tick.ts_event + 19_800 * 10**9) // (86_400 * 10**9)
        if day != last:
            days.append([])
            last = day
        days[-1].append((p, tick))
    return days


def test_a_date_range_and_parquet_candles_give_the_same_on_both_paths(history: Path, tmp_path: Path) -> None:
    """``--from``/``--to`` cut whole IST days alike, and Parquet candles read alike (the roll falls inside)."""
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    import shutil

    data = tmp_path / "data"
    shutil.copytree(history, data)
    csv_file = data / "candles" / "NSE" / "TCS.csv"
    lines = csv_file.read_text().splitlines()
    columns = list(zip(*(line.split(",") for line in lines[1:]), strict=True))
    table = pa.table({"date": list(columns[0]), **{k: [float(x) for x in columns[i + 1]] for i, k in
                                                  enumerate(("open", "high", "low", "close", "volume"))}})  # fmt: skip
    pq.write_table(table, csv_file.with_suffix(".parquet"))
    csv_file.unlink()
    settings = load_settings(CONFIG)
    runs = {}
    for path in ("ticks", "bars"):
        result = run_backtest(settings, data_path=data, start=date(2025, 1, 29), end=date(2025, 2, 3),
                              progress=False, symbols=SYMBOLS, strategies=["ema20_50_intraday"], path=path)  # fmt: skip
        assert result.path == path
        runs[path] = (result, Report(result).write(tmp_path / path))
    (ticks, tick_files), (bars, bar_files) = runs["ticks"], runs["bars"]
    assert sorted(ticks.day_pnl) == [date(2025, 1, 29), date(2025, 1, 30), date(2025, 1, 31), date(2025, 2, 3)]
    assert any(row["symbol"] == "TCS" for row in ticks.journal.signals)
    for name in ("orders", "signals", "pnl", "trades", "equity"):
        assert bar_files[name].read_text() == tick_files[name].read_text(), name
    assert bars.day_pnl == ticks.day_pnl

"""Sweeps: a grid of strategy parameters, in parallel on local processes and on a local Dask cluster."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from scripts.run_trader import main as run_trader_main
from shared.backtest import run_backtest
from shared.backtest.report import Report
from shared.backtest.sweep import apply_point, parse_sweep_arg, points, rank, run_sweep, run_sweep_dask, table
from shared.config import ROOT, load_settings
from shared.errors import ConfigError

CONFIG = ROOT / "configs" / "backtest.yaml"
DATA = ROOT / "tests" / "data" / "backtest_golden"
GRID = {"ema20_50_intraday.stop_atr": [1.0, 3.0], "ema20_50_intraday.reverse": [True, False]}
RUN = {"data_path": str(DATA), "strategies": ["ema20_50_intraday"], "end": date(2025, 1, 10)}


def test_grid_points_and_command_line_axes() -> None:
    assert parse_sweep_arg("ema20_50_intraday.stop_atr=1,1.5,2") == ("ema20_50_intraday.stop_atr", [1, 1.5, 2])
    assert parse_sweep_arg("x.htf_filter=true,false")[1] == [True, False]
    with pytest.raises(ConfigError, match=r"expected <strategy>\.<param>"):
        parse_sweep_arg("stop_atr=1")
    assert points(GRID) == [
        {"ema20_50_intraday.reverse": r, "ema20_50_intraday.stop_atr": s} for r in (True, False) for s in (1.0, 3.0)
    ]
    settings = apply_point(load_settings(CONFIG), {"ema20_50_intraday.stop_atr": 2.5})
    specs = [s for specs in settings.strategy_engine.engines.values() for s in specs if s.name == "ema20_50_intraday"]
    assert specs and all(s.params["stop_atr"] == 2.5 for s in specs)
    with pytest.raises(ConfigError, match="name no strategy"):
        apply_point(settings, {"nope.x": 1})


def _serial(settings: object) -> list[dict[str, object]]:
    rows = []
    for point in points(GRID):
        result = run_backtest(apply_point(settings, point), progress=False, **RUN)  # type: ignore[arg-type]
        rows.append({"params": point, "net_pnl": Report(result).total.net_pnl, "sharpe": Report(result).total.sharpe})
    return rows


def test_process_pool_sweep_equals_serial_runs_and_is_ranked() -> None:
    settings = load_settings(CONFIG)
    rows = run_sweep(settings, GRID, workers=2, rank_by="net_pnl", **RUN)
    assert len(rows) == 4
    assert [r["net_pnl"] for r in rows] == sorted((r["net_pnl"] for r in rows), reverse=True)
    expected = {tuple(sorted(r["params"].items())): r["net_pnl"] for r in _serial(settings)}
    assert {tuple(sorted(r["params"].items())): r["net_pnl"] for r in rows} == expected
    assert len(set(expected.values())) > 1, "the grid should change the result"
    text = table(rows)
    assert text.splitlines()[0].split()[:3] == ["#", "ema20_50_intraday.reverse", "ema20_50_intraday.stop_atr"]
    with pytest.raises(ConfigError, match="is not a metric"):
        rank(rows, "nope")


def test_dask_local_cluster_sweep_equals_the_process_pool() -> None:
    pytest.importorskip("dask.distributed")
    settings = load_settings(CONFIG)
    grid = {"ema20_50_intraday.stop_atr": [1.0, 3.0]}
    local = run_sweep(settings, grid, workers=1, rank_by="sharpe", **RUN)
    dask = run_sweep_dask(settings, grid, rank_by="sharpe", **RUN)
    assert [(r["params"], r["net_pnl"], r["sharpe"]) for r in dask] == [
        (r["params"], r["net_pnl"], r["sharpe"]) for r in local
    ]


def test_sweep_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_trader_main([
        "backtest", "--config", str(CONFIG), "--data", str(DATA), "--to", "2025-01-10", "--strategies",
        "ema20_50_intraday", "--sweep", "ema20_50_intraday.stop_atr=1,3", "--workers", "1", "--rank-by", "net_pnl",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["#", "ema20_50_intraday.stop_atr", "net_pnl"]
    rows = json.loads((tmp_path / "sweep.json").read_text())
    ranked = [r["params"]["ema20_50_intraday.stop_atr"] for r in rows]
    assert ranked == [int(lines[1].split()[1]), int(lines[2].split()[1])]
    assert rows[0]["net_pnl"] >= rows[1]["net_pnl"]
    assert run_trader_main(["backtest", "--config", str(CONFIG), "--data", str(DATA), "--sweep", "nope.x=1"]) == 2
    assert "name no strategy" in capsys.readouterr().err

"""The backtester: the services' engines, risk and paper broker in one process, on event time.

``run_backtest`` is the Python API (``python -m scripts.run_trader backtest`` is the same
from the command line); docs/backtesting.md has the long form.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from shared.backtest.data import HistoryData
from shared.backtest.runner import Backtest, BacktestResult
from shared.config import Settings


def run_backtest(
    settings: Settings,
    *,
    data_path: str | Path | None = None,
    start: date | None = None,
    end: date | None = None,
    symbols: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    fill_timing: str | None = None,
    progress: bool | None = None,
) -> BacktestResult:
    """Backtest ``settings`` (its ``backtest`` section gives what an argument leaves None)."""
    bt = settings.backtest
    data = HistoryData(data_path or bt.data_path, start or bt.start, end or bt.end)
    runner = Backtest(settings, data.master, symbols=symbols, strategies=strategies, fill_timing=fill_timing)
    show = bt.progress if progress is None else progress
    if not show:
        return runner.run(data.ticks())
    from tqdm import tqdm

    with tqdm(unit=" ticks", unit_scale=True, desc="backtest", mininterval=0.5) as bar:
        return runner.run(data.ticks(), progress=bar.update)


__all__ = ["Backtest", "BacktestResult", "HistoryData", "run_backtest"]

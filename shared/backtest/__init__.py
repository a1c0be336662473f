"""The backtester: the services' engines, risk and paper broker in one process, on event time.

``run_backtest`` is the Python API (``python -m scripts.run_trader backtest`` is the same
from the command line); docs/backtesting.md has the long form.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Final

from shared.backtest.bars import BarBacktest, BarHistory
from shared.backtest.data import HistoryData
from shared.backtest.runner import Backtest, BacktestResult
from shared.config import Settings
from shared.errors import ConfigError
from shared.replay import load_master

log = logging.getLogger(__name__)

#: ``auto``: the bar path when it can run, else the tick path; ``bars``/``ticks`` force one.
PATHS: Final = ("auto", "bars", "ticks")


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
    path: str | None = None,
) -> BacktestResult:
    """Backtest ``settings`` (its ``backtest`` section gives what an argument leaves None).

    ``path``: ``auto`` (default ``backtest.path``) runs the bar path (``shared.backtest.bars``)
    when the data are 1-minute candles and every strategy opts in, else the tick path;
    ``bars`` insists (a ConfigError says why it cannot), ``ticks`` always replays every tick.
    Both give the same journals and metrics; ``BacktestResult.path`` says which ran.
    """
    bt = settings.backtest
    folder = data_path or bt.data_path
    start, end = start or bt.start, end or bt.end
    want = path or bt.path
    if want not in PATHS:
        raise ConfigError(f"backtest.path: {want!r}; expected one of {PATHS}")
    note = ""
    if want != "ticks":
        note = BarHistory.folder_problem(folder) or _strategies_problem(settings, folder, symbols, strategies)
        if not note:
            history = BarHistory.load(folder, start, end)
            note = history.problem()
            if not note:
                runner = BarBacktest(
                    settings, history.master, symbols=symbols, strategies=strategies, fill_timing=fill_timing
                )
                return runner.run_bars(history)
        if want == "bars":
            raise ConfigError(f"backtest.path: bars cannot run here: {note}")
        log.info("backtest on the tick path: %s", note)
    data = HistoryData(folder, start, end)
    runner = Backtest(settings, data.master, symbols=symbols, strategies=strategies, fill_timing=fill_timing)
    show = bt.progress if progress is None else progress
    if not show:
        result = runner.run(data.ticks())
    else:
        from tqdm import tqdm

        with tqdm(unit=" ticks", unit_scale=True, desc="backtest", mininterval=0.5) as bar:
            result = runner.run(data.ticks(), progress=bar.update)
    result.path_note = note
    return result


def _strategies_problem(
    settings: Settings, folder: str | Path, symbols: Sequence[str] | None, strategies: Sequence[str] | None
) -> str:
    """Why the configured strategies cannot take the bar path ("" when they can); reads only the master."""
    master = load_master(Path(folder))
    return BarBacktest(settings, master, symbols=symbols, strategies=strategies).bar_path_problem()


__all__ = ["PATHS", "Backtest", "BacktestResult", "BarBacktest", "BarHistory", "HistoryData", "run_backtest"]

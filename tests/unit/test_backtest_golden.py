"""Golden backtests: fixed data and strategies; the trades and statistics stored here must come back exactly.

The data (``tests/data/backtest_golden``: eight sessions of NIFTY's future and RELIANCE,
written once by ``generate_history(..., seed=11)``) and ``configs/backtest.yaml``'s
strategies, risk and portfolio are fixed, so any change in a trade or a figure means the
behaviour of the strategies, risk, the fill model, charges or the metrics changed. If the
change is intended, regenerate the goldens and review the diff::

    KITE_ALGO_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_backtest_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shared.backtest import run_backtest
from shared.backtest.report import Report
from shared.config import ROOT, load_settings

DATA = ROOT / "tests" / "data" / "backtest_golden"
GOLDEN = DATA / "expected"
UPDATE = os.environ.get("KITE_ALGO_UPDATE_GOLDEN") == "1"
CASES = {
    "next_tick": {"fill_timing": "next_tick"},
    "same_tick_ema_only": {"fill_timing": "same_tick", "strategies": ["ema20_50_intraday"]},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_trades_and_statistics(case: str, tmp_path: Path) -> None:
    settings = load_settings(ROOT / "configs" / "backtest.yaml")
    result = run_backtest(settings, data_path=DATA, start=None, end=None, progress=False, **CASES[case])
    report = Report(result)
    paths = report.write(tmp_path)
    summary = report.summary()
    got = {
        "trades.csv": paths["trades"].read_text(),
        "orders.csv": paths["orders"].read_text(),
        "summary.json": json.dumps({k: summary[k] for k in ("total", "strategies", "monthly_returns", "days")},
                                   indent=2, sort_keys=True) + "\n",
    }  # fmt: skip
    folder = GOLDEN / case
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (folder / name).write_text(text)
    assert summary["total"]["trades"] >= 10, "the golden data should trade"
    for name, text in got.items():
        expected = (folder / name).read_text()
        assert text == expected, f"{case}/{name} differs from the golden (see the module docstring)"

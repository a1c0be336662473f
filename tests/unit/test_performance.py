"""Per-strategy figures from closed trades (shared.performance)."""

from __future__ import annotations

import pytest

from shared.enums import Side
from shared.performance import StrategyPerformance, performance_by_strategy
from shared.state.formats import PnlRecord


def trade(strategy: str, net: float, charges: float = 10.0, ts: int = 0) -> PnlRecord:
    return PnlRecord(ts_ns=ts, symbol="SBIN", strategy=strategy, side=Side.BUY, quantity=1, entry_price=100.0,
                     exit_price=100.0, gross_pnl=net + charges, charges=charges, net_pnl=net, holding_seconds=1.0)


def test_figures_of_a_mixed_run_of_trades() -> None:
    perf = performance_by_strategy([trade("a", 50), trade("a", -20), trade("b", 5), trade("a", -40), trade("a", 100)])
    assert list(perf) == ["a", "b"]
    a = perf["a"]
    assert (a.trades, a.wins, a.losses, a.win_rate) == (4, 2, 2, 0.5)
    assert (a.net_pnl, a.gross_pnl, a.charges) == (90, 130, 40)
    assert (a.largest_win, a.largest_loss) == (100, -40)
    assert a.profit_factor == pytest.approx(150 / 60)
    assert a.max_drawdown == 60  # 50 -> -10


def test_no_loss_means_no_profit_factor_and_a_flat_trade_counts_as_a_loss() -> None:
    p = StrategyPerformance("x")
    assert (p.win_rate, p.profit_factor, p.max_drawdown) == (0.0, None, 0.0)
    p.add(trade("x", 10))
    assert p.profit_factor is None and p.largest_loss == 0.0
    p.add(trade("x", 0.0))
    assert (p.wins, p.losses) == (1, 1) and p.profit_factor is None  # a zero loss: still undefined


def test_drawdown_counts_from_zero_when_the_first_trades_lose() -> None:
    p = StrategyPerformance("x")
    for net in (-30, -20, 100, -70):
        p.add(trade("x", net))
    assert p.max_drawdown == 70  # 0 -> -50 is 50; 50 -> -20 is 70

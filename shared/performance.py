"""Per-strategy performance from closed trades (pnl.csv rows): pure arithmetic, no I/O.

Used by the dashboard and usable by a backtest report. A trade is a ``PnlRecord``; a win is
a trade with net PnL > 0 (as ``trades.TradeBook`` counts it). Max drawdown is the largest
fall of the cumulative net PnL from its running peak, in trade order (starting from 0).
Profit factor is gross profit / gross loss of net PnL, None when there is no loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.state.formats import PnlRecord


@dataclass(slots=True)
class StrategyPerformance:
    """Running figures of one strategy; feed trades with ``add`` in time order."""

    strategy: str
    trades: int = 0
    wins: int = 0
    losses: int = 0
    gross_pnl: float = 0.0
    net_pnl: float = 0.0
    charges: float = 0.0
    gross_profit: float = 0.0  # sum of net PnL of winning trades
    gross_loss: float = 0.0  # minus the sum of net PnL of losing trades (>= 0)
    largest_win: float = 0.0
    largest_loss: float = 0.0  # most negative net PnL (<= 0)
    max_drawdown: float = 0.0  # >= 0
    _peak: float = field(default=0.0, repr=False)

    def add(self, trade: PnlRecord) -> None:
        net = trade.net_pnl
        self.trades += 1
        self.gross_pnl += trade.gross_pnl
        self.charges += trade.charges
        self.net_pnl += net
        if net > 0:
            self.wins += 1
            self.gross_profit += net
            self.largest_win = max(self.largest_win, net)
        else:
            self.losses += 1
            self.gross_loss -= net
            self.largest_loss = min(self.largest_loss, net)
        self._peak = max(self._peak, self.net_pnl)
        self.max_drawdown = max(self.max_drawdown, self._peak - self.net_pnl)

    @property
    def win_rate(self) -> float:
        """Wins / trades (0 with no trade)."""
        return self.wins / self.trades if self.trades else 0.0

    @property
    def profit_factor(self) -> float | None:
        """Gross profit / gross loss; None when nothing was lost (undefined, not infinite)."""
        return self.gross_profit / self.gross_loss if self.gross_loss > 0 else None


def performance_by_strategy(trades: Iterable[PnlRecord]) -> dict[str, StrategyPerformance]:
    """Figures per strategy (sorted by name) from trades in time order."""
    out: dict[str, StrategyPerformance] = {}
    for trade in trades:
        perf = out.get(trade.strategy)
        if perf is None:
            perf = out[trade.strategy] = StrategyPerformance(trade.strategy)
        perf.add(trade)
    return dict(sorted(out.items()))

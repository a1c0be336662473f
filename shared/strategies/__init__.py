"""Trading strategies (pure: bars and indicator values in, decisions out) and their registry."""

from shared.strategies.base import (
    DayStats,
    PositionState,
    Strategy,
    StrategyContext,
    StrategyDecision,
    StrategyState,
)
from shared.strategies.ema20_50_intraday import Ema2050Intraday
from shared.strategies.fno_intraday_trend import FnoIntradayTrend
from shared.strategies.registry import STRATEGIES, available, build_strategies, build_strategy, register

__all__ = [
    "STRATEGIES",
    "DayStats",
    "Ema2050Intraday",
    "FnoIntradayTrend",
    "PositionState",
    "Strategy",
    "StrategyContext",
    "StrategyDecision",
    "StrategyState",
    "available",
    "build_strategies",
    "build_strategy",
    "register",
]

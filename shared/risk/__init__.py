"""Risk: the portfolio engine (sizing) and the pre-trade rules. Pure: no Redis, no I/O."""

from shared.risk.rules import (
    RULES,
    SNAPSHOT_MAX_AGE_S,
    apply_control,
    daily_loss_breached,
    evaluate,
    is_exit_intent,
    size_from_state,
)
from shared.risk.sizing import SizingResult, is_reducing, size_intent, strategy_budget_left
from shared.risk.state import RiskState

__all__ = [
    "RULES",
    "SNAPSHOT_MAX_AGE_S",
    "RiskState",
    "SizingResult",
    "apply_control",
    "daily_loss_breached",
    "evaluate",
    "is_exit_intent",
    "is_reducing",
    "size_from_state",
    "size_intent",
    "strategy_budget_left",
]

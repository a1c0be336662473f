"""The engines' pure core: ticks and bars in, signals and order intents out (``TradingEngine``)."""

from shared.trading.engine import SymbolInfo, TradingEngine
from shared.trading.records import (
    SIGNALS_CSV_COLUMNS,
    equity_tag,
    intent_id,
    signal_id,
)
from shared.trading.resolution import RESOLUTIONS, Proposal, resolve

__all__ = [
    "RESOLUTIONS",
    "SIGNALS_CSV_COLUMNS",
    "Proposal",
    "SymbolInfo",
    "TradingEngine",
    "equity_tag",
    "intent_id",
    "resolve",
    "signal_id",
]

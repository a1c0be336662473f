"""Deterministic ids, order tags, the ``signals.csv`` row, and the generic context labels.

Ids are hashes of (engine, strategy, symbol, event time, kind), so replaying or
redelivering the same bar gives the same ids and the execution side can drop the
duplicate. ``intent_id`` is 20 lowercase hex characters: a valid Kite order tag as it is
(alphanumeric, <= 20 characters).
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Final

from shared.indicators import IndicatorValues
from shared.state.formats import SIGNALS_COLUMNS

#: The seed's ``signals.csv`` columns, in order (defined with the journal formats).
SIGNALS_CSV_COLUMNS: Final = SIGNALS_COLUMNS

#: Columns the Signal contract has no field for: carried in ``Signal.indicators``.
CONTEXT_KEYS: Final = ("trend_context", "vol_regime", "htf_trend", "playbook", "setup_type", "profile", "mode")

KITE_TAG_MAX: Final = 20
UNKNOWN: Final = "NA"
ADX_TRENDING: Final = 20.0
VOL_LOW: Final = 0.8  # ATR / its recent average below this: LOW
VOL_HIGH: Final = 1.25  # above this: HIGH


def _digest(parts: tuple[object, ...], size: int) -> str:
    return blake2b("|".join(map(str, parts)).encode(), digest_size=size).hexdigest()


def signal_id(engine: str, strategy: str, symbol: str, ts_event: int, kind: str) -> str:
    """16 hex characters, the same for the same (engine, strategy, symbol, bar time, kind)."""
    return _digest(("signal", engine, strategy, symbol, ts_event, kind), 8)


def intent_id(engine: str, strategy: str, symbol: str, ts_event: int, kind: str) -> str:
    """20 hex characters (fits a Kite tag), the same for the same inputs."""
    return _digest(("intent", engine, strategy, symbol, ts_event, kind), KITE_TAG_MAX // 2)


def equity_tag(strategy: str, logical: str, symbol: str) -> str:
    """The seed's analytics tag of equity trades, ``EQ_<SYMBOL>|<STRATEGY_ID>``.

    Not a Kite order tag: it has ``_``/``|`` and is usually longer than 20 characters; the
    live broker sends a tag derived from ``intent_id`` instead.
    """
    return f"EQ_{symbol}|{strategy}"


# -- generic context labels (a strategy's own labels win) -------------------------------------
def trend_context(ind: IndicatorValues) -> str:
    """RANGE when ADX14 < 20, else UPTREND/DOWNTREND by EMA20 vs EMA50; NA while warming up."""
    fast, slow, adx = ind.get("ema20"), ind.get("ema50"), ind.get("adx14")
    if fast is None or slow is None:
        return UNKNOWN
    if adx is not None and float(adx) < ADX_TRENDING:
        return "RANGE"
    return "UPTREND" if fast > slow else "DOWNTREND" if fast < slow else "RANGE"


def htf_trend(htf: IndicatorValues | None) -> str:
    """BULLISH/BEARISH/NEUTRAL by the higher timeframe's EMA20 vs EMA50; NA when unknown."""
    if not htf:
        return UNKNOWN
    fast, slow = htf.get("ema20"), htf.get("ema50")
    if fast is None or slow is None:
        return UNKNOWN
    return "BULLISH" if fast > slow else "BEARISH" if fast < slow else "NEUTRAL"


def vol_regime(atr_ratio: float | None) -> str:
    """LOW/NORMAL/HIGH by ATR over its recent average (``VOL_LOW``/``VOL_HIGH``); NA when unknown."""
    if atr_ratio is None:
        return UNKNOWN
    return "LOW" if atr_ratio < VOL_LOW else "HIGH" if atr_ratio > VOL_HIGH else "NORMAL"


# -- the journal row -------------------------------------------------------------------------

"""Technical indicators, each in a batch form (numpy in, numpy out, NaN in warm-up) and an
incremental form (a small class, ``update(...)`` O(1), ``.value`` and ``.ready``).

The two forms run the same arithmetic, so they agree to the last bit; EMA, RSI, ATR and
ADX follow TA-Lib's conventions (docs/indicators.md). ``BarIndicators`` bundles the seed's
signal indicators for one symbol and timeframe.
"""

from shared.indicators.adx import Adx, adx
from shared.indicators.atr import Atr, atr, true_range
from shared.indicators.bar_indicators import SIGNAL_KEYS, BarIndicators, IndicatorValues
from shared.indicators.ema import Ema, ema
from shared.indicators.rsi import Rsi, rsi
from shared.indicators.volume import RelativeVolume, relative_volume, volume_spike
from shared.indicators.vwap import SessionVwap, session_vwap

__all__ = [
    "SIGNAL_KEYS",
    "Adx",
    "Atr",
    "BarIndicators",
    "Ema",
    "IndicatorValues",
    "RelativeVolume",
    "Rsi",
    "SessionVwap",
    "adx",
    "atr",
    "ema",
    "relative_volume",
    "rsi",
    "session_vwap",
    "true_range",
    "volume_spike",
]

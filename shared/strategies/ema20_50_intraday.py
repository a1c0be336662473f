"""EMA 20/50 crossover, intraday: the seed's ``ema20_50_intraday``.

- LONG when EMA20 crosses above EMA50 on a closed bar, SHORT when it crosses below
  (``long_only`` for equity cash: no shorts). A cross is a change of the sign of
  ``EMA20 - EMA50`` against the last non-zero sign, so touching zero and coming back is
  no cross.
- The opposite cross EXITs the position and, with ``reverse`` (default), enters the other
  way on the same bar when entries are still allowed.
- No new entry outside ``entry_start``..``entry_cutoff`` (IST); EXIT at ``exit_time``
  (default 15:10, before the MIS square-off at 15:20 equity / 15:25 F&O).
- Optional ATR stop/target (``stop_atr``/``target_atr`` x ATR from the entry; 0 = off),
  checked on ticks and on bar high/low.
- Confidence: ``floor + (1 - floor) * min(1, |EMA20 - EMA50| / ATR / full_sep_atr)``: a
  fresh cross is close to the floor, a cross that opens up fast higher.
- ``htf_timeframe`` (default 15m) only labels ``htf_trend``; with ``htf_filter`` an entry
  against the higher timeframe's EMA20/EMA50 is skipped.
"""

from __future__ import annotations

from typing import ClassVar, Final

import numpy as np

from shared.contracts import Bar
from shared.enums import SignalKind
from shared.indicators import IndicatorValues
from shared.indicators.series import SeriesIndicators
from shared.strategies.base import (
    BarArrays,
    JsonDict,
    ParamValue,
    Strategy,
    StrategyContext,
    StrategyDecision,
    VectorPlan,
    clamp01,
)

CROSS_UP: Final = "EMA20>EMA50 cross"
CROSS_DOWN: Final = "EMA20<EMA50 cross"


class Ema2050Intraday(Strategy):
    """EMA 20/50 crossover with intraday time rules (see the module docstring)."""

    name: ClassVar[str] = "ema20_50_intraday"
    playbook: ClassVar[str] = "TREND_FOLLOW"
    defaults: ClassVar[dict[str, ParamValue]] = {
        "reverse": True,
        "stop_atr": 0.0,
        "target_atr": 0.0,
        "confidence_floor": 0.5,
        "full_sep_atr": 0.5,
        "htf_timeframe": "15m",
        "htf_filter": False,
    }

    def configure(self) -> None:
        p = self.params
        self.reverse = bool(p["reverse"])
        self.stop_atr = float(p["stop_atr"])
        self.target_atr = float(p["target_atr"])
        self.confidence_floor = clamp01(float(p["confidence_floor"]))
        self.full_sep_atr = max(float(p["full_sep_atr"]), 1e-9)
        self.htf_filter = bool(p["htf_filter"])

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        cross, diff = self._cross(ind, ctx)
        pos = ctx.position
        out: list[StrategyDecision] = []
        if pos is not None:
            stop_or_time = self.bar_exit(bar, pos)
            if stop_or_time is not None:
                return [stop_or_time]
            if cross == 0 or cross == pos.direction:
                return []
            out.append(self.exit_decision(CROSS_DOWN if cross < 0 else CROSS_UP, "CROSSOVER"))
            if not self.reverse:
                return out
        if cross == 0 or not self.can_enter(bar.ts_event) or (cross < 0 and self.long_only):
            return out
        atr = ind.get("atr")
        if atr is None or atr <= 0:
            return out
        if self.htf_filter and not self._htf_agrees(cross, ctx):
            return out
        close = bar.close
        sep = abs(diff) / atr
        confidence = self.confidence_floor + (1.0 - self.confidence_floor) * min(1.0, sep / self.full_sep_atr)
        out.append(
            StrategyDecision(
                SignalKind.LONG if cross > 0 else SignalKind.SHORT,
                clamp01(confidence),
                f"{CROSS_UP if cross > 0 else CROSS_DOWN} (sep {sep:.2f} ATR)",
                stop=close - cross * self.stop_atr * atr if self.stop_atr > 0 else 0.0,
                target=close + cross * self.target_atr * atr if self.target_atr > 0 else 0.0,
                playbook=self.playbook,
                setup_type="CROSSOVER",
            )
        )
        return out

    def vector_plan(self, ind: SeriesIndicators, bars: BarArrays) -> VectorPlan:
        """Decisions come only on a cross (flat or not) and, in a position, from ``bar_exit``.

        Without a cross ``on_bar`` returns nothing when flat, and in a position only what
        ``bar_exit`` gives. The one piece of memory is ``memo["sign"]``, the last non-zero sign
        of EMA20 - EMA50 (computed here as ``_cross`` does: the same float subtraction).
        """
        diff = ind.ema20 - ind.ema50  # NaN while either warms up: sign 0, as _cross's None
        sign = np.zeros(len(diff), dtype=np.int8)
        sign[diff > 0] = 1
        sign[diff < 0] = -1
        nonzero = np.where(sign != 0, np.arange(len(sign)), -1)
        last = np.maximum.accumulate(nonzero) if len(sign) else nonzero  # last non-zero at or before i
        before = np.concatenate(([-1], last))  # ... strictly before i, for i = 0 .. n (n: after the last bar)
        prev = np.where(before >= 0, sign[np.maximum(before, 0)] if len(sign) else 0, 0)
        cross = (sign != 0) & (prev[:-1] != 0) & (sign != prev[:-1])
        prev_list = prev.tolist()

        def sync(memo: JsonDict, i: int) -> None:
            p = prev_list[i]
            if p:
                memo["sign"] = p
            else:
                memo.pop("sign", None)

        return VectorPlan(candidates=cross, sync=sync, bar_exits=True)

    @staticmethod
    def _cross(ind: IndicatorValues, ctx: StrategyContext) -> tuple[int, float]:
        """(+1 up-cross, -1 down-cross, 0 none) and EMA20 - EMA50; keeps the last sign in memo."""
        fast, slow = ind.get("ema20"), ind.get("ema50")
        if fast is None or slow is None:
            return 0, 0.0
        diff = float(fast) - float(slow)
        sign = 1 if diff > 0 else -1 if diff < 0 else 0
        if sign == 0:
            return 0, diff
        last = ctx.memo.get("sign", 0)
        ctx.memo["sign"] = sign
        return (sign if last and sign != last else 0), diff

    @staticmethod
    def _htf_agrees(direction: int, ctx: StrategyContext) -> bool:
        htf = ctx.htf
        if not htf:
            return False
        fast, slow = htf.get("ema20"), htf.get("ema50")
        if fast is None or slow is None:
            return False
        return (float(fast) - float(slow)) * direction > 0

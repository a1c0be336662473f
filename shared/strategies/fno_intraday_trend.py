"""Trend following on 5-minute bars with a 15-minute trend filter: the seed's ``fno_intraday_trend``.

Entry (flat, inside the entry window, every input warmed up) when all agree in one
direction ``d``:

- higher timeframe (``htf_timeframe``, default 15m): EMA20 vs EMA50 gives BULLISH (+1) or
  BEARISH (-1). The engine builds those bars from the same ticks and feeds their indicator
  values in ``ctx.htf`` (the 15m bar that closes at the same instant as a 5m bar is applied
  first, so a 5m bar sees every 15m bar that has ended, never one still forming);
- ADX14 >= ``adx_min`` (default 20): a trend, not a range;
- EMA20 vs EMA50 on the bar's own timeframe points the same way;
- the close is above (long) / below (short) the session VWAP. An instrument without volume
  (an index) has no VWAP: the condition is skipped unless ``require_vwap``.

Exits: stop ``stop_atr`` (1.5) x ATR and target ``target_atr`` (3.0) x ATR from the entry,
checked on every tick and on the bar's high/low; with ``exit_on_trend_flip`` the bar's
EMA20/EMA50 turning against the position; the time exit (default 15:10 IST). After an exit
the strategy waits ``cooldown_bars`` bars before it enters again.

Confidence: 0.5 at ``adx_min`` rising linearly to 1.0 at ``adx_full`` (default 40).
"""

from __future__ import annotations

from typing import ClassVar

from shared.contracts import Bar
from shared.enums import SignalKind
from shared.errors import ConfigError
from shared.indicators import IndicatorValues
from shared.strategies.base import (
    ParamValue,
    Strategy,
    StrategyContext,
    StrategyDecision,
    clamp01,
)


def _trend_sign(values: IndicatorValues | None) -> int:
    """+1 if EMA20 > EMA50, -1 if below, 0 if equal or not warmed up."""
    if not values:
        return 0
    fast, slow = values.get("ema20"), values.get("ema50")
    if fast is None or slow is None:
        return 0
    diff = float(fast) - float(slow)
    return 1 if diff > 0 else -1 if diff < 0 else 0


class FnoIntradayTrend(Strategy):
    """5m trend following in the direction of the 15m trend (see the module docstring)."""

    name: ClassVar[str] = "fno_intraday_trend"
    playbook: ClassVar[str] = "TREND_FOLLOW"
    defaults: ClassVar[dict[str, ParamValue]] = {
        "htf_timeframe": "15m",
        "entry_start": "09:30",
        "adx_min": 20.0,
        "adx_full": 40.0,
        "stop_atr": 1.5,
        "target_atr": 3.0,
        "cooldown_bars": 3,
        "exit_on_trend_flip": True,
        "require_vwap": False,
    }

    def configure(self) -> None:
        p = self.params
        if self.htf_timeframe is None:
            raise ConfigError(f"strategy {self.id!r}: htf_timeframe is required (e.g. '15m')")
        self.adx_min = float(p["adx_min"])
        self.adx_span = max(float(p["adx_full"]) - self.adx_min, 1e-9)
        self.stop_atr = float(p["stop_atr"])
        self.target_atr = float(p["target_atr"])
        self.cooldown_bars = int(p["cooldown_bars"])
        self.exit_on_trend_flip = bool(p["exit_on_trend_flip"])
        self.require_vwap = bool(p["require_vwap"])

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        pos = ctx.position
        if pos is not None:
            exit_now = self.bar_exit(bar, pos)
            if exit_now is None and self.exit_on_trend_flip and _trend_sign(ind) == -pos.direction:
                exit_now = self.exit_decision(
                    "trend flip: EMA20<EMA50" if pos.direction > 0 else "trend flip: EMA20>EMA50", "TREND_FLIP"
                )
            return [exit_now] if exit_now is not None else []
        if not self.can_enter(bar.ts_event):
            return []
        since_exit = ctx.memo.get("bars_since_exit")
        if since_exit is not None and since_exit < self.cooldown_bars:
            return []
        return self._entry(bar, ind, ctx)

    def _entry(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        atr, adx = ind.get("atr"), ind.get("adx14")
        if atr is None or adx is None or atr <= 0:
            return []
        htf = _trend_sign(ctx.htf)
        if htf == 0 or _trend_sign(ind) != htf or (htf < 0 and self.long_only):
            return []
        adx = float(adx)
        if adx < self.adx_min:
            return []
        close = bar.close
        vwap = ind.get("vwap")
        if vwap is None:
            if self.require_vwap:
                return []
            vwap_text = "no VWAP"
        elif (close - float(vwap)) * htf <= 0:
            return []
        else:
            vwap_text = "close>VWAP" if htf > 0 else "close<VWAP"
        atr = float(atr)
        bullish = htf > 0
        return [
            StrategyDecision(
                SignalKind.LONG if bullish else SignalKind.SHORT,
                clamp01(0.5 + 0.5 * min(1.0, (adx - self.adx_min) / self.adx_span)),
                f"HTF {'BULLISH' if bullish else 'BEARISH'}, ADX {adx:.1f}, {vwap_text}, "
                f"EMA20{'>' if bullish else '<'}EMA50",
                stop=close - htf * self.stop_atr * atr if self.stop_atr > 0 else 0.0,
                target=close + htf * self.target_atr * atr if self.target_atr > 0 else 0.0,
                htf_trend="BULLISH" if bullish else "BEARISH",
                playbook=self.playbook,
                setup_type="TREND_CONTINUATION",
            )
        ]

"""``tick_probe``: a round trip per symbol per minute, decided on ticks (benchmarks and smoke tests).

It exists to measure the pipeline, not to make money: on the ``enter_at``-th tick of each
minute (shifted per symbol, so the symbols do not all trade on the same tick) it goes LONG,
and ``hold_ticks`` ticks later it EXITs (``every_minutes`` > 1: only every so many minutes).
Every decision is taken on a tick, so the intent's
event time is the deciding tick's, which lets ``bench.pipeline`` match each fill to the
tick that caused it. One LONG and one EXIT per symbol per minute at most: intent ids are
keyed by the minute (``shared.trading.records.intent_id``). Do not configure it for real money.
"""

from __future__ import annotations

import zlib
from typing import ClassVar

from shared.contracts import Bar, Tick
from shared.enums import SignalKind
from shared.indicators import IndicatorValues
from shared.strategies.base import ParamValue, Strategy, StrategyContext, StrategyDecision

MINUTE_NS = 60_000_000_000


class TickProbe(Strategy):
    """LONG on a tick each minute, EXIT ``hold_ticks`` ticks later (see the module docstring)."""

    name: ClassVar[str] = "tick_probe"
    playbook: ClassVar[str] = "PROBE"
    ticks_when_flat: ClassVar[bool] = True
    defaults: ClassVar[dict[str, ParamValue]] = {
        "enter_at": 3,  # the first tick of a minute to enter on ...
        "spread_ticks": 20,  # ... plus a per-symbol shift in [0, spread_ticks)
        "hold_ticks": 15,
        "stop_pct": 0.5,  # stop this many percent from the entry (risk sizes on it)
        "every_minutes": 1,  # trade a symbol every this many minutes (staggered across symbols)
    }

    def configure(self) -> None:
        p = self.params
        self.enter_at = max(int(p["enter_at"]), 1)
        self.spread = max(int(p["spread_ticks"]), 1)
        self.hold = max(int(p["hold_ticks"]), 1)
        self.stop_frac = float(p["stop_pct"]) / 100.0
        self.every = max(int(p["every_minutes"]), 1)

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        return []

    def on_tick(self, tick: Tick, ctx: StrategyContext) -> list[StrategyDecision]:
        memo = ctx.memo
        minute = tick.ts_event // MINUTE_NS
        if memo.get("minute") != minute:
            memo["minute"], memo["n"], memo["exited"] = minute, 0, False
            shift = zlib.crc32(ctx.symbol.encode())
            memo["entry_n"] = self.enter_at + shift % self.spread
            memo["turn"] = (minute + shift) % self.every == 0
        memo["n"] += 1
        pos = ctx.position
        if pos is not None:
            memo["held"] = memo.get("held", 0) + 1
            done = self.tick_exit(tick.last_price, tick.ts_event, pos)
            if done is None and memo["held"] >= self.hold:
                done = self.exit_decision(f"probe exit after {self.hold} ticks", "PROBE_EXIT")
            if done is not None:
                memo["exited"] = True  # no entry after an exit in the same minute: one EXIT id per minute
            return [done] if done is not None else []
        due = memo["turn"] and memo["n"] == memo["entry_n"] and not memo["exited"]
        if due and self.can_enter(tick.ts_event) and tick.last_price > 0:
            memo["held"] = 0
            stop = tick.last_price * (1.0 - self.stop_frac)
            return [StrategyDecision(SignalKind.LONG, 0.5, "probe entry", stop=stop, playbook=self.playbook,
                                     setup_type="PROBE")]  # fmt: skip
        return []

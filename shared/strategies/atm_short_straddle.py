"""The ATM short straddle: sell the at-the-money call and put at a set time, stop each leg, exit on time.

Run by the options engine, which routes only the current ATM CE and PE of each underlying
(and the contracts already held) to its strategies, so the first bar of an option that
closes at or after ``entry_start`` (IST) is the ATM leg at entry time. Each leg (CE, PE) of
an underlying is sold once a day: a leg that is stopped out is not sold again, and the
other leg keeps running.

- Stop per leg: the premium rising ``stop_loss_pct`` above its entry (0.3: a 100 premium
  stops at 130), on every tick and on the bar's high.
- Time exit: ``exit_time`` (default 15:10 IST, before the 15:25 MIS square-off of NFO).
- ``underlyings``: a comma-separated list (``NIFTY,BANKNIFTY``) to trade only those; empty =
  every underlying of the engine. Configure one straddle per underlying (with its own
  ``params.id``) to give each its own times and stop.

Positions are sized by the engine in lots (``options.lots``), not by the strategy.
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
    hhmm,
    ist_day_number,
)

LEGS = ("CE", "PE")


class AtmShortStraddle(Strategy):
    """Short ATM CE + PE from ``entry_start``, per-leg stop, time exit (see the module docstring)."""

    name: ClassVar[str] = "atm_short_straddle"
    playbook: ClassVar[str] = "SHORT_STRADDLE"
    defaults: ClassVar[dict[str, ParamValue]] = {
        "entry_start": "09:20",
        "entry_cutoff": "10:00",
        "stop_loss_pct": 0.3,
        "underlyings": "",
    }

    def configure(self) -> None:
        self.stop_loss_pct = float(self.params["stop_loss_pct"])
        if not self.stop_loss_pct > 0:
            raise ConfigError(f"strategy {self.id!r} param stop_loss_pct: expected > 0, got {self.stop_loss_pct}")
        names = str(self.params["underlyings"])
        self.underlyings = frozenset(n.strip().upper() for n in names.split(",") if n.strip())

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        pos = ctx.position
        if pos is not None:
            decision = self.bar_exit(bar, pos)
            return [decision] if decision is not None else []
        leg = ctx.symbol[-2:]
        if leg not in LEGS or (self.underlyings and ctx.logical not in self.underlyings):
            return []
        if not self.can_enter(bar.ts_event):
            return []
        # once a day per (underlying, leg), whichever strike is ATM then
        memo = self.memo_for(f"{ctx.logical}:{leg}")
        day = ist_day_number(bar.ts_event)
        if memo.get("sold_on") == day:
            return []
        memo["sold_on"] = day
        stop = round(bar.close * (1.0 + self.stop_loss_pct), 2)
        return [
            StrategyDecision(
                SignalKind.SHORT,
                1.0,
                f"ATM {leg} sold at {hhmm(self.entry_start_s)} straddle entry; stop {stop:.2f} "
                f"(+{self.stop_loss_pct:.0%}), time exit {hhmm(self.exit_time_s)}",
                stop=stop,
                playbook=self.playbook,
                setup_type="STRADDLE_ENTRY",
            )
        ]

"""Conflict resolution between the strategies of one engine on one symbol.

The decisions of every strategy on a symbol at one event time (the bars one tick closed,
or one tick) are settled together:

1. An EXIT is always taken: it closes the proposing strategy's own position and only
   reduces risk. (An EXIT without a position is dropped: ``no position``.)
2. An entry from a strategy that still holds a position there is dropped
   (``already in position``); a reversal is an EXIT then an entry, both proposed.
3. An entry opposite to a position another strategy of the engine still holds on the
   symbol is dropped (``opposite position held by <id>``): the engine never holds a
   hedged book of its own. Same-direction stacking is allowed (risk limits apply).
4. At most one entry per symbol and event time is taken among the rest:
   - ``highest_confidence``: the highest confidence; ties by higher priority, then id;
   - ``priority``: the highest ``priority`` (a larger number wins); ties by confidence, then id;
   - ``net_out``: if LONG and SHORT entries are both proposed they cancel (all dropped);
     otherwise as ``highest_confidence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from shared.enums import SignalKind
from shared.indicators import IndicatorValues
from shared.strategies.base import Strategy, StrategyDecision

RESOLUTIONS: Final = ("highest_confidence", "priority", "net_out")


@dataclass(slots=True)
class Proposal:
    """A strategy's decision plus what the engine needs to publish it."""

    strategy: Strategy
    decision: StrategyDecision
    price: float  # the price the decision is taken at
    timeframe: str
    key_ts: int  # event time in the ids: the bar's close, or the end of the tick's bar bucket
    ind: IndicatorValues = field(default_factory=dict)
    htf: IndicatorValues | None = None
    vol_regime: str = ""
    dropped: str = ""  # why it was not taken; "" when taken


def _confidence_key(p: Proposal) -> tuple[float, int, str]:
    return (-p.decision.confidence, -p.strategy.priority, p.strategy.id)


def _priority_key(p: Proposal) -> tuple[int, float, str]:
    return (-p.strategy.priority, -p.decision.confidence, p.strategy.id)


def resolve(proposals: list[Proposal], mode: str, held: Mapping[str, str]) -> list[Proposal]:
    """Mark each proposal taken or dropped (``dropped`` says why); return the taken ones, exits first.

    ``held``: strategy id -> side ("LONG"/"SHORT") of the positions on this symbol before
    these decisions.
    """
    if mode not in RESOLUTIONS:
        raise ValueError(f"resolve: conflict_resolution {mode!r}; expected one of {RESOLUTIONS}")
    after = dict(held)
    taken: list[Proposal] = []
    for p in proposals:
        if p.decision.kind == SignalKind.EXIT:
            if after.pop(p.strategy.id, None) is None:
                p.dropped = "no position"
            else:
                taken.append(p)
    entries: list[Proposal] = []
    for p in proposals:
        if p.decision.kind == SignalKind.EXIT:
            continue
        if p.strategy.id in after:
            p.dropped = "already in position"
            continue
        opposite = "SHORT" if p.decision.kind == SignalKind.LONG else "LONG"
        holders = sorted(sid for sid, side in after.items() if side == opposite)
        if holders:
            p.dropped = f"opposite position held by {holders[0]}"
            continue
        entries.append(p)
    if not entries:
        return taken
    if mode == "net_out" and len({p.decision.kind for p in entries}) > 1:
        for p in entries:
            p.dropped = "net_out: LONG and SHORT cancel"
        return taken
    ranked = sorted(entries, key=_priority_key if mode == "priority" else _confidence_key)
    winner = ranked[0]
    for p in ranked[1:]:
        p.dropped = f"{mode}: {winner.strategy.id} taken"
    taken.append(winner)
    return taken

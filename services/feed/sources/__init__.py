"""Tick sources behind one interface (``TickSource``), chosen by ``data.source``."""

from __future__ import annotations

from typing import Protocol

from shared.config import Settings
from shared.contracts import Tick
from shared.errors import ConfigError
from shared.instruments import InstrumentsMaster


class TickSource(Protocol):
    """What the feed needs from a market data source."""

    master: InstrumentsMaster

    def next_batch(self) -> list[Tick] | None:
        """The next ticks in event-time order; [] when none right now; None when the source is finished."""
        ...

    @property
    def session_started(self) -> bool:
        """True once, at the first batch of each new session (the pacer re-anchors there)."""
        ...

    def resume_after(self, ts_ns: int) -> int:
        """Skip everything up to and including event time ``ts_ns``; returns the ticks skipped."""
        ...

    def subscribe(self, tokens: set[int]) -> None: ...

    def unsubscribe(self, tokens: set[int]) -> None: ...

    def close(self) -> None: ...


def build_source(settings: Settings) -> TickSource:
    kind = settings.data.source
    if kind == "sim":
        from services.feed.sources.sim import SimSource

        return SimSource(settings)
    if kind == "replay":
        from shared.replay import ReplaySource

        return ReplaySource(settings)
    if kind == "kite":
        from services.feed.sources.kite import KiteSource

        return KiteSource(settings)
    raise ConfigError(f"data.source={kind!r}: expected sim, replay or kite")

"""The simulated NSE market as a tick source, session after session."""

from __future__ import annotations

import logging

from shared.clock import IST, wall_ns
from shared.config import Settings
from shared.contracts import Tick
from shared.sim import calendar
from shared.sim.market import SimMarket

log = logging.getLogger(__name__)


def first_session_day(settings: Settings) -> object:
    """``data.start_date`` or today (IST), moved forward to a trading day."""
    from datetime import datetime

    day = settings.data.start_date or datetime.fromtimestamp(wall_ns() / 1e9, tz=IST).date()
    return day if calendar.is_trading_day(day) else calendar.next_trading_day(day)


class SimSource:
    def __init__(self, settings: Settings) -> None:
        self.days_left = settings.data.days  # 0 = forever
        day = first_session_day(settings)
        self.market = SimMarket(settings.data.seed, day, step_ms=settings.data.step_ms)  # type: ignore[arg-type]
        self.master = self.market.master
        self._strikes_each_side = settings.data.option_strikes_each_side
        self._defaults: set[int] = set()
        self._new_session = True
        self._subscribe_defaults()
        log.info("simulating NSE session %s (seed %d)", day, settings.data.seed)

    def _subscribe_defaults(self) -> None:
        """Indices, futures, equities and ATM +/- N strikes of each nearest expiry (again each session:
        contracts expire and new ones list, so the default set is rebuilt from the day's master)."""
        # Yesterday's default strikes keep streaming until they expire (an engine may hold them).
        self._defaults = set(self.market.subscribed)
        n = self._strikes_each_side
        if n == 0:
            return
        day = self.market.day
        tokens: set[int] = set()
        for name in self.market.underlyings:
            expiry = self.master.nearest_expiry(name, day)
            chain = self.master.option_chain(name, expiry)
            spot = self.market.spot(name)
            strikes = sorted({opt.strike for opt in chain})
            atm = min(range(len(strikes)), key=lambda i: abs(strikes[i] - spot))
            wanted = set(strikes[max(0, atm - n) : atm + n + 1])
            tokens |= {opt.instrument_token for opt in chain if opt.strike in wanted}
        self.market.subscribe(tokens)
        self._defaults |= tokens

    @property
    def session_started(self) -> bool:
        started, self._new_session = self._new_session, False
        return started

    def next_batch(self) -> list[Tick] | None:
        if self.market.done:
            if self.days_left == 1:
                return None
            self.next_batch_roll()
        return self.market.step()

    def resume_after(self, ts_ns: int) -> int:
        """Regenerate (deterministically, without publishing) up to ``ts_ns``."""
        skipped = 0
        while True:
            if self.market.done:
                if self.days_left == 1:
                    return skipped
                self.next_batch_roll()
            if self.market.now_ns >= ts_ns:
                return skipped
            skipped += len(self.market.step())

    def next_batch_roll(self) -> None:
        """Move the market to the next session (counting down ``data.days``)."""
        if self.days_left > 1:
            self.days_left -= 1
        self.market.next_day()
        self._subscribe_defaults()
        self._new_session = True
        log.info("day roll-over: simulating %s", self.market.day)

    def subscribe(self, tokens: set[int]) -> None:
        self.market.subscribe(tokens)

    def unsubscribe(self, tokens: set[int]) -> None:
        # The default set keeps streaming: other consumers rely on it.
        self.market.unsubscribe(tokens - self._defaults)

    def close(self) -> None:
        pass

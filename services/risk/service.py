"""The risk loop: read ticks and inputs, decide, publish, checkpoint, then acknowledge.

Two consumers in group ``risk``: one over the tick streams (read-ahead; a tick only moves the
symbol's last time and price) and one over intents, positions, fills, order events, control
and instruments. Before a batch with intents is decided, the tick backlog is drained so the
stale-data rule and the marks see the market up to now. The inputs of a batch are handled in
the order Redis stored them (entry id time), whatever their stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from services.risk.checkpoint import checkpoint_path, encode_state, load_state
from shared.bus import streams
from shared.bus.redis_bus import Bus, Consumer, Delivery
from shared.config import Settings
from shared.contracts import (
    ControlCommand,
    Fill,
    InstrumentsPublished,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    Tick,
)
from shared.errors import DataError
from shared.risk.engine import Out, RiskEngine
from shared.runtime.service import Service
from shared.state.checkpoint import store_checkpoint

log = logging.getLogger(__name__)

TICK_STREAMS: Final = streams.TRADABLE_TICK_STREAMS
INPUT_STREAMS: Final = (
    streams.ORDER_INTENTS,
    streams.POSITIONS,
    streams.FILLS,
    streams.ORDER_EVENTS,
    streams.CONTROL,
    streams.INSTRUMENTS,
)
READ_BATCH: Final = 2000  # entries per stream per read
INPUT_BLOCK_MS: Final = 100  # wait this long for a tick or an input when none is waiting
INTENT_CATCH_UP_S: Final = 5.0  # at most this long catching up on ticks before deciding intents
FIRST_SNAPSHOT_WAIT_S: Final = 10.0  # at start-up, intents wait this long for execution's first book


# Within one millisecond entry ids do not order different streams: facts about the world
# (master, controls, book) go before the intents decided against them.
_PRIORITY: Final = {
    streams.INSTRUMENTS: 0,
    streams.CONTROL: 1,
    streams.POSITIONS: 2,
    streams.FILLS: 3,
    streams.ORDER_EVENTS: 4,
    streams.ORDER_INTENTS: 5,
}


def _entry_order(d: Delivery) -> tuple[int, int, int]:
    """Sort key: the entry's millisecond, then the stream's priority, then its sequence."""
    ms, _, seq = d.entry_id.partition(b"-")
    return int(ms), _PRIORITY.get(d.stream, 9), int(seq or 0)


class RiskService(Service):
    """Sizes and checks every order intent; the only way to ``orders.approved``."""

    name = "risk"
    first_snapshot_wait_s: float = FIRST_SNAPSHOT_WAIT_S

    def __init__(self, settings: Settings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.checkpoint = checkpoint_path(settings.artifacts)
        self.engine = RiskEngine(settings.risk, settings.portfolio, rate=settings.options.rate)
        self.counters = self.engine.counters  # the heartbeat shows the engine's counters
        #: one consumer over the tick streams and the inputs, so a blocked read wakes for either
        #: (ticks first in each reply: the market as of an intent is applied before it)
        self.market: Consumer | None = None
        self.market_backlog = False
        self.master_day = ""

    # -- lifecycle ---------------------------------------------------------------------------
    def on_start(self) -> None:
        state = load_state(self.checkpoint)  # a corrupt checkpoint and backup stop the start
        if state is not None:
            rate = self.settings.options.rate
            self.engine = RiskEngine(self.settings.risk, self.settings.portfolio, state, rate=rate)
            self.counters = self.engine.counters
            log.info(
                "risk state restored from %s: day %s, %d decisions, halted=%s %s",
                self.checkpoint,
                state.day or "-",
                len(state.decisions),
                state.halted,
                state.halt_reason,
            )
        self.load_master(streams.INSTRUMENTS_LATEST)
        group = streams.group(self.name)
        self.market = self.bus.consumer(group, (*TICK_STREAMS, *INPUT_STREAMS), start_id="0")

    def on_stop(self) -> None:
        self.save()
        self.durable.drain()  # on disk and acknowledged before the consumer goes
        if self.market is not None:
            self.market.close()

    def health_detail(self) -> str:
        return self.engine.detail()

    # -- instruments master ----------------------------------------------------------------
    def load_master(self, key: str, day: str = "") -> bool:
        """Load the instruments master from Redis ``key``; False (logged) when absent or unreadable."""
        if day and day < self.master_day:
            log.info("ignoring the instruments master of %s: %s is loaded", day, self.master_day)
            return False
        try:
            found = self.bus.read_master(*dict.fromkeys((key, streams.INSTRUMENTS_LATEST)))
        except DataError as exc:
            log.error("instruments master unusable, keeping the previous one: %s", exc)
            return False
        if found is None:
            log.warning("no instruments master in Redis (%s); intents are blocked until the feed publishes one", key)
            return False
        master, key = found
        self.engine.set_master(master)
        self.master_day = day or self.master_day
        log.info("instruments master loaded from %s: %d instruments", key, len(master))
        return True

    # -- the loop ----------------------------------------------------------------------------
    def run_once(self) -> None:
        batch = self.read(block_ms=INPUT_BLOCK_MS)
        if not batch:
            return
        first_book = False
        if self.engine.state.snapshot_ts == 0 and any(isinstance(d.message, OrderIntent) for d in batch):
            batch, first_book = self.wait_for_first_snapshot(batch)
        # Decide with the market as of the intents: catch up on ticks (bounded) until the tick
        # clock has reached the newest intent's event time. Usually there is nothing left to
        # catch up: ticks are applied as they arrive, while the engines are still deciding.
        deadline = time.monotonic() + INTENT_CATCH_UP_S
        while True:
            newest = max((d.message.ts_event for d in batch if isinstance(d.message, OrderIntent)), default=0)
            if self.engine.now_ns >= newest or time.monotonic() >= deadline:
                break
            more = self.read(block_ms=None)
            if not more and not self.market_backlog:
                break
            batch += more
        self.handle(batch, snapshots_first=first_book)

    def read(self, block_ms: int | None) -> list[Delivery]:
        """One read of ticks and inputs together (blocking up to ``block_ms`` when nothing waits):
        the ticks are applied and acknowledged at once (a lost tick only makes data look staler),
        the inputs are returned for ``handle``."""
        assert self.market is not None
        got = self.market.read(count=READ_BATCH, block_ms=block_ms)
        ticks = [d for d in got if d.stream in TICK_STREAMS]
        self.market_backlog = len(ticks) >= READ_BATCH
        if not ticks:
            return got
        on_tick = self.engine.on_tick
        for d in ticks:
            if isinstance(d.message, Tick):
                on_tick(d.message)
        self.market.ack(ticks)
        return [d for d in got if d.stream not in TICK_STREAMS]

    def wait_for_first_snapshot(self, batch: list[Delivery]) -> tuple[list[Delivery], bool]:
        """Intents that come before execution has ever published its book (a start-up race) wait
        for it, bounded; returns the inputs read meanwhile too, and whether a book came."""
        deadline = time.monotonic() + self.first_snapshot_wait_s
        while time.monotonic() < deadline:
            if any(isinstance(d.message, PositionSnapshot) for d in batch):
                return batch, True
            batch += self.read(block_ms=200)
            self.heartbeat()
        log.warning("no portfolio snapshot from execution in %.1f s: deciding without one", self.first_snapshot_wait_s)
        return batch, False

    def handle(self, batch: list[Delivery], *, snapshots_first: bool = False) -> None:
        """Apply a batch of inputs in stream-entry order; publish; checkpoint; acknowledge.

        ``snapshots_first``: the book goes before everything (the first book, waited for).
        """
        assert self.market is not None
        engine = self.engine
        out: list[Out] = []
        ordered = sorted(batch, key=_entry_order)
        if snapshots_first:
            ordered.sort(key=lambda d: not isinstance(d.message, PositionSnapshot))  # stable
        for d in ordered:
            msg = d.message
            if isinstance(msg, OrderIntent):
                out += engine.on_intent(msg)
            elif isinstance(msg, PositionSnapshot):
                out += engine.on_snapshot(msg)
            elif isinstance(msg, Fill):
                engine.on_fill(msg)
            elif isinstance(msg, OrderEvent):
                engine.on_order_event(msg)
            elif isinstance(msg, ControlCommand):
                result = engine.on_control(msg)
                log.info(
                    "control %s %s%s from %s: %s",
                    msg.command_id,
                    msg.action,
                    f" {msg.symbol}" if msg.symbol else "",
                    msg.issued_by or "?",
                    result,
                )
            elif isinstance(msg, InstrumentsPublished):
                self.load_master(msg.key, msg.day)
            else:
                log.warning("ignoring a %s on %s (%s)", type(msg).__name__, d.stream, d.entry_id.decode())
        if out:
            self.bus.publish_many(out)
        inputs = self.market
        if engine.dirty:
            self.save(then=lambda: inputs.ack(batch))  # acknowledged once the state is on disk
        else:
            self.durable.submit(None, lambda: inputs.ack(batch))  # in order, after what is queued

    def save(self, then: Callable[[], None] | None = None) -> None:
        """Checkpoint the risk state (snapshot now, written on the durable writer's thread);
        ``then`` (acknowledging the inputs that changed it) runs once it is on disk."""
        path = self.checkpoint
        raw = encode_state(path, self.engine.state, self.engine.now_ns)
        self.durable.submit(lambda: store_checkpoint(path, raw), then, key=str(path))
        self.engine.dirty = False

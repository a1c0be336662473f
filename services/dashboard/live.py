"""The live feed: a consumer group ``dashboard`` over the event streams, applied to the store and pushed.

Reading a stream never slows its producers (Redis appends regardless of readers), and this
reader hands events to browsers through bounded queues (``push.py``), so nothing waits on a
browser either. The group keeps its place in Redis: after a restart the reader first gets
back what it had read but not acknowledged, then continues where it stopped. It acknowledges
each batch once the store has it; the store is bounded (``store.py``).

Bursty kinds are coalesced per batch: only the newest position snapshot, the newest
heartbeat per service and the newest bar per series are pushed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from services.dashboard.history import History
from services.dashboard.push import PushHub
from services.dashboard.store import Store, ist_text
from services.dashboard.views import portfolio_view, service_view
from shared.bus import streams
from shared.bus.redis_bus import Bus, Consumer, Delivery
from shared.clock import wall_ns
from shared.contracts import Bar, ControlCommand, Fill, Heartbeat, OrderEvent, PositionSnapshot, RiskDecision, Signal
from shared.enums import Decision, ServiceState

log = logging.getLogger(__name__)

GROUP: Final = streams.group("dashboard")
LIVE_STREAMS: Final = (
    streams.ORDER_EVENTS,
    streams.FILLS,
    streams.POSITIONS,
    streams.SIGNALS,
    streams.RISK_DECISIONS,
    streams.CONTROL,
    streams.HEALTH,
    streams.BARS,
)
READ_COUNT: Final = 500
READ_BLOCK_MS: Final = 200
PERFORMANCE_EVERY_S: Final = 2.0
# At speed=max execution snapshots the book dozens of times a second; a person needs a few.
PORTFOLIO_EVERY_S: Final = 0.25
RETRY_S: Final = 1.0


def _json(kind: str, payload: BaseModel | dict[str, Any] | list[Any]) -> tuple[str, str]:
    if isinstance(payload, BaseModel):
        return kind, payload.model_dump_json()
    return kind, json.dumps(payload, separators=(",", ":"), allow_nan=False)


class StreamReader:
    """Runs in its own thread; ``open`` joins the group before history is loaded, so nothing falls between."""

    def __init__(self, bus: Bus, store: Store, history: History, hub: PushHub, heartbeat_s: float = 2.0) -> None:
        self.bus = bus
        self.heartbeat_s = heartbeat_s
        self._next_heartbeat = 0.0
        self.store = store
        self.history = history
        self.hub = hub
        self.consumer: Consumer | None = None
        self.delivered = 0
        self.last_read_ns = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_performance = 0.0
        self._next_portfolio = 0.0
        self._portfolio_pending = False

    def open(self) -> None:
        """Create (or rejoin) the consumer group: a new group starts at the streams' ends."""
        self.consumer = self.bus.consumer(GROUP, list(LIVE_STREAMS), start_id="$")

    def start(self) -> None:
        if self.consumer is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name="dashboard-streams", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.heartbeat(ServiceState.STOPPED)
        except Exception:  # Redis may be why we stop
            log.warning("could not publish the final heartbeat")

    def _run(self) -> None:
        assert self.consumer is not None
        while not self._stop.is_set():
            try:
                deliveries = self.consumer.read(count=READ_COUNT, block_ms=READ_BLOCK_MS)
                self.last_read_ns = wall_ns()
                if deliveries:
                    self.hub.publish(self.apply(deliveries))
                    self.consumer.ack(deliveries)
                    self.delivered += len(deliveries)
                if self._portfolio_pending and time.monotonic() >= self._next_portfolio:
                    self.hub.publish(self.portfolio_events())
                if time.monotonic() >= self._next_performance:
                    self.refresh_performance()
                if time.monotonic() >= self._next_heartbeat:
                    self.heartbeat(ServiceState.RUNNING)
            except Exception:  # Redis down or a bug in one batch: log, wait, carry on
                log.exception("dashboard stream reader: retrying in %.0f s", RETRY_S)
                self._stop.wait(RETRY_S)

    def heartbeat(self, state: ServiceState) -> None:
        """The dashboard's own heartbeat on ``health`` (compose's health check and /api/health read it)."""
        self._next_heartbeat = time.monotonic() + self.heartbeat_s
        now = wall_ns()
        self.bus.publish(
            streams.HEALTH,
            Heartbeat(
                ts_event=now, ts_init=now, service="dashboard", pid=os.getpid(), state=state,
                detail=f"clients={len(self.hub.clients)} store={self.store.sizes()}",
                counters={"delivered": self.delivered, "clients": len(self.hub.clients),
                          "dropped_clients": self.hub.dropped, "pushed": self.hub.published},
            ),
        )  # fmt: skip

    def portfolio_events(self) -> list[tuple[str, str]]:
        """The book and the newest equity point (at most every ``PORTFOLIO_EVERY_S``)."""
        self._portfolio_pending = False
        self._next_portfolio = time.monotonic() + PORTFOLIO_EVERY_S
        out = [_json("portfolio", portfolio_view(self.store, with_curve=False))]
        with self.store.lock:
            point = self.store.equity[-1] if self.store.equity else None
        if point is not None:
            out.append(_json("equity", point))
        return out

    def refresh_performance(self) -> None:
        self._next_performance = time.monotonic() + PERFORMANCE_EVERY_S
        with self.store.lock:
            new = self.history.performance.refresh()
        if new:
            self.hub.publish([_json("performance", {"trades": self.history.performance.trades})])

    def apply(self, deliveries: list[Delivery]) -> list[tuple[str, str]]:
        """Apply a batch to the store; returns the events to push, in order."""
        batch = _Batch()
        handlers = self._handlers
        for d in deliveries:
            handler = handlers.get(type(d.message))
            if handler is not None:
                handler(d.message, batch)
        return self._finish(batch)

    @property
    def _handlers(self) -> dict[type, Callable[[Any, _Batch], None]]:
        return {
            OrderEvent: self._order, Fill: self._fill, PositionSnapshot: self._snapshot, Signal: self._signal,
            RiskDecision: self._decision, ControlCommand: self._control, Heartbeat: self._heartbeat, Bar: self._bar,
        }  # fmt: skip

    def _order(self, m: OrderEvent, b: _Batch) -> None:
        order = self.store.on_order_event(m)
        if order is not None:
            b.out.append(_json("order", {"order": order.model_dump(), "published_ns": m.ts_init}))

    def _fill(self, m: Fill, b: _Batch) -> None:
        if self.store.on_fill(m):
            b.fills = True
            b.out.append(_json("fill", {"symbol": m.symbol, "ts_ns": m.ts_event, "side": m.side.value,
                                        "quantity": m.quantity, "price": m.price, "order_id": m.order_id,
                                        "strategy": m.strategy}))  # fmt: skip

    def _snapshot(self, m: PositionSnapshot, b: _Batch) -> None:
        b.snapshot = self.store.on_snapshot(m) or b.snapshot

    def _signal(self, m: Signal, b: _Batch) -> None:
        sig = self.store.on_signal(m)
        if sig is not None:
            b.out.append(_json("signal", sig))

    def _decision(self, m: RiskDecision, b: _Batch) -> None:
        if m.decision != Decision.ALLOW:
            b.out.append(_json("decision", {"time": ist_text(m.ts_event), "symbol": m.symbol,
                                            "decision": m.decision.value, "reason": m.reason,
                                            "intent_id": m.intent_id, "rule": m.rule}))  # fmt: skip
        session = self.store.on_decision(m)
        if session is not None:
            b.out.append(_json("session", session))

    def _control(self, m: ControlCommand, b: _Batch) -> None:
        b.out.append(_json("session", self.store.on_control(m)))

    def _heartbeat(self, m: Heartbeat, b: _Batch) -> None:
        self.store.on_heartbeat(m, wall_ns())
        b.beats[m.service] = m

    def _bar(self, m: Bar, b: _Batch) -> None:
        if self.store.on_bar(m):
            b.bars[(m.symbol, m.timeframe)] = m

    def _finish(self, b: _Batch) -> list[tuple[str, str]]:
        out = b.out
        if b.snapshot:
            self._portfolio_pending = True
        if self._portfolio_pending and time.monotonic() >= self._next_portfolio:
            out.extend(self.portfolio_events())
        now = wall_ns()
        for hb in b.beats.values():
            out.append(_json("health", service_view(hb, now, now)))
        if b.bars:
            out.append(_json("bars", [{"symbol": x.symbol, "timeframe": x.timeframe, "ts_ns": x.ts_open,
                                       "open": x.open, "high": x.high, "low": x.low, "close": x.close,
                                       "volume": x.volume} for x in b.bars.values()]))  # fmt: skip
        if b.fills:
            self._next_performance = 0.0  # a fill may have closed a trade: look at pnl.csv now
        return out


@dataclass(slots=True)
class _Batch:
    """What one batch changed; bursty kinds keep only their newest item."""

    out: list[tuple[str, str]] = field(default_factory=list)
    snapshot: bool = False
    fills: bool = False
    beats: dict[str, Heartbeat] = field(default_factory=dict)
    bars: dict[tuple[str, str], Bar] = field(default_factory=dict)

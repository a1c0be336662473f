"""Live mode's pieces for the execution service: the Kite broker and its order-update socket.

The socket is a ``KiteTicker`` with no instruments: Kite sends every order change of the
account on it as a text message. It runs Twisted's reactor in a daemon thread of the
execution process (one reactor per process); polling the order book is the fallback.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from kiteconnect import KiteTicker

from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.kite import KiteBroker, OrderPacer
from shared.brokers.kite_session import Credentials, client, load_credentials
from shared.brokers.orders import Order
from shared.bus import streams
from shared.clock import wall_ns
from shared.config import Settings
from shared.contracts import Alert, ControlCommand
from shared.enums import ControlAction
from shared.instruments import InstrumentsMaster

if TYPE_CHECKING:
    from services.execution.oms import Recovered

log = logging.getLogger(__name__)


def build_kite_broker(settings: Settings, creds: Credentials | None = None) -> KiteBroker:
    creds = creds or load_credentials(settings)
    k = settings.kite
    return KiteBroker(
        client(settings, creds), InstrumentsMaster([], source="not loaded yet"),
        capital=settings.trading.paper_capital, pacer=OrderPacer(k.orders_per_second, k.orders_per_minute),
        market_protection=k.market_protection, poll_seconds=k.poll_seconds,
        lookup_delay_seconds=k.lookup_delay_seconds,
    )  # fmt: skip


class OrderUpdateSocket:
    """Order updates from Kite's ticker socket into ``broker.on_order_update``."""

    def __init__(self, settings: Settings, broker: KiteBroker, creds: Credentials | None = None) -> None:
        creds = creds or load_credentials(settings)
        self.ticker = KiteTicker(creds.api_key, creds.access_token, root=settings.kite.ws_root,
                                 reconnect_max_delay=settings.kite.reconnect_max_delay_seconds)  # fmt: skip
        self.ticker.on_order_update = lambda _ws, data: broker.on_order_update(data)
        self.ticker.on_connect = lambda _ws, _r: log.info("order-update socket connected")
        self.ticker.on_close = lambda _ws, code, reason: log.warning("order-update socket closed (%s %s)", code, reason)
        self.ticker.on_error = lambda _ws, code, reason: log.warning("order-update socket error %s: %s", code, reason)

    def start(self) -> None:
        self.ticker.connect(threaded=True)

    def stop(self) -> None:
        from twisted.internet import reactor

        r: Any = reactor
        r.callFromThread(self.ticker.close)
        r.callFromThread(r.stop)


class LiveExecution:
    """The execution service's live-mode steps (mixed into ``ExecutionService``; its state is the service's)."""

    settings: Settings
    broker: Any
    journal: Any
    oms: Any
    mode: str
    name: str
    now: int
    master: Any
    order_socket: Any
    _outbox: list[Any]
    _pending_meta: Any
    _halt_sent: bool
    _next_reconcile: float
    _drift_seen: tuple[Any, ...]
    _drift_acted: tuple[Any, ...]
    _fill_since_snapshot: bool
    _fill_since_checkpoint: bool

    if TYPE_CHECKING:  # provided by ExecutionService

        def _emit(self, events: list[BrokerEvent]) -> None: ...

        @property
        def portfolio(self) -> Any: ...

    def _start_live(self, rec: Recovered) -> None:
        """Preflight (profile, margins) before anything trades; then the order-update socket."""
        from shared.brokers.kite import KiteSessionExpired

        self.broker.portfolio = rec.state.portfolio
        try:
            info = self.broker.preflight()
        except KiteSessionExpired as exc:
            log.error("%s", exc)
            raise SystemExit(f"live preflight failed: {exc}") from None
        log.info("live preflight passed: user %s, equity margin %s", info["user_id"], info["equity_net"])
        if self.settings.kite.order_updates_socket:
            self.order_socket = OrderUpdateSocket(self.settings, self.broker)
            self.order_socket.start()

    def _journal_before_send(self, order: Order) -> None:
        """The Kite broker's hook: the order's row is on disk before the order is sent."""
        from services.execution.oms import OrderMeta

        assert self.journal is not None
        evt = order_event(order, order.ts_created)
        meta = self._pending_meta or OrderMeta(extra={"instrument_token": order.instrument_token, "mode": self.mode})
        self.oms.record(evt, meta)
        self.journal.order(BrokerEvent(evt), meta)
        self.journal.sync()
        self._outbox.append((streams.ORDER_EVENTS, msgspec.structs.replace(evt, ts_init=wall_ns())))

    def _pump_live(self) -> None:
        self._emit(self.broker.pump(self.now))
        if self.master is not None and time.monotonic() >= self._next_reconcile:
            self._reconcile()
        if self.broker.session_expired and not self._halt_sent:
            self._halt_sent = True
            reason = "Kite session expired: log in again (python -m scripts.run_trader live --login)"
            log.error("%s; halting trading", reason)
            self._outbox.append((streams.CONTROL, ControlCommand(
                ts_event=self.now, ts_init=wall_ns(), command_id=f"kite-session-expired-{self.now}",
                action=ControlAction.HALT, issued_by="execution", reason=reason)))  # fmt: skip

    def _reconcile(self, *, startup: bool = False) -> None:
        """Kite's net positions vs ours: drift seen twice (at start-up: once) is alerted, then halted or adopted."""
        from shared.brokers.reconcile import adopt, position_drift

        assert self.journal is not None
        self._next_reconcile = time.monotonic() + self.settings.kite.reconcile_seconds
        try:
            net = self.broker.kite.positions()["net"]
        except Exception as exc:
            if startup:
                raise SystemExit(f"cannot reconcile with Kite at start-up ({exc}); not trading") from None
            log.warning("reconciliation skipped: positions not readable (%s)", exc)
            return
        drifts = tuple(position_drift(self.broker.positions(), net))
        seen, self._drift_seen = self._drift_seen, drifts
        if not drifts or (not startup and drifts != seen) or drifts == self._drift_acted:
            return  # in line, or seen once (a fill may be in flight), or already acted on
        self._drift_acted = drifts
        policy = self.settings.kite.drift_policy
        text = "; ".join(d.describe() for d in drifts)
        log.error("broker positions differ from the journal (%s): %s", policy, text)
        self.journal.event("reconcile_drift", self.now, policy=policy, drift=[d.describe() for d in drifts])
        self._outbox.append((streams.ALERTS, Alert(
            ts_event=self.now, ts_init=wall_ns(), source=self.name, severity="critical", code="position_drift",
            message=f"broker positions differ from the journal: {text}; policy {policy}",
            details={"policy": policy, "drift": [d.describe() for d in drifts]})))  # fmt: skip
        if policy == "adopt":
            adopt(self.portfolio, drifts)
            self._fill_since_snapshot = self._fill_since_checkpoint = True
        else:
            self._outbox.append((streams.CONTROL, ControlCommand(
                ts_event=self.now, ts_init=wall_ns(), command_id=f"position-drift-{self.now}",
                action=ControlAction.HALT, issued_by="execution", reason=f"position drift: {text}")))  # fmt: skip

"""Live mode's pieces for the execution service: the Kite broker and its order-update socket.

The socket is a ``KiteTicker`` with no instruments: Kite sends every order change of the
account on it as a text message. It runs Twisted's reactor in a daemon thread of the
execution process (one reactor per process); polling the order book is the fallback.
"""

from __future__ import annotations

import logging
from typing import Any

from kiteconnect import KiteTicker

from shared.brokers.kite import KiteBroker, OrderPacer
from shared.brokers.kite_session import Credentials, client, load_credentials
from shared.config import Settings
from shared.instruments import InstrumentsMaster

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

"""The single writer of orders.csv, pnl.csv, signals.csv and logs/events.jsonl.

Opening takes every journal's lock, so a second execution process fails at once
(``JournalLockedError``) instead of interleaving rows. Rows are appended as events happen
(one ``os.write`` each) and fsynced together by ``sync`` before the bus entries that caused
them are acknowledged. Closed round trips go to pnl.csv through the same ``TradeBook``
that ``rebuild_from_journal`` uses, so a rebuilt book equals the live one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.execution.oms import OrderMeta
from shared.brokers.base import BrokerEvent
from shared.contracts import Signal
from shared.state.formats import PnlRecord
from shared.state.journal import EventLog, OrdersJournal, PnlJournal, SignalsJournal
from shared.state.paths import StatePaths
from shared.state.trades import TradeBook

log = logging.getLogger(__name__)


class JournalWriter:
    """orders.csv, pnl.csv, signals.csv and events.jsonl, with the day's ``TradeBook``."""

    def __init__(self, paths: StatePaths) -> None:
        opened: list[Any] = []
        try:
            self.orders = OrdersJournal(paths.orders_csv)
            opened.append(self.orders)
            self.pnl = PnlJournal(paths.pnl_csv)
            opened.append(self.pnl)
            self.signals = SignalsJournal(paths.signals_csv)
            opened.append(self.signals)
            self.events = EventLog(paths.events_log)
        except BaseException:
            for journal in opened:
                journal.close()
            raise
        for journal in (self.orders, self.pnl, self.signals, self.events):
            if journal.repaired:
                log.warning(
                    "%s: dropped a torn last line left by a crash (%d bytes)", journal.path, len(journal.repaired)
                )
        self.trades = TradeBook()
        self._dirty = False
        self._closed = False

    def order(self, ev: BrokerEvent, meta: OrderMeta) -> list[PnlRecord]:
        """Journal one order change (and its fill or fee); returns the round trips it closed."""
        evt, fill = ev.order, ev.fill
        self.orders.append_order_event(
            evt,
            tf=meta.tf,
            profile=meta.profile,
            parent_signal_ts=meta.parent_signal_ts,
            underlying=meta.underlying,
            extra=meta.extra,
            fill=fill,
            fee=ev.fee,
            internal=ev.internal,
        )
        self._dirty = True
        closed = self.trades.on_broker_event(ev)
        for trade in closed:
            self.pnl.append(trade)
        fields: dict[str, Any] = {
            "order_id": evt.order_id,
            "symbol": evt.symbol,
            "side": evt.side.value,
            "status": evt.status.value,
            "quantity": evt.quantity,
            "filled_quantity": evt.filled_quantity,
            "average_price": evt.average_price,
            "strategy": evt.strategy,
        }
        if evt.status_message:
            fields["message"] = evt.status_message
        if fill is not None:
            fields.update(fill_id=fill.fill_id, fill_quantity=fill.quantity, fill_price=fill.price)
        if ev.fee:
            fields["fee"] = ev.fee
        self.events.append("order", evt.ts_event, **fields)
        return closed

    def signal(self, signal: Signal, mode: str) -> None:
        """Journal a signal (``mode`` unless the signal names its own)."""
        self.signals.append(signal, mode=None if "mode" in signal.indicators else mode)
        self._dirty = True

    def event(self, event: str, ts_ns: int, **fields: Any) -> None:
        """A line of logs/events.jsonl (control commands, restarts, day rolls)."""
        self.events.append(event, ts_ns, **fields)
        self._dirty = True

    def sync(self) -> None:
        """fsync everything appended since the last sync (before acknowledging its inputs)."""
        job = self.sync_job()
        if job is not None:
            job()

    def sync_job(self) -> Callable[[], None] | None:
        """The fsync of every journal, to run on another thread (None: nothing appended since
        the last one). It covers every row appended before it runs, so a later job also
        covers an earlier one it replaces."""
        if not self._dirty:
            return None
        self._dirty = False
        return self.sync_all

    def sync_all(self) -> None:
        """fsync every journal (thread-safe: ``LockedAppendFile.sync``)."""
        for journal in (self.orders, self.pnl, self.signals, self.events):
            journal.sync()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release every journal and its lock (idempotent)."""
        for journal in (self.orders, self.pnl, self.signals, self.events):
            journal.close()
        self._closed = True

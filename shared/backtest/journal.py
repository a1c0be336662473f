"""The seed's journals (orders.csv, signals.csv, pnl.csv) kept in memory, written out at the end.

Rows are the very dicts the execution service's journals append (``shared.state.formats``),
so a backtest's files and a paper session's compare line for line. The rows are rendered
to text only when written (a backtest of months holds tens of thousands of them).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.brokers.base import BrokerEvent
from shared.contracts import Signal
from shared.state.formats import (
    ORDERS_COLUMNS,
    PNL_COLUMNS,
    SIGNALS_COLUMNS,
    PnlRecord,
    cell,
    order_record,
    pnl_record,
    signal_record,
)
from shared.state.trades import TradeBook


def csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> str:
    """A CSV file's text exactly as ``CsvJournal`` writes it (header, one line per row)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue()


class MemoryJournal:
    """orders / signals / pnl rows and the day's ``TradeBook`` (the execution service's ``JournalWriter``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.orders: list[dict[str, object]] = []
        self.signals: list[dict[str, object]] = []
        self.trades: list[PnlRecord] = []
        self.book = TradeBook()

    def order(self, ev: BrokerEvent, meta: Any) -> list[PnlRecord]:
        """Journal one order change (``meta``: an ``OrderMeta``); returns the round trips it closed."""
        evt, fill = ev.order, ev.fill
        self.orders.append(
            order_record(
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
        )
        closed = self.book.on_broker_event(ev)
        self.trades.extend(closed)
        return closed

    def signal(self, signal: Signal) -> None:
        self.signals.append(signal_record(signal, mode=None if "mode" in signal.indicators else self.mode))

    def new_day(self) -> None:
        """A fresh day's book (the paper book starts each day flat)."""
        self.book = TradeBook()

    def write(self, folder: Path) -> dict[str, Path]:
        """orders.csv, signals.csv and pnl.csv into ``folder``; returns their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        out = {
            "orders": (ORDERS_COLUMNS, self.orders),
            "signals": (SIGNALS_COLUMNS, self.signals),
            "pnl": (PNL_COLUMNS, [pnl_record(t) for t in self.trades]),
        }
        paths: dict[str, Path] = {}
        for name, (columns, rows) in out.items():
            path = folder / f"{name}.csv"
            path.write_text(csv_text(columns, rows))
            paths[name] = path
        return paths

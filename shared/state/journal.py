"""Append-only journals: orders.csv, signals.csv, pnl.csv and logs/events.jsonl.

Each file has exactly one writer process, enforced with an exclusive ``flock`` held for the
writer's lifetime (``appendfile.LockedAppendFile``): a second writer gets
``JournalLockedError``. The header is written once; every record is one line, written with a
single ``os.write`` (flushed per record; ``durable=True`` also fsyncs per record); a torn
last line left by a crash is truncated away, with a warning, when the writer opens.

Readers take no lock and skip an unterminated last line (a torn or in-progress write);
a bad row raises ``DataError`` naming ``file:line`` and the column. Formats: ``formats.py``
and docs/state.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shared.contracts import Fill, OrderEvent, Signal
from shared.errors import DataError
from shared.state.appendfile import JournalLockedError, LockedAppendFile, read_complete_lines
from shared.state.formats import (
    ORDERS_COLUMNS,
    PNL_COLUMNS,
    SIGNALS_COLUMNS,
    OrderRow,
    PnlRecord,
    SignalRow,
    cell,
    order_record,
    parse_order_row,
    parse_pnl_row,
    parse_signal_row,
    pnl_record,
    signal_record,
)
from shared.state.timefmt import format_ts

__all__ = [
    "CsvJournal",
    "EventLog",
    "JournalLockedError",
    "OrdersJournal",
    "PnlJournal",
    "SignalsJournal",
    "read_csv_records",
    "read_events",
    "read_orders",
    "read_pnl",
    "read_signals",
]

T = TypeVar("T")


class CsvJournal:
    """One writer of an append-only CSV file with a fixed column order."""

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str], *, durable: bool = False) -> None:
        self.columns = tuple(columns)
        if len(set(self.columns)) != len(self.columns) or not self.columns:
            raise ValueError(f"{path}: columns must be distinct and non-empty, got {self.columns}")
        self._file = LockedAppendFile(path, header=_csv_line(self.columns), durable=durable)
        self._columns_set = frozenset(self.columns)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def repaired(self) -> bytes:
        """The torn tail dropped on open (b"" when the file ended cleanly)."""
        return self._file.repaired

    def append(self, values: Mapping[str, object]) -> None:
        """Append one row; missing columns are empty, unknown ones are an error."""
        unknown = set(values) - self._columns_set
        if unknown:
            raise ValueError(f"{self.path}: unknown column(s) {sorted(unknown)}; columns are {','.join(self.columns)}")
        self._file.append_line(_csv_line([cell(values.get(c)) for c in self.columns]))

    def sync(self) -> None:
        """fsync the rows appended so far."""
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _csv_line(fields: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def read_csv_records(path: str | os.PathLike[str], columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {column: text})`` for each complete row; the header must be ``columns``.

    A missing file yields nothing. Blank lines are skipped; an unterminated last line too.
    """
    p = Path(path)
    lines = read_complete_lines(p)
    if not lines:
        return
    try:
        text_lines = [b.decode("utf-8") for b in lines]
    except UnicodeDecodeError:
        bad = next(i for i, b in enumerate(lines, 1) if not _is_utf8(b))
        raise DataError(f"{p}:{bad}: not valid UTF-8") from None
    reader = csv.reader(text_lines, strict=True)
    try:
        header = next(reader)
        if tuple(header) != tuple(columns):
            raise DataError(f"{p}:1: header is {','.join(header)!r}; expected {','.join(columns)!r}")
        for rec in reader:
            if not rec:
                continue
            if len(rec) != len(columns):
                raise DataError(f"{p}:{reader.line_num}: expected {len(columns)} fields, got {len(rec)}")
            yield reader.line_num, dict(zip(columns, rec, strict=True))
    except csv.Error as exc:
        raise DataError(f"{p}:{reader.line_num}: malformed CSV ({exc})") from None


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read(
    path: str | os.PathLike[str], columns: Sequence[str], parse: Callable[[str, int, dict[str, str]], T]
) -> list[T]:
    return [parse(str(path), line, rec) for line, rec in read_csv_records(path, columns)]


# -- the three journals --------------------------------------------------------------------


class _TypedJournal:
    """A ``CsvJournal`` with a fixed schema; subclasses add the typed ``append``."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.csv = CsvJournal(path, self.COLUMNS, durable=durable)

    @property
    def path(self) -> Path:
        return self.csv.path

    @property
    def repaired(self) -> bytes:
        """The torn tail dropped on open (b"" when the file ended cleanly)."""
        return self.csv.repaired

    def sync(self) -> None:
        self.csv.sync()

    def close(self) -> None:
        self.csv.close()

    def __enter__(self: J) -> J:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


J = TypeVar("J", bound=_TypedJournal)


class OrdersJournal(_TypedJournal):
    """orders.csv: one row per order status change; a row carries at most one fill."""

    COLUMNS = ORDERS_COLUMNS

    def append_order_event(
        self,
        evt: OrderEvent,
        *,
        tf: str = "",
        profile: str = "",
        strategy: str | None = None,
        parent_signal_ts: int | str | None = None,
        underlying: str = "",
        extra: Mapping[str, Any] | None = None,
        fill: Fill | None = None,
        fee: float = 0.0,
        internal: bool = False,
    ) -> None:
        """Journal an order event; with ``fill``, the execution it reports (id, qty, price, charges).

        ``strategy`` defaults to ``evt.strategy``; ``parent_signal_ts`` is the signal's event
        time (ns) or its ISO text; ``fee`` is a charge not tied to a fill (auto square-off
        fee). ``extra`` adds keys to the row's JSON ``extra`` (the journal's own keys are
        reserved). An event that reports several fills is journaled as one row per fill.
        ``internal``: a cross between strategies, never sent (``extra.internal``).
        """
        self.csv.append(
            order_record(
                evt,
                tf=tf,
                profile=profile,
                strategy=strategy,
                parent_signal_ts=parent_signal_ts,
                underlying=underlying,
                extra=extra,
                fill=fill,
                fee=fee,
                internal=internal,
            )
        )


class SignalsJournal(_TypedJournal):
    """signals.csv: one row per ``Signal``."""

    COLUMNS = SIGNALS_COLUMNS

    def append(self, signal: Signal, *, mode: str | None = None, profile: str | None = None) -> None:
        """Journal a signal; ``mode``/``profile`` override the same-named indicators."""
        self.csv.append(signal_record(signal, mode=mode, profile=profile))


class PnlJournal(_TypedJournal):
    """pnl.csv: one row per closed trade (see ``trades.TradeBook``)."""

    COLUMNS = PNL_COLUMNS

    def append(self, trade: PnlRecord) -> None:
        self.csv.append(pnl_record(trade))


def read_orders(path: str | os.PathLike[str]) -> list[OrderRow]:
    """Every row of an orders.csv, parsed and checked (``DataError`` names file:line)."""
    return _read(path, ORDERS_COLUMNS, parse_order_row)


def read_signals(path: str | os.PathLike[str]) -> list[SignalRow]:
    """Every row of a signals.csv, parsed and checked."""
    return _read(path, SIGNALS_COLUMNS, parse_signal_row)


def read_pnl(path: str | os.PathLike[str]) -> list[PnlRecord]:
    """Every row of a pnl.csv, parsed and checked."""
    return _read(path, PNL_COLUMNS, parse_pnl_row)


# -- logs/events.jsonl ---------------------------------------------------------------------


class EventLog:
    """logs/events.jsonl: one JSON object per line, ``{"ts", "ts_ns", "event", ...fields}``.

    For the dashboard's event feed: order and risk decisions, halts, kills, restarts. Same
    single-writer lock and torn-line repair as the CSV journals; no header.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = False) -> None:
        self._file = LockedAppendFile(path, header=None, durable=durable)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def repaired(self) -> bytes:
        return self._file.repaired

    def append(self, event: str, ts_ns: int, **fields: Any) -> None:
        """Append ``{"ts": ISO, "ts_ns": ts_ns, "event": event, **fields}`` (event time, not wall time)."""
        clash = {"ts", "ts_ns", "event"} & set(fields)
        if clash:
            raise ValueError(f"{self.path}: field(s) {sorted(clash)} are reserved")
        record = {"ts": format_ts(ts_ns), "ts_ns": ts_ns, "event": event, **fields}
        try:
            line = json.dumps(record, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.path}: event {event!r} is not JSON-serialisable: {exc}") from None
        self._file.append_line(line)  # json.dumps escapes newlines, so this is one line

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete event of an events.jsonl (``DataError`` names file:line for a bad one)."""
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(read_complete_lines(path), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}:{i}: not a JSON object ({exc})") from None
        if not isinstance(obj, dict) or "event" not in obj:
            raise DataError(f"{path}:{i}: expected a JSON object with an 'event' key, got {raw[:80]!r}")
        out.append(obj)
    return out

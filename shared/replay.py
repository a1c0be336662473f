"""Replay recorded market data from CSV, in event-time order.

Layout of ``data.replay_path`` (a folder):

    instruments.csv              Kite's instruments master (maps symbols to tokens, tick sizes)
    ticks.csv                    optional: timestamp,exchange,tradingsymbol,last_price[,last_quantity,volume,oi]
    candles/<EXCHANGE>/<TRADINGSYMBOL>.csv (or .parquet, with pyarrow)
                                 optional: Kite's historical-candles layout, 1 minute:
                                 date,open,high,low,close,volume[,oi]

Timestamps are ISO 8601; a naive one is IST (as Kite's REST API sends them). A candle
becomes four ticks inside its minute (open, then the extreme nearer the open, the other
extreme, close) so the engines rebuild the same bar. Every file is read and checked before
anything is published: a bad row stops start-up with the file, line and column, rather than
a replay that silently differs from the data.
"""

from __future__ import annotations

import csv
import heapq
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

from shared.clock import NS, ist_day, ist_to_ns
from shared.config import Settings
from shared.contracts import Tick
from shared.errors import ConfigError, DataError
from shared.instruments import Instrument, InstrumentsMaster

log = logging.getLogger(__name__)

TICK_COLUMNS = ("timestamp", "exchange", "tradingsymbol", "last_price")
CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")
MAX_REPORTED_ERRORS = 20
_DAY_NS = 86_400 * NS
_ONE = (1,)


@dataclass(frozen=True, slots=True)
class _Row:
    ts: int
    token: int
    price: float
    qty: int
    volume_delta: int
    cumulative: int  # -1 when the row carries a cumulative volume delta instead
    oi: int


class _Errors:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.lines.append(f"{where}: {what}")

    def raise_if_any(self) -> None:
        if self.lines:
            shown = self.lines[:MAX_REPORTED_ERRORS]
            more = len(self.lines) - len(shown)
            tail = f"\n  ... and {more} more" if more else ""
            raise DataError("bad replay data:\n  " + "\n  ".join(shown) + tail)


def _parse_ts(text: str) -> int:
    return ist_to_ns(datetime.fromisoformat(text.strip()))


def _header(reader: csv.DictReader[str], path: Path, required: tuple[str, ...], errors: _Errors) -> bool:
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        errors.add(f"{path}:1", f"missing column(s) {', '.join(missing)} (expected {', '.join(required)})")
        return False
    return True


def _read_ticks(path: Path, master: InstrumentsMaster, errors: _Errors) -> list[_Row]:
    rows: list[_Row] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not _header(reader, path, TICK_COLUMNS, errors):
            return rows
        last_ts = 0
        for line, rec in enumerate(reader, start=2):
            where = f"{path}:{line}"
            try:
                ts = _parse_ts(rec["timestamp"])
                inst = master.by_symbol(rec["exchange"], rec["tradingsymbol"])
                price = float(rec["last_price"])
                qty = int(rec.get("last_quantity") or 0)
                vol = int(rec.get("volume") or 0)
                oi = int(rec.get("oi") or 0)
            except Exception as exc:  # one message per bad row, with its place
                errors.add(where, str(exc))
                continue
            if price <= 0:
                errors.add(where, f"last_price must be positive, got {price}")
            elif ts < last_ts:
                errors.add(where, "timestamp goes backwards (rows must be in time order)")
            else:
                rows.append(_Row(ts, inst.instrument_token, price, qty, 0, vol, oi))
                last_ts = ts
    return rows


def candle_path(o: float, h: float, lo: float, c: float, v: int) -> list[tuple[int, float, int]]:
    """A 1-minute candle as four ticks: (offset from the minute start in ns, price, volume).

    Open first, then the extreme nearer the open, the other, then the close: one path
    through the bar that reproduces its OHLC exactly, with the volume split across the
    four so their sum is the candle's. Shared by the replay and the live feed's back-fill
    (services/feed/sources/kite_backfill.py) so both rebuild the same bars from candles.
    """
    first, second = (h, lo) if abs(h - o) <= abs(o - lo) else (lo, h)
    prices = (o, first, second, c)
    parts = [v // 4] * 4
    parts[-1] += v - sum(parts)
    step = 15 * NS
    return [(i * step, p, parts[i]) for i, p in enumerate(prices)]


def _candle_ticks(inst: Instrument, ts: int, o: float, h: float, lo: float, c: float, v: int, oi: int) -> list[_Row]:
    return [
        _Row(ts + offset, inst.instrument_token, p, part, part, -1, oi)
        for offset, p, part in candle_path(o, h, lo, c, v)
    ]


def _read_candles(path: Path, inst: Instrument, errors: _Errors) -> list[_Row]:
    return _candle_rows(_candle_records(path, errors), inst, errors)


def _parquet_records(path: Path, errors: _Errors) -> Iterator[tuple[str, dict[str, object]]]:
    """Rows of a Parquet candle file as dicts (``date`` a timestamp or ISO text); needs pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        errors.add(str(path), "reading Parquet needs pyarrow (pip install pyarrow), or convert the file to CSV")
        return
    table = pq.read_table(path)
    missing = [c for c in CANDLE_COLUMNS if c not in table.column_names]
    if missing:
        errors.add(f"{path}", f"missing column(s) {', '.join(missing)} (expected {', '.join(CANDLE_COLUMNS)})")
        return
    for i, rec in enumerate(table.to_pylist()):
        yield f"{path}:row {i}", rec


def _candle_ts(value: object) -> int:
    if isinstance(value, datetime):
        return ist_to_ns(value)
    return _parse_ts(str(value))


Candle = tuple[int, float, float, float, float, int, int]  # ts, open, high, low, close, volume, oi


def _valid_candles(records: Iterable[tuple[str, Mapping[str, object]]], errors: _Errors) -> Iterator[Candle]:
    """The checked candles of one file (a bad row is reported with its place and skipped)."""
    last_ts = 0
    for where, rec in records:
        try:
            ts = _candle_ts(rec["date"])
            o, h, lo, c = (float(rec[k]) for k in ("open", "high", "low", "close"))  # type: ignore[arg-type]
            v = int(float(rec["volume"]))  # type: ignore[arg-type]
            oi = int(float(rec.get("oi") or 0))  # type: ignore[arg-type]
        except Exception as exc:
            errors.add(where, str(exc))
            continue
        if not (lo <= min(o, c) and max(o, c) <= h and lo > 0):
            errors.add(where, f"inconsistent candle o={o} h={h} l={lo} c={c} (need 0 < low <= open,close <= high)")
        elif v < 0:
            errors.add(where, f"volume must not be negative, got {v}")
        elif ts <= last_ts:
            errors.add(where, "candle time does not increase (rows must be in time order, one per minute)")
        else:
            yield ts, o, h, lo, c, v, oi
            last_ts = ts


def _candle_rows(records: Iterable[tuple[str, Mapping[str, object]]], inst: Instrument, errors: _Errors) -> list[_Row]:
    rows: list[_Row] = []
    for ts, o, h, lo, c, v, oi in _valid_candles(records, errors):
        rows.extend(_candle_ticks(inst, ts, o, h, lo, c, v, oi))
    return rows


def _candle_records(path: Path, errors: _Errors) -> Iterator[tuple[str, Mapping[str, object]]]:
    if path.suffix == ".parquet":
        yield from _parquet_records(path, errors)
        return
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not _header(reader, path, CANDLE_COLUMNS, errors):
            return
        for line, rec in enumerate(reader, start=2):
            yield f"{path}:{line}", rec


def _candle_paths(folder: Path) -> list[Path]:
    """Every candle file, in the order the replay merges them (ties in event time go in this order)."""
    return sorted([*(folder / "candles").glob("*/*.csv"), *(folder / "candles").glob("*/*.parquet")])


def load_candles(folder: Path) -> tuple[InstrumentsMaster, list[tuple[Instrument, list[Candle]]]]:
    """The master and each candle file's checked candles, as ``load_replay`` reads them (not turned into ticks).

    The backtester's bar path reads this; the files, their order and every check are
    ``load_replay``'s, so a file either path accepts gives both the same market. A
    ``ticks.csv`` is not read here (the bar path does not take tick data).
    """
    master = load_master(folder)
    errors = _Errors()
    out: list[tuple[Instrument, list[Candle]]] = []
    for path in _candle_paths(folder):
        try:
            inst = master.by_symbol(path.parent.name, path.stem)
        except Exception as exc:
            errors.add(str(path), f"no instrument {path.parent.name}:{path.stem} in instruments.csv ({exc})")
            continue
        out.append((inst, list(_valid_candles(_candle_records(path, errors), errors))))
    errors.raise_if_any()
    if not any(candles for _, candles in out):
        raise ConfigError(f"data.replay_path: {folder} has no candles/<EXCHANGE>/<SYMBOL>.csv")
    return master, out


def load_master(folder: Path) -> InstrumentsMaster:
    """The instruments master of a replay folder (ConfigError when the folder or the file is missing)."""
    if not folder.is_dir():
        raise ConfigError(f"data.replay_path: {folder} is not a folder (see shared/replay.py)")
    master_path = folder / "instruments.csv"
    if not master_path.exists():
        raise ConfigError(f"data.replay_path: {master_path} is missing (Kite's instruments CSV is required)")
    return InstrumentsMaster.from_csv(master_path)


def load_replay(folder: Path) -> tuple[InstrumentsMaster, list[list[_Row]]]:
    """The master and every file's rows, checked. Raises DataError listing each bad row."""
    master = load_master(folder)
    errors = _Errors()
    files: list[list[_Row]] = []
    if (folder / "ticks.csv").exists():
        files.append(_read_ticks(folder / "ticks.csv", master, errors))
    for path in _candle_paths(folder):
        try:
            inst = master.by_symbol(path.parent.name, path.stem)
        except Exception as exc:
            errors.add(str(path), f"no instrument {path.parent.name}:{path.stem} in instruments.csv ({exc})")
            continue
        files.append(_read_candles(path, inst, errors))
    errors.raise_if_any()
    if not any(files):
        raise ConfigError(f"data.replay_path: {folder} has no ticks.csv and no candles/<EXCHANGE>/<SYMBOL>.csv")
    return master, files


class ReplaySource:
    """Merges every file by event time and hands out one event-time instant at a time."""

    def __init__(self, settings: Settings) -> None:
        self._setup(Path(settings.data.replay_path or ""), settings.data.publish_batch)

    @classmethod
    def from_folder(cls, folder: Path, batch: int = 500) -> ReplaySource:
        """A source over ``folder`` without a ``Settings`` (the backtester's)."""
        source = cls.__new__(cls)
        source._setup(folder, batch)
        return source

    def _setup(self, folder: Path, batch: int) -> None:
        self.master, files = load_replay(folder)
        self._rows: Iterator[_Row] = heapq.merge(*files, key=lambda r: r.ts)
        self._pending: _Row | None = None
        self._cum: dict[int, int] = {}
        self._day = -1
        self._day_start_ns = 0
        self._new_session = False
        self._batch = batch
        log.info("replaying %s (%d files)", folder, len(files))

    @property
    def session_started(self) -> bool:
        started, self._new_session = self._new_session, False
        return started

    def _tick(self, r: _Row) -> Tick:
        inst = self.master.by_token(r.token)
        if not self._day_start_ns <= r.ts < self._day_start_ns + _DAY_NS:  # cumulative volume restarts daily
            day = ist_day(r.ts)
            self._day, self._cum, self._new_session = day.toordinal(), {}, True
            self._day_start_ns = ist_to_ns(datetime.combine(day, dtime(0, 0)))
        cum = r.cumulative if r.cumulative >= 0 else self._cum.get(r.token, 0) + r.volume_delta
        self._cum[r.token] = cum
        if inst.is_index:
            return Tick(
                ts_event=r.ts,
                instrument_token=r.token,
                exchange=inst.exchange,
                symbol=inst.tradingsymbol,
                last_price=r.price,
                last_quantity=r.qty,
                volume=cum,
                oi=r.oi,
            )
        tick = inst.tick_size or 0.05
        bid = max(round(r.price - tick, 2), tick)
        qty = (max(r.qty, 1),)
        # one level each side, a tick away from the price (the fields of ``depth``, built directly: per tick)
        return Tick(
            ts_event=r.ts,
            instrument_token=r.token,
            exchange=inst.exchange,
            symbol=inst.tradingsymbol,
            last_price=r.price,
            last_quantity=r.qty,
            volume=cum,
            oi=r.oi,
            bid_prices=(bid,),
            bid_quantities=qty,
            bid_orders=_ONE,
            ask_prices=(round(r.price + tick, 2),),
            ask_quantities=qty,
            ask_orders=_ONE,
        )

    def next_batch(self) -> list[Tick] | None:
        """All rows of the next event time (up to publish_batch)."""
        first = self._pending or next(self._rows, None)
        if first is None:
            return None
        out = [self._tick(first)]
        self._pending = None
        for r in self._rows:
            if r.ts != first.ts or len(out) >= self._batch:
                self._pending = r
                break
            out.append(self._tick(r))
        return out

    def resume_after(self, ts_ns: int) -> int:
        skipped = 0
        for r in self._rows:
            if r.ts > ts_ns:
                self._pending = r
                break
            self._tick(r)  # keeps cumulative volumes right
            skipped += 1
        return skipped

    def subscribe(self, tokens: set[int]) -> None:
        pass  # a replay streams what was recorded

    def unsubscribe(self, tokens: set[int]) -> None:
        pass

    def close(self) -> None:
        pass

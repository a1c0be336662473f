"""History: the journals and checkpoints on disk, and the recent tail of a few streams.

``JournalTail`` reads a CSV journal incrementally (from the byte offset it reached, complete
lines only), so the dashboard loads the history once at start and then picks up only what
was appended. ``load_history`` fills a ``Store`` at start-up: orders.csv, signals.csv, the
runtime checkpoint, and the newest heartbeats, position snapshots and bars still in Redis.
"""

from __future__ import annotations

import csv
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from services.dashboard.schemas import PnlPoint, StrategyPerformanceOut
from services.dashboard.store import Store
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.contracts import Bar, Heartbeat, PositionSnapshot
from shared.errors import DataError, DecodeError
from shared.performance import StrategyPerformance
from shared.state.checkpoint import CheckpointError, read_checkpoint_or_backup
from shared.state.formats import (
    ORDERS_COLUMNS,
    PNL_COLUMNS,
    SIGNALS_COLUMNS,
    PnlRecord,
    parse_order_row,
    parse_pnl_row,
    parse_signal_row,
)
from shared.state.paths import StatePaths

log = logging.getLogger(__name__)

T = TypeVar("T")
CURVE_POINTS = 2_000  # per strategy, for the performance chart
SEED_HEALTH = 2_000  # newest heartbeats read at start
SEED_BARS = 50_000  # newest bars read at start


class JournalTail(Generic[T]):
    """The rows appended to a CSV journal since the last ``poll`` (a bad row is logged and skipped)."""

    def __init__(
        self, path: Path, columns: Sequence[str], parse: Callable[[str, int, Mapping[str, str]], T]
    ) -> None:
        self.path = path
        self.columns = list(columns)
        self.parse = parse
        self.offset = 0
        self.line = 0
        self.bad_rows = 0

    def poll(self) -> list[T]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # replaced or truncated: start again
            log.warning("%s shrank (%d < %d bytes): reading it again", self.path, size, self.offset)
            self.offset = self.line = 0
        if size == self.offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return []  # only a line in progress
        self.offset += end + 1
        lines = data[: end + 1].decode("utf-8", errors="replace").splitlines()
        if self.line == 0 and lines:
            header, lines = lines[0], lines[1:]
            self.line = 1
            if next(csv.reader([header]), []) != self.columns:
                log.error("%s:1: unexpected header %r; expected %s", self.path, header, ",".join(self.columns))
        out: list[T] = []
        for rec in csv.reader(lines):
            self.line += 1
            if not rec:
                continue
            try:
                if len(rec) != len(self.columns):
                    raise DataError(f"{self.path}:{self.line}: expected {len(self.columns)} fields, got {len(rec)}")
                out.append(self.parse(str(self.path), self.line, dict(zip(self.columns, rec, strict=True))))
            except DataError as exc:
                self.bad_rows += 1
                log.warning("skipping a bad journal row: %s", exc)
        return out


class PerformanceBook:
    """Per-strategy figures over every trade in pnl.csv, updated as rows are appended."""

    def __init__(self, path: Path) -> None:
        self.tail: JournalTail[PnlRecord] = JournalTail(path, PNL_COLUMNS, parse_pnl_row)
        self.by_strategy: dict[str, StrategyPerformance] = {}
        self.curves: dict[str, deque[PnlPoint]] = {}
        self.trades = 0

    def refresh(self) -> int:
        """Read new trades; returns how many."""
        new = self.tail.poll()
        for trade in new:
            perf = self.by_strategy.get(trade.strategy)
            if perf is None:
                perf = self.by_strategy[trade.strategy] = StrategyPerformance(trade.strategy)
                self.curves[trade.strategy] = deque(maxlen=CURVE_POINTS)
            perf.add(trade)
            self.curves[trade.strategy].append(PnlPoint(ts_ns=trade.ts_ns, net_pnl=perf.net_pnl))
        self.trades += len(new)
        return len(new)

    def rows(self) -> list[StrategyPerformanceOut]:
        return [to_out(p, list(self.curves.get(name, ()))) for name, p in sorted(self.by_strategy.items())]


def to_out(p: StrategyPerformance, curve: list[PnlPoint]) -> StrategyPerformanceOut:
    return StrategyPerformanceOut(
        strategy=p.strategy, trades=p.trades, wins=p.wins, losses=p.losses, win_rate=p.win_rate,
        gross_pnl=p.gross_pnl, net_pnl=p.net_pnl, charges=p.charges, largest_win=p.largest_win,
        largest_loss=p.largest_loss, profit_factor=p.profit_factor, max_drawdown=p.max_drawdown, curve=curve,
    )  # fmt: skip


class History:
    """The journals the dashboard follows, and the start-up load."""

    def __init__(self, paths: StatePaths, store: Store) -> None:
        self.paths = paths
        self.store = store
        self.orders = JournalTail(paths.orders_csv, ORDERS_COLUMNS, parse_order_row)
        self.signals = JournalTail(paths.signals_csv, SIGNALS_COLUMNS, parse_signal_row)
        self.performance = PerformanceBook(paths.pnl_csv)

    def load_journals(self) -> tuple[int, int]:
        """Apply what was appended to orders.csv and signals.csv; returns (order rows, signal rows)."""
        orders = self.orders.poll()
        for row in orders:
            self.store.on_order_row(row)
        signals = self.signals.poll()
        for srow in signals:
            self.store.on_signal_row(srow)
        return len(orders), len(signals)

    def load_checkpoint(self) -> bool:
        for kind in ("runtime", "paper", "live"):
            try:
                data, used = read_checkpoint_or_backup(self.paths.checkpoint(kind))
            except CheckpointError as exc:
                log.error("%s", exc)
                continue
            if data is not None:
                self.store.on_checkpoint(data)
                log.info("book and session state from %s", used)
                return True
        return False

    def load_recent_streams(self, bus: Bus) -> None:
        """The newest heartbeats, position snapshots and bars still on their streams."""
        r = bus.redis
        now = wall_ns()
        for _, fields in reversed(r.xrevrange(streams.HEALTH, count=SEED_HEALTH)):
            msg = _decode(fields)
            if isinstance(msg, Heartbeat):
                # Received "now" would make an old heartbeat look fresh: age it by its own time.
                self.store.on_heartbeat(msg, min(now, msg.ts_init or msg.ts_event))
        for _, fields in reversed(r.xrevrange(streams.POSITIONS, count=self.store.cfg.equity_points)):
            msg = _decode(fields)
            if isinstance(msg, PositionSnapshot):
                self.store.on_snapshot(msg)
        for _, fields in reversed(r.xrevrange(streams.BARS, count=SEED_BARS)):
            msg = _decode(fields)
            if isinstance(msg, Bar):
                self.store.on_bar(msg)

    def load(self, bus: Bus) -> None:
        self.load_checkpoint()
        n_orders, n_signals = self.load_journals()
        self.performance.refresh()
        self.load_recent_streams(bus)
        log.info(
            "history: %d order rows, %d signal rows, %d trades, store %s",
            n_orders, n_signals, self.performance.trades, self.store.sizes(),
        )  # fmt: skip


def _decode(fields: dict[bytes, bytes]) -> object:
    try:
        return codec.decode(fields)
    except DecodeError:
        return None

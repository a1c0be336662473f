"""Durable state: journals, checkpoints, the scanner's universe file, and rebuilding from them.

Files (under the artifacts directory; the seed's layout and formats, see docs/state.md):

- ``orders.csv``, ``signals.csv``, ``pnl.csv``: append-only journals (``journal.py``);
- ``logs/events.jsonl``: the event log (``journal.EventLog``);
- ``checkpoints/{paper,live,runtime}_state_latest.json``: atomic snapshots (``checkpoint.py``);
- ``scanner/YYYY-MM-DD/universe.json``: the day's universe (``scanner.py``).

``recovery.rebuild_from_journal`` rebuilds positions, PnL, charges, cash and open orders
from orders.csv alone. File I/O happens only in the explicit write/read functions here.
"""

from shared.state.appendfile import JournalLockedError
from shared.state.checkpoint import (
    CheckpointError,
    build_state_checkpoint,
    check_state_checkpoint,
    read_checkpoint,
    read_checkpoint_or_backup,
    write_checkpoint,
)
from shared.state.formats import ORDERS_COLUMNS, PNL_COLUMNS, SIGNALS_COLUMNS, OrderRow, PnlRecord, SignalRow
from shared.state.journal import (
    CsvJournal,
    EventLog,
    OrdersJournal,
    PnlJournal,
    SignalsJournal,
    read_events,
    read_orders,
    read_pnl,
    read_signals,
)
from shared.state.paths import StatePaths
from shared.state.recovery import OrderState, RebuiltState, rebuild_from_journal
from shared.state.scanner import Universe, UniverseEntry, load_universe, universe_meta, write_universe
from shared.state.trades import StrategyStats, TradeBook

__all__ = [
    "ORDERS_COLUMNS",
    "PNL_COLUMNS",
    "SIGNALS_COLUMNS",
    "CheckpointError",
    "CsvJournal",
    "EventLog",
    "JournalLockedError",
    "OrderRow",
    "OrderState",
    "OrdersJournal",
    "PnlJournal",
    "PnlRecord",
    "RebuiltState",
    "SignalRow",
    "SignalsJournal",
    "StatePaths",
    "StrategyStats",
    "TradeBook",
    "Universe",
    "UniverseEntry",
    "build_state_checkpoint",
    "check_state_checkpoint",
    "load_universe",
    "read_checkpoint",
    "read_checkpoint_or_backup",
    "read_events",
    "read_orders",
    "read_pnl",
    "read_signals",
    "rebuild_from_journal",
    "universe_meta",
    "write_checkpoint",
    "write_universe",
]

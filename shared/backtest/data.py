"""Market data for a backtest: a folder in the replay layout, read by the feed's own ``ReplaySource``.

The same source turns candles into ticks for the ``replay`` feed of a paper session and for
the backtester (four ticks a minute: open, the nearer extreme, the other, close; a one-tick
spread of depth around each), so both see identical ticks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from shared.contracts import Tick
from shared.errors import ConfigError
from shared.instruments import InstrumentsMaster
from shared.replay import ReplaySource
from shared.runtime.engine_service import session_bounds


class HistoryData:
    """The instruments master and the event-time ordered ticks of ``folder`` between two IST days."""

    def __init__(self, folder: str | Path, start: date | None = None, end: date | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(
                f"backtest.data_path: {self.folder} is not a folder; write simulated history with "
                f"`python -m scripts.run_trader backtest-data --out {self.folder}` or see docs/backtesting.md"
            )
        if start and end and end < start:
            raise ConfigError(f"backtest: --to {end} is before --from {start}")
        self.start, self.end = start, end
        self.source = ReplaySource.from_folder(self.folder, batch=10_000)
        self.master: InstrumentsMaster = self.source.master

    def ticks(self) -> Iterator[Tick]:
        """Every tick from ``start`` (00:00 IST) to the end of ``end``, in event-time order."""
        source = self.source
        if self.start is not None:
            source.resume_after(session_bounds(self.start - timedelta(days=1))[1] - 1)
        stop = session_bounds(self.end)[1] if self.end is not None else 1 << 62
        while True:
            batch = source.next_batch()
            if batch is None:
                return
            for tick in batch:
                if tick.ts_event >= stop:
                    return
                yield tick

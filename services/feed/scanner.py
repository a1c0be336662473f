"""The pre-session scanner: the day's tradable universe, written before the first tick.

The feed runs it at the start of every session, right after it publishes the day's
instruments master, so ``artifacts/scanner/<day>/universe.json`` (the seed's format, plus an
``equity`` list) is there before any engine sees a tick of that day. The feed is its only
writer. F&O names resolve to their current-month future (rolling before expiry); the equity
list is the NIFTY 50/100 universe filtered by ``min_price`` and capped at ``max_symbols``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shared.config import ROOT, Settings
from shared.errors import DataError, InstrumentError
from shared.instruments import InstrumentsMaster
from shared.state.scanner import universe_meta, write_universe
from shared.universe import load_equity_universe

log = logging.getLogger(__name__)


def run_scanner(settings: Settings, master: InstrumentsMaster, day_iso: str, ts_event: int) -> Path | None:
    """Write the day's universe.json; None (logged) if the master lacks what the config names."""
    from datetime import date

    day = date.fromisoformat(day_iso)
    cfg = settings.trading.equity_universe_config
    path = Path(cfg.path)
    fno: list[str] = []
    for name in settings.trading.fno_universe:
        try:
            master.futures(name)
            fno.append(name)
        except InstrumentError as exc:
            log.warning("scanner: skipping %s: %s", name, exc)
    try:
        meta = universe_meta(master, fno, day)
        equity = load_equity_universe(
            path if path.is_absolute() else ROOT / path,
            include_indices=tuple(cfg.include_indices),
            min_price=cfg.min_price,
            max_symbols=cfg.max_symbols,
            master=master,
        )
    except (InstrumentError, DataError) as exc:
        log.error("scanner for %s failed: %s", day, exc)
        return None
    out = write_universe(settings.artifacts, day, fno, meta, ts_event, equity=equity)
    log.info("scanner: %s (%d F&O, %d equities)", out, len(fno), len(equity))
    return out

"""The equity universe: NIFTY 50 / NIFTY 100 stocks from ``configs/universe_equity.csv``.

The file has one row per stock, ``tradingsymbol,name,index``, where ``index`` is
``NIFTY50`` for a NIFTY 50 member and ``NIFTY100`` for the other 50 members of the
NIFTY 100 (NIFTY 100 = NIFTY 50 + NIFTY NEXT 50). Asking for ``NIFTY100`` therefore
includes the ``NIFTY50`` rows too.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from shared.errors import DataError, InstrumentError
from shared.instruments import InstrumentsMaster

log = logging.getLogger(__name__)

UNIVERSE_COLUMNS: Final = ("tradingsymbol", "name", "index")
INDEX_TAGS: Final = ("NIFTY50", "NIFTY100")


def _wanted_tags(include_indices: Sequence[str]) -> set[str]:
    bad = [t for t in include_indices if t not in INDEX_TAGS]
    if bad:
        raise DataError(f"include_indices: unknown index {', '.join(map(repr, bad))} (expected NIFTY50 or NIFTY100)")
    tags = set(include_indices)
    if "NIFTY100" in tags:
        tags.add("NIFTY50")  # NIFTY 100 contains NIFTY 50
    return tags


def read_universe_rows(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """Every ``(tradingsymbol, name, index)`` row, checked; a bad row raises DataError with file:line."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{p}: cannot read the equity universe ({exc.strerror})") from exc
    rows: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    with fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header) != UNIVERSE_COLUMNS:
            raise DataError(f"{p}:1: header must be {','.join(UNIVERSE_COLUMNS)}, got {','.join(header) or 'nothing'}")
        for rec in reader:
            line = reader.line_num
            if not rec or not any(f.strip() for f in rec):
                continue
            if len(rec) != len(UNIVERSE_COLUMNS):
                raise DataError(f"{p}:{line}: expected {len(UNIVERSE_COLUMNS)} fields, got {len(rec)}")
            symbol, name, index = (f.strip() for f in rec)
            if not symbol:
                raise DataError(f"{p}:{line}: column 'tradingsymbol': expected a symbol, got ''")
            if index not in INDEX_TAGS:
                raise DataError(f"{p}:{line}: column 'index': expected NIFTY50 or NIFTY100, got {index!r}")
            if symbol in seen:
                raise DataError(f"{p}:{line}: {symbol} is listed twice (first on line {seen[symbol]})")
            seen[symbol] = line
            rows.append((symbol, name, index))
    return rows


def load_equity_universe(
    path: str | os.PathLike[str],
    include_indices: Sequence[str] = INDEX_TAGS,
    min_price: float = 100.0,
    max_symbols: int = 120,
    master: InstrumentsMaster | None = None,
) -> list[str]:
    """The tradingsymbols to trade, in file order, at most ``max_symbols``.

    With a ``master``: symbols not listed on NSE in it are dropped (with a warning: a
    rename such as a demerger), and so are those whose ``last_price`` is below
    ``min_price``. A ``last_price`` of 0 means unknown (Kite's morning dump) and keeps the
    symbol. Without a master no price filter applies.
    """
    tags = _wanted_tags(include_indices)
    out: list[str] = []
    for symbol, _name, index in read_universe_rows(path):
        if index not in tags:
            continue
        if master is not None:
            try:
                inst = master.by_symbol("NSE", symbol)
            except InstrumentError:
                log.warning("universe %s: %s is not in the instruments master; skipped", path, symbol)
                continue
            if 0 < inst.last_price < min_price:
                continue
        out.append(symbol)
        if len(out) >= max_symbols:
            break
    return out

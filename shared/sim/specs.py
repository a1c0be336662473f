"""The simulator's seed data: index contract specs and the equities it trades.

These constants are what the simulator *writes* into its instruments master (lot sizes,
strike steps, tick sizes). Everything else in the project reads them from the master.
Lots follow NSE's revision effective with the Jan 2026 series (reference/kite-and-nse.md
§2.3); levels and vols are approximate late-2025 values.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.errors import DataError

EQUITIES_CSV: Final = Path(__file__).with_name("equities.csv")

RISK_FREE_RATE: Final = 0.06  # annual, continuously compounded: the futures' cost of carry
FNO_TICK: Final = 0.05
EQUITY_TICK: Final = 0.05
SMALL_EQUITY_TICK: Final = 0.01  # NSE: stocks priced under ₹250 tick in paise
SMALL_TICK_BELOW: Final = 250.0
EQUITY_LOT: Final = 1
INDEX_PRICE_GRID: Final = 0.05  # index values are published on this grid (the master's tick_size is 0)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index underlying and its derivatives."""

    name: str  # logical name and the F&O ``name`` column: NIFTY
    index_symbol: str  # the index's tradingsymbol in Kite's dump: NIFTY 50
    instrument_token: int  # Kite's real index token (segment 9)
    code: int  # 0..3, part of the simulator's F&O tokens; never reuse one
    level: float  # starting level
    annual_vol: float  # realised vol of the spot path
    atm_iv: float  # implied vol at the money, for option prices
    beta: float  # to the market factor (NIFTY = 1)
    lot_size: int
    strike_step: float
    weekly: bool  # lists weekly options (only NIFTY since Nov 2024)


INDEX_SPECS: Final[dict[str, IndexSpec]] = {
    s.name: s
    for s in (
        IndexSpec("NIFTY", "NIFTY 50", 256265, 0, 25900.0, 0.12, 0.125, 1.0, 65, 50.0, True),
        IndexSpec("BANKNIFTY", "NIFTY BANK", 260105, 1, 58500.0, 0.14, 0.135, 1.05, 30, 100.0, False),
        IndexSpec("FINNIFTY", "NIFTY FIN SERVICE", 257801, 2, 27400.0, 0.14, 0.13, 1.05, 60, 50.0, False),
    )
}


@dataclass(frozen=True, slots=True)
class EquitySpec:
    """One stock: symbol, its (synthetic, stable) NSE exchange token, level and risk."""

    tradingsymbol: str
    name: str
    exchange_token: int
    price: float
    beta: float  # to NIFTY
    daily_vol: float  # total daily return s.d. (0.015 = 1.5%)


_EQUITY_COLUMNS: Final = ("tradingsymbol", "name", "exchange_token", "price", "beta", "daily_vol")


@functools.cache
def load_equity_specs(path: Path = EQUITIES_CSV) -> tuple[EquitySpec, ...]:
    """Read ``equities.csv`` (checked: a bad row raises DataError with file:line and column).

    Exchange tokens there are the simulator's own, not NSE's: stable per symbol, so a
    token means the same stock on every simulated day.
    """
    out: list[EquitySpec] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if tuple(header) != _EQUITY_COLUMNS:
            raise DataError(f"{path}:1: header must be {','.join(_EQUITY_COLUMNS)}, got {','.join(header)}")
        for rec in reader:
            line = reader.line_num
            if len(rec) != len(_EQUITY_COLUMNS):
                raise DataError(f"{path}:{line}: expected {len(_EQUITY_COLUMNS)} fields, got {len(rec)}")
            col = "exchange_token"
            try:
                token = int(rec[2])
                col = "price"
                price = float(rec[3])
                col = "beta"
                beta = float(rec[4])
                col = "daily_vol"
                vol = float(rec[5])
            except ValueError:
                got = rec[_EQUITY_COLUMNS.index(col)]
                raise DataError(f"{path}:{line}: column {col!r}: expected a number, got {got!r}") from None
            if price <= 0 or vol <= 0:
                raise DataError(f"{path}:{line}: price and daily_vol must be positive")
            out.append(EquitySpec(rec[0], rec[1], token, price, beta, vol))
    tokens = [e.exchange_token for e in out]
    if len(set(tokens)) != len(tokens):
        raise DataError(f"{path}: exchange_token values must be unique")
    return tuple(out)

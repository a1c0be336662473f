"""The day's universe file, ``scanner/YYYY-MM-DD/universe.json``, in the seed's format::

    {"date": "2025-11-17", "asof": "2025-11-17T08:00:00Z",
     "fno": ["NIFTY", "BANKNIFTY", "FINNIFTY"],
     "meta": {"NIFTY": {"tradingsymbol": "NIFTY25JANFUT", "instrument_token": 12345678, "lot_size": 50}},
     "equity": ["RELIANCE", "TCS"]}

``meta`` maps each logical F&O name to the future traded that day; its lot size and token come
from the instruments master (``universe_meta``), never from constants. ``equity`` (the equity
tradingsymbols) is our addition and optional. Written atomically; one writer (the scanner).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from shared.errors import DataError
from shared.instruments import InstrumentsMaster
from shared.state.checkpoint import atomic_write_bytes
from shared.state.paths import StatePaths
from shared.state.timefmt import format_ts, parse_ts


@dataclass(frozen=True, slots=True)
class UniverseEntry:
    """``meta.<NAME>``: the contract traded for a logical name."""

    tradingsymbol: str
    instrument_token: int
    lot_size: int


@dataclass(frozen=True, slots=True)
class Universe:
    """A parsed universe.json."""

    date: date
    asof_ns: int
    fno: tuple[str, ...]
    meta: Mapping[str, UniverseEntry]
    equity: tuple[str, ...] | None = None


def universe_meta(
    master: InstrumentsMaster, names: Sequence[str], day: date, roll_days_before_expiry: int = 1
) -> dict[str, UniverseEntry]:
    """``meta`` for F&O names: each one's current-month future on ``day`` (``master.future``)."""
    out: dict[str, UniverseEntry] = {}
    for name in names:
        inst = master.future(name, day, roll_days_before_expiry)
        out[name] = UniverseEntry(inst.tradingsymbol, inst.instrument_token, inst.lot_size)
    return out


def write_universe(
    artifacts: str | os.PathLike[str],
    day: date,
    fno: Sequence[str],
    meta: Mapping[str, UniverseEntry],
    asof_ns: int,
    *,
    equity: Sequence[str] | None = None,
) -> Path:
    """Write ``scanner/<day>/universe.json`` under ``artifacts``; returns its path.

    Every name in ``fno`` needs a ``meta`` entry and every entry a name in ``fno``.
    """
    missing = [n for n in fno if n not in meta]
    unknown = [n for n in meta if n not in fno]
    if missing or unknown or len(set(fno)) != len(fno):
        raise ValueError(
            f"write_universe {day}: fno {list(fno)} and meta {sorted(meta)} must name the same instruments "
            f"once each (no meta: {missing}; meta not in fno: {unknown})"
        )
    for name, entry in meta.items():
        if entry.lot_size <= 0 or entry.instrument_token <= 0 or not entry.tradingsymbol:
            raise ValueError(f"write_universe {day}: meta {name} = {entry}; expected a symbol, token > 0, lot > 0")
    data: dict[str, Any] = {
        "date": day.isoformat(),
        "asof": format_ts(asof_ns),
        "fno": list(fno),
        "meta": {
            name: {"tradingsymbol": e.tradingsymbol, "instrument_token": e.instrument_token, "lot_size": e.lot_size}
            for name, e in meta.items()
        },
    }
    if equity is not None:
        data["equity"] = list(equity)
    path = StatePaths(Path(artifacts)).universe_json(day)
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path


def _fail(path: Path, key: str, expected: str, value: object) -> DataError:
    return DataError(f"{path}: key {key!r}: expected {expected}, got {value!r}")


def _names(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, key, "a list of names", value)
    return tuple(value)


def _entry(path: Path, name: str, raw: object) -> UniverseEntry:
    if not isinstance(raw, dict):
        raise _fail(path, f"meta.{name}", "an object", raw)
    symbol, token, lot = raw.get("tradingsymbol"), raw.get("instrument_token"), raw.get("lot_size")
    if not isinstance(symbol, str) or not symbol:
        raise _fail(path, f"meta.{name}.tradingsymbol", "a tradingsymbol", symbol)
    for key, value in (("instrument_token", token), ("lot_size", lot)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _fail(path, f"meta.{name}.{key}", "a positive integer", value)
    assert isinstance(token, int) and isinstance(lot, int)
    return UniverseEntry(symbol, token, lot)


def load_universe(artifacts: str | os.PathLike[str], day: date) -> Universe | None:
    """The universe.json of ``day``; None if the scanner wrote none; ``DataError`` if it is bad.

    Files in the seed's format load even when ``meta`` lacks some ``fno`` names.
    """
    path = StatePaths(Path(artifacts)).universe_json(day)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("date") != day.isoformat():
        raise _fail(path, "date", day.isoformat(), data.get("date"))
    try:
        asof_ns = parse_ts(str(data.get("asof")))
    except ValueError:
        raise _fail(path, "asof", "an ISO UTC time like 2025-11-17T08:00:00Z", data.get("asof")) from None
    meta_raw = data.get("meta", {})
    if not isinstance(meta_raw, dict):
        raise _fail(path, "meta", "an object", meta_raw)
    fno = _names(path, "fno", data.get("fno"))
    equity = _names(path, "equity", data["equity"]) if "equity" in data else None
    return Universe(
        date=day,
        asof_ns=asof_ns,
        fno=fno,
        meta={name: _entry(path, name, raw) for name, raw in meta_raw.items()},
        equity=equity,
    )

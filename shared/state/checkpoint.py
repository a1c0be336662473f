"""Checkpoints: atomic JSON snapshots of the book in the seed's structure, with a backup.

Writing (``write_checkpoint``): the JSON goes to a temporary file in the same directory,
is fsynced, replaces the checkpoint with ``os.replace`` and the directory is fsynced, so a
reader sees the old file or the new one, never a mix. Before that, the current checkpoint,
if it parses, becomes ``<name>.bak`` (a hard link swapped in atomically): the ``.bak`` is
always the previous *good* checkpoint. A current file that does not parse is moved aside to
``<name>.corrupt`` (never rotated into ``.bak``) and an error is logged.

Reading (``read_checkpoint``): None when there is none; a corrupt file raises
``CheckpointError`` naming it, where it broke and the ``.bak`` to fall back on. It never
falls back silently: ``read_checkpoint_or_backup`` does, and says which file it used.
The journals stay the record of truth for positions and PnL (``recovery.py``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final

import msgspec

from shared.brokers.positions import Portfolio
from shared.errors import DataError
from shared.state.recovery import OrderState
from shared.state.timefmt import format_ts, parse_ts
from shared.state.trades import StrategyStats

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
SEED_KEYS: Final = ("mode", "equity", "positions", "open_orders", "strategies", "universe", "last_heartbeat_ts")
EQUITY_SEED_KEYS: Final = ("paper_capital", "cash", "realized_pnl", "unrealized_pnl", "day_pnl")
POSITION_SEED_KEYS: Final = ("symbol", "quantity", "avg_price", "realized_pnl")
STRATEGY_SEED_KEYS: Final = ("day_pnl", "open_trades", "win_trades", "loss_trades")


class CheckpointError(DataError):
    """A checkpoint file is unreadable, not JSON, or not the expected structure."""


# -- files ---------------------------------------------------------------------------------


def backup_path(path: str | os.PathLike[str]) -> Path:
    """``<name>.bak``: the previous good checkpoint."""
    p = Path(path)
    return p.with_name(p.name + ".bak")


def corrupt_path(path: str | os.PathLike[str]) -> Path:
    """``<name>.corrupt``: where a checkpoint that failed to parse is moved before a new write."""
    p = Path(path)
    return p.with_name(p.name + ".corrupt")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename, fsync dir)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


#: The checkpoints this process wrote, by path: (inode, size, mtime). A file still matching is
#: known good (we wrote it whole and fsynced it), so rotating it needs no re-parse; a checkpoint
#: is written after every batch that changed state, and parsing the old one was a third of it.
_WRITTEN: dict[Path, tuple[int, int, int]] = {}


def _file_id(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _rotate_backup(target: Path) -> None:
    """Make the current checkpoint the ``.bak``, unless it is corrupt (then move it aside)."""
    current = _file_id(target)
    if current is None:
        return
    try:
        if _WRITTEN.get(target) != current:  # not the file we wrote last: check it parses
            _load(target)
    except FileNotFoundError:
        return
    except CheckpointError as exc:
        aside = corrupt_path(target)
        os.replace(target, aside)
        log.error("%s; moved it to %s and kept %s as the last good checkpoint", exc, aside, backup_path(target))
        return
    bak = backup_path(target)
    tmp = target.with_name(f".{bak.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(target, tmp)
    except OSError:  # a filesystem without hard links
        shutil.copy2(target, tmp)
    os.replace(tmp, bak)


def write_checkpoint(path: str | os.PathLike[str], data: Mapping[str, Any], *, compact: bool = False) -> None:
    """Write ``data`` as the checkpoint at ``path`` (atomic; the previous good one becomes ``.bak``).

    ``encode_checkpoint`` then ``store_checkpoint``; a service loop encodes on its own thread
    (a consistent snapshot) and stores on its ``DurableWriter``'s.
    """
    store_checkpoint(path, encode_checkpoint(path, data, compact=compact))


def encode_checkpoint(path: str | os.PathLike[str], data: Mapping[str, Any], *, compact: bool = False) -> bytes:
    """The bytes of checkpoint ``data`` (``path`` only names the file in errors).

    By default indented JSON, refusing NaN and infinity; ``compact=True`` (an engine's state,
    written while ticks wait) is one line and skips the NaN check: msgspec would write NaN as
    null, so the caller must have none (``dump_slots`` turns them into None). Both encode with
    msgspec (about 10x faster than ``json.dumps(indent=2)``): a service writes its checkpoint
    after every batch that changed its state.
    """
    try:
        if not compact:
            _refuse_non_finite(data)
        raw = msgspec.json.encode(data)
        if not compact:
            raw = msgspec.json.format(raw, indent=2)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise ValueError(f"{path}: checkpoint data is not JSON-serialisable: {exc}") from None
    return raw + b"\n"


def store_checkpoint(path: str | os.PathLike[str], raw: bytes) -> None:
    """Write encoded checkpoint bytes at ``path``: the current good file -> ``.bak``, then atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _rotate_backup(target)
    atomic_write_bytes(target, raw)
    written = _file_id(target)
    if written is not None:
        _WRITTEN[target] = written


#: A msgpack float64 (0xcb) whose exponent bits are all ones: NaN or +-infinity. Such bytes
#: cannot occur inside UTF-8 text; inside a big integer they can, so a match is confirmed by a walk.
_NON_FINITE_MSGPACK: Final = re.compile(rb"\xcb[\x7f\xff][\xf0-\xff]")


def _refuse_non_finite(data: Any) -> None:
    """ValueError if ``data`` holds a NaN or an infinity (JSON has neither; msgspec writes null).

    Screened on the msgpack encoding (C speed, ~10x faster than walking the objects)."""
    try:
        packed = msgspec.msgpack.encode(data)
    except (TypeError, msgspec.EncodeError):
        packed = b"\xcb\x7f\xf0"  # not encodable as is: let the walk and the JSON encoder say why
    if _NON_FINITE_MSGPACK.search(packed) is None:
        return
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"Out of range float values are not JSON compliant: {item!r}")
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _load(path: Path) -> dict[str, Any]:
    """Parse a checkpoint; FileNotFoundError when absent, CheckpointError when corrupt."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{path}:{exc.lineno}:{exc.colno}: corrupt checkpoint, not valid JSON ({exc.msg}; {len(raw)} bytes)"
        ) from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: corrupt checkpoint, not UTF-8 text") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint, expected a JSON object, got {type(data).__name__}")
    return data


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint at ``path``; None when there is none; ``CheckpointError`` when corrupt."""
    p = Path(path)
    try:
        return _load(p)
    except FileNotFoundError:
        return None
    except CheckpointError as exc:
        bak = backup_path(p)
        hint = f"the previous good checkpoint is {bak}" if bak.exists() else f"there is no backup ({bak})"
        raise CheckpointError(f"{exc}; {hint}") from None


def read_checkpoint_or_backup(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, Path | None]:
    """``(data, file used)``: the checkpoint, or its ``.bak`` when it is corrupt (logged).

    ``(None, None)`` when there is no checkpoint. Raises ``CheckpointError`` when both the
    checkpoint and its backup are unusable.
    """
    p = Path(path)
    try:
        return _load(p), p
    except FileNotFoundError:
        return None, None
    except CheckpointError as exc:
        bak = backup_path(p)
        try:
            data = _load(bak)
        except FileNotFoundError:
            raise CheckpointError(f"{exc}; and there is no backup ({bak})") from None
        except CheckpointError as bak_exc:
            raise CheckpointError(f"{exc}; and the backup is unusable too: {bak_exc}") from None
        log.error("%s; using the previous good checkpoint %s", exc, bak)
        return data, bak


# -- the seed's structure ------------------------------------------------------------------


def build_state_checkpoint(
    *,
    mode: str,
    portfolio: Portfolio,
    last_heartbeat_ns: int,
    paper_capital: float | None = None,
    day_pnl: float | None = None,
    open_orders: Iterable[OrderState | Mapping[str, Any]] = (),
    strategies: Mapping[str, StrategyStats] | None = None,
    universe_date: date | None = None,
    fno: Sequence[str] = (),
    equity_universe: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A checkpoint in the seed's structure (every seed key with its seed meaning), plus a few keys.

    ``equity.cash`` is the seed's cash: capital + realized PnL - charges (open positions at
    cost, no notional debited; futures and MIS are margin products). ``ledger_cash`` is
    ``Portfolio.cash`` (notional debited). ``day_pnl`` defaults to the portfolio's net PnL
    (realized + unrealized - charges), right for a book that starts each day flat.
    ``extra`` adds top-level keys (risk state, service heartbeats); it cannot replace ours.
    """
    capital = portfolio.starting_capital if paper_capital is None else paper_capital
    realized = portfolio.realized_pnl
    unrealized = portfolio.unrealized_pnl
    charges = portfolio.total_charges
    data: dict[str, Any] = {
        "mode": mode,
        "equity": {
            "paper_capital": capital,
            "cash": capital + realized - charges,
            "realized_pnl": realized,
            "unrealized_pnl": unrealized,
            "day_pnl": portfolio.net_pnl if day_pnl is None else day_pnl,
            "charges": charges,
            "ledger_cash": portfolio.cash,
            "total_equity": capital + realized + unrealized - charges,
        },
        "positions": [
            {
                "symbol": p.symbol,
                "quantity": p.quantity,
                "avg_price": p.avg_price,
                "realized_pnl": p.realized_pnl,
                "product": p.product.value,
                "exchange": p.exchange,
                "last_price": p.last_price,
                "unrealized_pnl": p.unrealized_pnl,
                "charges": p.charges,
            }
            for p in sorted(portfolio.positions.values(), key=lambda p: (p.symbol, p.product.value))
        ],
        "open_orders": [o.to_dict() if isinstance(o, OrderState) else dict(o) for o in open_orders],
        "strategies": {name: s.seed_dict() for name, s in (strategies or {}).items()},
        "universe": {"date": universe_date.isoformat() if universe_date else "", "fno": list(fno)},
        "last_heartbeat_ts": format_ts(last_heartbeat_ns),
        "schema_version": SCHEMA_VERSION,
    }
    if equity_universe is not None:
        data["universe"]["equity"] = list(equity_universe)
    for key, value in (extra or {}).items():
        if key in data:
            raise ValueError(f"build_state_checkpoint: extra key {key!r} would replace a checkpoint key")
        data[key] = value
    return data


def _expect(cond: bool, source: str, key: str, expected: str, value: object) -> None:
    if not cond:
        raise CheckpointError(f"{source}: key {key!r}: expected {expected}, got {value!r}")


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_positions(positions: object, source: str) -> None:
    _expect(isinstance(positions, list), source, "positions", "a list", positions)
    assert isinstance(positions, list)
    for i, pos in enumerate(positions):
        _expect(isinstance(pos, dict), source, f"positions[{i}]", "an object", pos)
        for key in POSITION_SEED_KEYS:
            value = pos.get(key)
            if key == "symbol":
                _expect(isinstance(value, str) and value != "", source, f"positions[{i}].symbol", "a symbol", value)
            elif key == "quantity":
                ok = isinstance(value, int) and not isinstance(value, bool)
                _expect(ok, source, f"positions[{i}].quantity", "an integer", value)
            else:
                _expect(_is_num(value), source, f"positions[{i}].{key}", "a number", value)


def _check_strategies(strategies: object, source: str) -> None:
    _expect(isinstance(strategies, dict), source, "strategies", "an object", strategies)
    assert isinstance(strategies, dict)
    for name, block in strategies.items():
        _expect(isinstance(block, dict), source, f"strategies.{name}", "an object", block)
        for key in STRATEGY_SEED_KEYS:
            _expect(_is_num(block.get(key)), source, f"strategies.{name}.{key}", "a number", block.get(key))


def check_state_checkpoint(data: Mapping[str, Any], source: str = "<checkpoint>") -> None:
    """Check the seed keys and their types; ``CheckpointError`` names ``source`` and the key."""
    for key in SEED_KEYS:
        _expect(key in data, source, key, "present (a seed key)", None)
    _expect(isinstance(data["mode"], str), source, "mode", "a string", data["mode"])
    equity = data["equity"]
    _expect(isinstance(equity, dict), source, "equity", "an object", equity)
    for key in EQUITY_SEED_KEYS:
        _expect(_is_num(equity.get(key)), source, f"equity.{key}", "a number", equity.get(key))
    _check_positions(data["positions"], source)
    _expect(isinstance(data["open_orders"], list), source, "open_orders", "a list", data["open_orders"])
    _check_strategies(data["strategies"], source)
    universe = data["universe"]
    _expect(isinstance(universe, dict), source, "universe", "an object", universe)
    _expect(isinstance(universe.get("date"), str), source, "universe.date", "YYYY-MM-DD or ''", universe.get("date"))
    fno = universe.get("fno")
    _expect(isinstance(fno, list) and all(isinstance(s, str) for s in fno), source, "universe.fno", "names", fno)
    ts = data["last_heartbeat_ts"]
    _expect(_is_iso(ts), source, "last_heartbeat_ts", "an ISO UTC time like 2025-11-17T09:30:00Z", ts)


def _is_iso(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_ts(value)
    except ValueError:
        return False
    return True

"""Kite's instruments master: load, write and resolve instruments.

The master is the only source of lot sizes, tick sizes, expiries and tokens: consumers look
them up here and never keep their own constants. Its text form is Kite's instruments CSV
(``GET /instruments``), with the columns in Kite's order::

    instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
    256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE

Numbers are written the way Kite writes them: a whole float without a decimal point
(``25900``, ``0``), any other float in its shortest form (``0.05``). Kite's real dump
quotes the ``name`` column (``"INFOSYS"``); such a file loads, and is written back
quoted only where CSV needs it.

Logical names: futures and options carry the underlying in ``name`` (``NIFTY``,
``BANKNIFTY``, ``FINNIFTY``); the index itself is listed under its NSE index name
(``NIFTY 50``, ``NIFTY BANK``, ``NIFTY FIN SERVICE``), mapped by ``INDEX_NAMES``.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, TextIO

from shared.errors import DataError, InstrumentError

COLUMNS: Final = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
INSTRUMENT_TYPES: Final = frozenset({"EQ", "FUT", "CE", "PE"})
OPTION_TYPES: Final = ("CE", "PE")

#: Logical underlying -> the tradingsymbol of its index in Kite's dump.
INDEX_NAMES: Final[dict[str, str]] = {
    "NIFTY": "NIFTY 50",
    "BANKNIFTY": "NIFTY BANK",
    "FINNIFTY": "NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NIFTY MID SELECT",
    "NIFTYNXT50": "NIFTY NEXT 50",
}


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of Kite's instruments CSV (same fields, same order)."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str  # EQ, FUT, CE, PE (indices are EQ in segment INDICES)
    segment: str  # NSE, NFO-FUT, NFO-OPT, INDICES
    exchange: str  # NSE, NFO

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"

    @property
    def is_option(self) -> bool:
        return self.instrument_type in OPTION_TYPES

    @property
    def is_future(self) -> bool:
        return self.instrument_type == "FUT"

    @property
    def is_equity(self) -> bool:
        """A cash-market stock (an index is not one)."""
        return self.instrument_type == "EQ" and not self.is_index

    @property
    def key(self) -> str:
        """``EXCHANGE:TRADINGSYMBOL``, e.g. ``NFO:NIFTY26NOVFUT`` (Kite's quote key)."""
        return f"{self.exchange}:{self.tradingsymbol}"


# -- CSV text <-> Instrument -------------------------------------------------------------


def format_number(value: float) -> str:
    """Kite's spelling of a number: ``25900`` for a whole value, else the shortest repr."""
    if value == int(value):
        return str(int(value))
    return repr(float(value))


def _row(inst: Instrument) -> list[str]:
    return [
        str(inst.instrument_token),
        str(inst.exchange_token),
        inst.tradingsymbol,
        inst.name,
        format_number(inst.last_price),
        inst.expiry.isoformat() if inst.expiry else "",
        format_number(inst.strike),
        format_number(inst.tick_size),
        str(inst.lot_size),
        inst.instrument_type,
        inst.segment,
        inst.exchange,
    ]


class _RowParser:
    """Turns one CSV record into an Instrument, naming file, line and column on failure."""

    def __init__(self, source: str, header: list[str]) -> None:
        self.source = source
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise DataError(
                f"{source}:1: unknown column(s) {', '.join(map(repr, unknown))} in the header "
                f"(expected Kite's instruments columns: {','.join(COLUMNS)})"
            )
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DataError(f"{source}:1: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
        dupes = [c for c, n in Counter(header).items() if n > 1]
        if dupes:
            raise DataError(f"{source}:1: column(s) {', '.join(dupes)} appear more than once in the header")
        self.pos = [header.index(c) for c in COLUMNS]
        self.width = len(header)

    def _fail(self, line: int, column: str, expected: str, value: str) -> DataError:
        return DataError(f"{self.source}:{line}: column {column!r}: expected {expected}, got {value!r}")

    def _int(self, line: int, column: str, value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise self._fail(line, column, "an integer", value) from None

    def _float(self, line: int, column: str, value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise self._fail(line, column, "a number", value) from None

    def _expiry(self, line: int, value: str) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._fail(line, "expiry", "a date YYYY-MM-DD or empty", value) from None

    def parse(self, line: int, rec: list[str]) -> Instrument:
        if len(rec) != self.width:
            raise DataError(f"{self.source}:{line}: expected {self.width} fields, got {len(rec)}")
        (token, exch_token, symbol, name, last, expiry, strike, tick, lot, itype, segment, exchange) = (
            rec[p].strip() for p in self.pos
        )
        if not symbol:
            raise self._fail(line, "tradingsymbol", "a non-empty symbol", symbol)
        if itype not in INSTRUMENT_TYPES:
            raise self._fail(line, "instrument_type", "one of EQ, FUT, CE, PE", itype)
        return Instrument(
            instrument_token=self._int(line, "instrument_token", token),
            exchange_token=self._int(line, "exchange_token", exch_token),
            tradingsymbol=symbol,
            name=name,
            last_price=self._float(line, "last_price", last),
            expiry=self._expiry(line, expiry),
            strike=self._float(line, "strike", strike),
            tick_size=self._float(line, "tick_size", tick),
            lot_size=self._int(line, "lot_size", lot),
            instrument_type=itype,
            segment=segment,
            exchange=exchange,
        )


def _parse(text_lines: Iterable[str], source: str) -> list[Instrument]:
    reader = csv.reader(text_lines)
    header = next(reader, None)
    if header is None:
        raise DataError(f"{source}:1: empty file (expected the header {','.join(COLUMNS)})")
    parser = _RowParser(source, [h.strip() for h in header])
    out: list[Instrument] = []
    for rec in reader:
        if not rec:
            continue  # a blank line (a trailing newline in some dumps)
        out.append(parser.parse(reader.line_num, rec))
    return out


# -- the master --------------------------------------------------------------------------


class InstrumentsMaster:
    """The day's instruments, indexed for the lookups strategies and brokers need.

    Lookups that find nothing raise ``InstrumentError`` saying what was asked and what
    exists. Lists come back sorted: futures and expiries by date, a chain by strike.
    """

    def __init__(self, instruments: Iterable[Instrument], source: str = "<memory>") -> None:
        self.source = source
        self._index(list(instruments))

    # -- construction -------------------------------------------------------------------
    def _index(self, instruments: list[Instrument]) -> None:
        by_token: dict[int, Instrument] = {}
        by_symbol: dict[tuple[str, str], Instrument] = {}
        futures: dict[str, list[Instrument]] = {}
        options: dict[str, dict[date, list[Instrument]]] = {}
        for inst in instruments:
            if inst.instrument_token in by_token:
                raise DataError(
                    f"{self.source}: instrument_token {inst.instrument_token} is listed twice "
                    f"({by_token[inst.instrument_token].key} and {inst.key})"
                )
            by_token[inst.instrument_token] = inst
            skey = (inst.exchange, inst.tradingsymbol)
            if skey in by_symbol:
                raise DataError(f"{self.source}: {inst.key} is listed twice")
            by_symbol[skey] = inst
            if inst.is_future:
                futures.setdefault(inst.name, []).append(inst)
            elif inst.is_option and inst.expiry is not None:
                options.setdefault(inst.name, {}).setdefault(inst.expiry, []).append(inst)
        for lst in futures.values():
            lst.sort(key=lambda i: (i.expiry or date.min, i.tradingsymbol))
        for chains in options.values():
            for chain in chains.values():
                chain.sort(key=lambda i: (i.strike, i.instrument_type))
        self._all = instruments
        self._by_token = by_token
        self._by_symbol = by_symbol
        self._futures = futures
        self._options = options

    def reload(self, instruments: Iterable[Instrument]) -> None:
        """Replace the listing in place (a new trading day), keeping this object's identity.

        Holders of the master (the feed, a tick source) see the new day's contracts
        without being handed a new object.
        """
        self._index(list(instruments))

    @classmethod
    def from_csv(cls, path_or_file: str | os.PathLike[str] | TextIO) -> InstrumentsMaster:
        """Load Kite's instruments CSV from a path or an open text file."""
        if isinstance(path_or_file, str | os.PathLike):
            path = Path(path_or_file)
            try:
                with path.open(newline="", encoding="utf-8") as fh:
                    return cls(_parse(fh, str(path)), str(path))
            except OSError as exc:
                raise DataError(f"{path}: cannot read the instruments master ({exc.strerror})") from exc
        source = str(getattr(path_or_file, "name", "<stream>"))
        return cls(_parse(path_or_file, source), source)

    @classmethod
    def from_csv_text(cls, text: str, source: str = "<text>") -> InstrumentsMaster:
        return cls(_parse(io.StringIO(text, newline=""), source), source)

    def to_csv_text(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(_row(i) for i in self._all)
        return buf.getvalue()

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the CSV atomically: a temporary file beside ``path``, then ``os.replace``."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                fh.write(self.to_csv_text())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    # -- container -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._all)

    def __contains__(self, token: object) -> bool:
        return token in self._by_token

    def __repr__(self) -> str:
        return f"InstrumentsMaster({len(self._all)} instruments from {self.source})"

    # -- lookups -------------------------------------------------------------------------
    def by_token(self, token: int) -> Instrument:
        try:
            return self._by_token[token]
        except KeyError:
            raise InstrumentError(
                f"instrument_token {token} is not in the instruments master ({self.source})"
            ) from None

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument:
        try:
            return self._by_symbol[(exchange, tradingsymbol)]
        except KeyError:
            raise InstrumentError(
                f"{exchange}:{tradingsymbol} is not in the instruments master ({self.source})"
            ) from None

    def by_key(self, key: str) -> Instrument:
        """Look up ``EXCHANGE:TRADINGSYMBOL``."""
        exchange, sep, symbol = key.partition(":")
        if not sep or not symbol:
            raise InstrumentError(f"{key!r} is not EXCHANGE:TRADINGSYMBOL (e.g. NFO:NIFTY26NOVFUT)")
        return self.by_symbol(exchange, symbol)

    def index(self, name: str) -> Instrument:
        """The index of an underlying: ``NIFTY`` -> ``NIFTY 50``; an index name works as is."""
        symbol = INDEX_NAMES.get(name, name)
        inst = self._by_symbol.get(("NSE", symbol))
        if inst is None or not inst.is_index:
            known = sorted(i.tradingsymbol for i in self._all if i.is_index)
            raise InstrumentError(f"no index for {name!r} in the instruments master (indices: {', '.join(known)})")
        return inst

    def futures(self, name: str) -> list[Instrument]:
        """Every future of an underlying, nearest expiry first."""
        lst = self._futures.get(name)
        if not lst:
            raise InstrumentError(
                f"no futures for {name!r} in the instruments master (underlyings: {', '.join(sorted(self._futures))})"
            )
        return list(lst)

    def future(self, name: str, on: date, roll_days_before_expiry: int = 1) -> Instrument:
        """The current-month future on day ``on``, rolled to the next one near expiry.

        Rolls when fewer than ``roll_days_before_expiry`` *calendar* days are left, i.e.
        ``(expiry - on).days < roll_days_before_expiry``: with the default 1 the next
        month is used from the expiry day itself; with 0 the expiring contract is held
        through its last day.
        """
        for inst in self.futures(name):
            assert inst.expiry is not None
            if (inst.expiry - on).days >= roll_days_before_expiry:
                return inst
        raise InstrumentError(
            f"no {name} future expiring {roll_days_before_expiry} day(s) or more after {on} "
            f"(last listed: {self.futures(name)[-1].tradingsymbol})"
        )

    def expiries(self, name: str) -> list[date]:
        """Option expiries of an underlying, nearest first."""
        chains = self._options.get(name)
        if not chains:
            raise InstrumentError(
                f"no options for {name!r} in the instruments master (underlyings: {', '.join(sorted(self._options))})"
            )
        return sorted(chains)

    def nearest_expiry(self, name: str, on: date) -> date:
        """The first option expiry on or after ``on`` (an expiry day returns itself)."""
        for expiry in self.expiries(name):
            if expiry >= on:
                return expiry
        raise InstrumentError(f"no {name} option expiry on or after {on} (last listed: {self.expiries(name)[-1]})")

    def option_chain(self, name: str, expiry: date) -> list[Instrument]:
        """Every option of one expiry as a flat list, sorted by strike, CE before PE.

        Strikes with only one side listed appear once; pair them with ``option()``.
        """
        chain = self._options.get(name, {}).get(expiry)
        if not chain:
            listed = ", ".join(str(e) for e in sorted(self._options.get(name, {}))) or "none"
            raise InstrumentError(f"no {name} options expiring {expiry} (listed expiries: {listed})")
        return list(chain)

    def strikes(self, name: str, expiry: date) -> list[float]:
        """The distinct strikes of one expiry, ascending."""
        return sorted({i.strike for i in self.option_chain(name, expiry)})

    def option(self, name: str, expiry: date, strike: float, option_type: str) -> Instrument:
        """One option contract; ``option_type`` is ``CE`` or ``PE``."""
        if option_type not in OPTION_TYPES:
            raise InstrumentError(f"option_type must be CE or PE, got {option_type!r}")
        for inst in self.option_chain(name, expiry):
            if inst.strike == strike and inst.instrument_type == option_type:
                return inst
        raise InstrumentError(f"no {name} {expiry} {format_number(strike)} {option_type} in the instruments master")

    def strike_step(self, name: str, expiry: date) -> float:
        """The chain's strike interval: the most common gap between listed strikes.

        Real chains widen far from the money (NIFTY 50 near ATM, 100 further out), so the
        most common gap, the smaller on a tie, is the step near the money.
        """
        strikes = self.strikes(name, expiry)
        if len(strikes) < 2:
            raise InstrumentError(f"{name} {expiry} lists {len(strikes)} strike(s); a step needs at least two")
        gaps = Counter(round(b - a, 6) for a, b in itertools.pairwise(strikes))
        return min(gaps, key=lambda g: (-gaps[g], g))

    def equities(self) -> list[Instrument]:
        """Cash-market stocks (EQ, not indices), in listing order."""
        return [i for i in self._all if i.is_equity]

    def indices(self) -> list[Instrument]:
        return [i for i in self._all if i.is_index]

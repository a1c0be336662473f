"""The journals' columns and rows: messages to CSV cells and CSV rows back to typed records.

Pure functions and dataclasses, no I/O (``journal.py`` does the files). Column orders are
the seed's, exactly. Cell spelling: whole numbers without a decimal point (``24500``), other
floats in their shortest round-tripping form (``24500.35``), booleans ``true``/``false``,
None as an empty cell, ``extra`` as a compact JSON object, times as ``timefmt.format_ts``.
Text never spans lines: CR/LF inside a text cell become spaces, so one row is one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, TypeVar

from shared.contracts import Fill, OrderEvent, Signal
from shared.enums import OrderStatus, OrderType, Product, Side, SignalKind
from shared.errors import DataError
from shared.indicators import SIGNAL_KEYS
from shared.state.timefmt import format_ts, parse_ts

E = TypeVar("E", bound=Enum)

ORDERS_COLUMNS: Final = (
    "timestamp",
    "symbol",
    "side",
    "quantity",
    "price",
    "status",
    "tf",
    "profile",
    "strategy",
    "parent_signal_timestamp",
    "underlying",
    "extra",
)
SIGNALS_COLUMNS: Final = (
    "timestamp",
    "signal_id",
    "logical",
    "symbol",
    "price",
    "signal",
    "tf",
    "reason",
    "profile",
    "mode",
    "confidence",
    "trend_context",
    "vol_regime",
    "htf_trend",
    "playbook",
    "setup_type",
    *SIGNAL_KEYS,  # ema20 ... vol_spike, the indicator columns in the seed's order
    "strategy",
)
PNL_COLUMNS: Final = (
    "timestamp",
    "symbol",
    "strategy",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "gross_pnl",
    "charges",
    "net_pnl",
    "holding_seconds",
    "extra",
)

#: signals.csv columns filled from ``Signal.indicators``, by type.
SIGNAL_TEXT_COLUMNS: Final = ("profile", "mode", "trend_context", "vol_regime", "htf_trend", "playbook", "setup_type")
SIGNAL_NUMBER_COLUMNS: Final = (
    "ema20",
    "ema50",
    "ema100",
    "ema200",
    "rsi14",
    "atr",
    "adx14",
    "adx",
    "vwap",
    "rel_volume",
)
SIGNAL_BOOL_COLUMNS: Final = ("vol_spike",)

#: Keys of an orders.csv ``extra`` that the journal itself fills in (callers may add others).
ORDER_EXTRA_KEYS: Final = frozenset(
    {
        "order_id",
        "intent_id",
        "exchange",
        "product",
        "order_type",
        "order_price",
        "filled_quantity",
        "average_price",
        "ts_ns",
        "status_message",
        "fill_id",
        "fill_quantity",
        "fill_price",
        "fill_ts_ns",
        "charges",
        "fee",
        "internal",
    }
)


# -- cells ---------------------------------------------------------------------------------


def format_float(value: float) -> str:
    """``24500`` for a whole value, else the shortest repr (which parses back to the same float)."""
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    if value == int(value):
        return str(int(value))
    return repr(float(value))


def json_cell(obj: Mapping[str, Any]) -> str:
    """A compact JSON object (floats in repr form, so they round-trip exactly)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def cell(value: object) -> str:
    """The CSV spelling of one value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Mapping):
        return json_cell(value)
    raise TypeError(f"cannot write a {type(value).__name__} to a journal cell: {value!r}")


class RowParser:
    """Typed access to one CSV record; every error names ``source:line`` and the column."""

    __slots__ = ("line", "rec", "source")

    def __init__(self, source: str, line: int, rec: Mapping[str, str]) -> None:
        self.source = source
        self.line = line
        self.rec = rec

    def fail(self, column: str, expected: str, value: object) -> DataError:
        return DataError(f"{self.source}:{self.line}: column {column!r}: expected {expected}, got {value!r}")

    def text(self, column: str) -> str:
        return self.rec[column]

    def ts(self, column: str = "timestamp") -> int:
        value = self.rec[column]
        try:
            return parse_ts(value)
        except ValueError:
            raise self.fail(column, "an ISO 8601 UTC time like 2025-11-17T09:30:00Z", value) from None

    def int_(self, column: str, *, minimum: int = 0) -> int:
        value = self.rec[column]
        try:
            n = int(value)
        except ValueError:
            raise self.fail(column, f"an integer >= {minimum}", value) from None
        if n < minimum:
            raise self.fail(column, f"an integer >= {minimum}", value)
        return n

    def float_(self, column: str, *, minimum: float | None = None) -> float:
        value = self.rec[column]
        try:
            x = float(value)
        except ValueError:
            raise self.fail(column, "a number", value) from None
        if not math.isfinite(x) or (minimum is not None and x < minimum):
            raise self.fail(column, "a finite number" + (f" >= {minimum}" if minimum is not None else ""), value)
        return x

    def opt_float(self, column: str) -> float | None:
        return None if self.rec[column] == "" else self.float_(column)

    def opt_bool(self, column: str) -> bool | None:
        value = self.rec[column].strip().lower()
        if value == "":
            return None
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise self.fail(column, "true or false", self.rec[column])

    def enum(self, column: str, kind: type[E]) -> E:
        value = self.rec[column]
        try:
            return kind(value)
        except ValueError:
            raise self.fail(column, " or ".join(str(m.value) for m in kind), value) from None

    def json_object(self, column: str) -> dict[str, Any]:
        value = self.rec[column]
        if value == "":
            return {}
        try:
            obj = json.loads(value)
        except json.JSONDecodeError as exc:
            raise self.fail(column, f"a JSON object ({exc.msg})", value) from None
        if not isinstance(obj, dict):
            raise self.fail(column, "a JSON object", value)
        return obj


# -- orders.csv ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillInfo:
    """The one fill an orders.csv row carries (``extra.fill_*`` and ``extra.charges``)."""

    fill_id: str
    quantity: int
    price: float
    charges: float
    ts_ns: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One parsed orders.csv row: the seed's columns plus what its ``extra`` says."""

    line: int
    ts_ns: int  # exact event time: extra.ts_ns, else the timestamp column
    timestamp: str
    symbol: str
    side: Side
    quantity: int  # the order's quantity
    price: float  # average fill price once anything filled, else the order's price (0 for MARKET)
    status: OrderStatus
    tf: str
    profile: str
    strategy: str
    parent_signal_timestamp: str
    underlying: str
    extra: dict[str, Any]
    order_id: str
    intent_id: str
    exchange: str
    product: Product | None
    order_type: OrderType | None
    order_price: float
    filled_quantity: int
    average_price: float
    fill: FillInfo | None
    fee: float  # a charge not tied to a fill (Zerodha's auto square-off fee)
    #: A cross between two of our strategies (``extra.internal``): never sent, not in the broker's book.
    internal: bool = False


def _parent_ts(value: int | str | None) -> str:
    if value is None or value == 0 or value == "":
        return ""
    if isinstance(value, int):
        return format_ts(value)
    parse_ts(value)  # validates
    return value


def order_record(
    evt: OrderEvent,
    *,
    tf: str = "",
    profile: str = "",
    strategy: str | None = None,
    parent_signal_ts: int | str | None = None,
    underlying: str = "",
    extra: Mapping[str, Any] | None = None,
    fill: Fill | None = None,
    fee: float = 0.0,
    internal: bool = False,
) -> dict[str, object]:
    """The orders.csv row of one order event (and the one fill it reports, if any).

    ``internal``: an order between two of our strategies that never reached the exchange
    (``shared.brokers.netting``); written as ``extra.internal: true`` (absent otherwise, so
    other rows are unchanged).
    """
    info: dict[str, Any] = {
        "order_id": evt.order_id,
        "intent_id": evt.intent_id,
        "exchange": evt.exchange,
        "product": evt.product.value,
        "order_type": evt.order_type.value,
        "order_price": evt.price,
        "filled_quantity": evt.filled_quantity,
        "average_price": evt.average_price,
        "ts_ns": evt.ts_event,
    }
    if evt.status_message:
        info["status_message"] = evt.status_message
    if fill is not None:
        if fill.order_id != evt.order_id or fill.symbol != evt.symbol or fill.side != evt.side:
            raise ValueError(
                f"orders journal: fill {fill.fill_id} is for order {fill.order_id} {fill.side} {fill.symbol}, "
                f"not order {evt.order_id} {evt.side} {evt.symbol}"
            )
        info.update(fill_id=fill.fill_id, fill_quantity=fill.quantity, fill_price=fill.price)
        if fill.ts_event != evt.ts_event:  # absent: the fill happened at the row's ts_ns
            info["fill_ts_ns"] = fill.ts_event
        info["charges"] = fill.charges
    if fee:
        if fee < 0 or not math.isfinite(fee):
            raise ValueError(f"orders journal: order {evt.order_id}: fee {fee}; expected a finite amount >= 0")
        info["fee"] = fee
    if internal:
        info["internal"] = True
    for key, value in (extra or {}).items():
        if key in ORDER_EXTRA_KEYS:
            raise ValueError(f"orders journal: extra key {key!r} is filled in by the journal; use another name")
        info[key] = value
    price = evt.average_price if evt.filled_quantity > 0 else evt.price
    return {
        "timestamp": format_ts(evt.ts_event),
        "symbol": evt.symbol,
        "side": evt.side,
        "quantity": evt.quantity,
        "price": price,
        "status": evt.status,
        "tf": tf,
        "profile": profile,
        "strategy": evt.strategy if strategy is None else strategy,
        "parent_signal_timestamp": _parent_ts(parent_signal_ts),
        "underlying": underlying,
        "extra": info,
    }


class _ExtraParser:
    """Typed access to an ``extra`` object, errors naming ``source:line`` and ``extra.<key>``."""

    def __init__(self, row: RowParser, extra: dict[str, Any]) -> None:
        self.row = row
        self.extra = extra

    def fail(self, key: str, expected: str) -> DataError:
        return self.row.fail(f"extra.{key}", expected, self.extra.get(key))

    def text(self, key: str) -> str:
        value = self.extra.get(key, "")
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def int_(self, key: str, default: int, minimum: int) -> int:
        value = self.extra.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"an integer >= {minimum}")
        return value

    def num(self, key: str, default: float, minimum: float, *, strict: bool = False) -> float:
        value = self.extra.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < minimum or (strict and value == minimum):
            raise self.fail(key, f"a number {'>' if strict else '>='} {minimum}")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.extra.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def enum(self, key: str, kind: type[E]) -> E | None:
        if key not in self.extra:
            return None
        try:
            return kind(self.extra[key])
        except ValueError:
            raise self.fail(key, " or ".join(str(m.value) for m in kind)) from None


def parse_order_row(source: str, line: int, rec: Mapping[str, str]) -> OrderRow:
    """Parse and check one orders.csv record."""
    p = RowParser(source, line, rec)
    extra = p.json_object("extra")
    x = _ExtraParser(p, extra)
    ts_ns = p.ts()
    if "ts_ns" in extra:
        ts_ns = x.int_("ts_ns", 0, 0)
    fill = None
    if "fill_id" in extra:
        fill_id = extra["fill_id"]
        if not isinstance(fill_id, str | int) or isinstance(fill_id, bool) or fill_id == "":
            raise x.fail("fill_id", "a non-empty fill id")
        fill = FillInfo(
            fill_id=str(fill_id),
            quantity=x.int_("fill_quantity", 0, 1),
            price=x.num("fill_price", 0.0, 0.0, strict=True),
            charges=x.num("charges", 0.0, 0.0),
            ts_ns=x.int_("fill_ts_ns", ts_ns, 0),
        )
    return OrderRow(
        line=line,
        ts_ns=ts_ns,
        timestamp=p.text("timestamp"),
        symbol=p.text("symbol"),
        side=p.enum("side", Side),
        quantity=p.int_("quantity"),
        price=p.float_("price", minimum=0.0),
        status=p.enum("status", OrderStatus),
        tf=p.text("tf"),
        profile=p.text("profile"),
        strategy=p.text("strategy"),
        parent_signal_timestamp=p.text("parent_signal_timestamp"),
        underlying=p.text("underlying"),
        extra=extra,
        order_id=x.text("order_id"),
        intent_id=x.text("intent_id"),
        exchange=x.text("exchange"),
        product=x.enum("product", Product),
        order_type=x.enum("order_type", OrderType),
        order_price=x.num("order_price", 0.0, 0.0),
        filled_quantity=x.int_("filled_quantity", 0, 0),
        average_price=x.num("average_price", 0.0, 0.0),
        fill=fill,
        fee=x.num("fee", 0.0, 0.0),
        internal=x.flag("internal"),
    )


# -- signals.csv ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One parsed signals.csv row; ``indicators`` holds the non-empty indicator columns."""

    line: int
    ts_ns: int
    signal_id: str
    logical: str
    symbol: str
    price: float
    signal: SignalKind
    tf: str
    reason: str
    confidence: float
    strategy: str
    indicators: dict[str, float | str | bool]

    def to_signal(self) -> Signal:
        """The ``Signal`` this row records (``profile`` and ``mode`` go back into indicators)."""
        return Signal(
            ts_event=self.ts_ns,
            signal_id=self.signal_id,
            strategy=self.strategy,
            logical=self.logical,
            symbol=self.symbol,
            price=self.price,
            signal=self.signal,
            timeframe=self.tf,
            reason=self.reason,
            confidence=self.confidence,
            indicators=dict(self.indicators),
        )


def signal_record(signal: Signal, *, mode: str | None = None, profile: str | None = None) -> dict[str, object]:
    """The signals.csv row of a ``Signal``.

    Indicator columns come from ``signal.indicators`` under the column's name; ``mode`` and
    ``profile`` may be given here instead. Indicators without a column are not journaled.
    """
    ind = signal.indicators
    where = f"signals journal: signal {signal.signal_id}"
    row: dict[str, object] = {
        "timestamp": format_ts(signal.ts_event),
        "signal_id": signal.signal_id,
        "logical": signal.logical,
        "symbol": signal.symbol,
        "price": signal.price,
        "signal": signal.signal,
        "tf": signal.timeframe,
        "reason": signal.reason,
        "confidence": signal.confidence,
        "strategy": signal.strategy,
    }
    for col in SIGNAL_TEXT_COLUMNS:
        value = ind.get(col)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: indicator {col!r} = {value!r}; expected text")
        row[col] = value
    for col in SIGNAL_NUMBER_COLUMNS:
        value = ind.get(col)
        if value is not None and (isinstance(value, bool | str)):
            raise ValueError(f"{where}: indicator {col!r} = {value!r}; expected a number")
        row[col] = value
    for col in SIGNAL_BOOL_COLUMNS:
        value = ind.get(col)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{where}: indicator {col!r} = {value!r}; expected true or false")
        row[col] = value
    if mode is not None:
        row["mode"] = mode
    if profile is not None:
        row["profile"] = profile
    return row


def parse_signal_row(source: str, line: int, rec: Mapping[str, str]) -> SignalRow:
    """Parse and check one signals.csv record."""
    p = RowParser(source, line, rec)
    indicators: dict[str, float | str | bool] = {}
    for col in SIGNAL_TEXT_COLUMNS:
        if rec[col] != "":
            indicators[col] = rec[col]
    for col in SIGNAL_NUMBER_COLUMNS:
        num = p.opt_float(col)
        if num is not None:
            indicators[col] = num
    for col in SIGNAL_BOOL_COLUMNS:
        flag = p.opt_bool(col)
        if flag is not None:
            indicators[col] = flag
    confidence = 0.0 if rec["confidence"] == "" else p.float_("confidence", minimum=0.0)
    if confidence > 1:
        raise p.fail("confidence", "a number in [0, 1]", rec["confidence"])
    return SignalRow(
        line=line,
        ts_ns=p.ts(),
        signal_id=p.text("signal_id"),
        logical=p.text("logical"),
        symbol=p.text("symbol"),
        price=p.float_("price", minimum=0.0),
        signal=p.enum("signal", SignalKind),
        tf=p.text("tf"),
        reason=p.text("reason"),
        confidence=confidence,
        strategy=p.text("strategy"),
        indicators=indicators,
    )


# -- pnl.csv -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PnlRecord:
    """One closed trade (flat -> position -> flat, per strategy, symbol and product).

    ``side`` is the entry side (BUY: a long trade), ``quantity`` the units opened (== closed),
    prices are quantity-weighted averages, ``gross_pnl`` is before charges and
    ``net_pnl = gross_pnl - charges``. ``ts_ns`` is the exit fill's event time.
    """

    ts_ns: int
    symbol: str
    strategy: str
    side: Side
    quantity: int
    entry_price: float
    exit_price: float
    gross_pnl: float
    charges: float
    net_pnl: float
    holding_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    line: int = 0  # source line when read back; 0 when built in memory


def pnl_record(rec: PnlRecord) -> dict[str, object]:
    """The pnl.csv row of a closed trade."""
    return {
        "timestamp": format_ts(rec.ts_ns),
        "symbol": rec.symbol,
        "strategy": rec.strategy,
        "side": rec.side,
        "quantity": rec.quantity,
        "entry_price": rec.entry_price,
        "exit_price": rec.exit_price,
        "gross_pnl": rec.gross_pnl,
        "charges": rec.charges,
        "net_pnl": rec.net_pnl,
        "holding_seconds": rec.holding_seconds,
        "extra": {"ts_ns": rec.ts_ns, **rec.extra},
    }


def parse_pnl_row(source: str, line: int, rec: Mapping[str, str]) -> PnlRecord:
    """Parse and check one pnl.csv record."""
    p = RowParser(source, line, rec)
    extra = p.json_object("extra")
    ts_ns = extra.pop("ts_ns", None)
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int) or ts_ns < 0:
        ts_ns = p.ts()
    return PnlRecord(
        ts_ns=ts_ns,
        symbol=p.text("symbol"),
        strategy=p.text("strategy"),
        side=p.enum("side", Side),
        quantity=p.int_("quantity", minimum=1),
        entry_price=p.float_("entry_price", minimum=0.0),
        exit_price=p.float_("exit_price", minimum=0.0),
        gross_pnl=p.float_("gross_pnl"),
        charges=p.float_("charges", minimum=0.0),
        net_pnl=p.float_("net_pnl"),
        holding_seconds=p.float_("holding_seconds", minimum=0.0),
        extra=extra,
        line=line,
    )

"""Kite's checks on an order request, with Kite's error messages (all ``InputException``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sandbox.kite.errors import KiteError, input_error
from shared.brokers.paper import on_grid
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster

VARIETIES = ("regular", "amo", "co", "iceberg", "auction")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = {"NSE": ("CNC", "MIS"), "BSE": ("CNC", "MIS"), "NFO": ("NRML", "MIS"), "BFO": ("NRML", "MIS")}
VALIDITIES = ("DAY", "IOC")
TAG = re.compile(r"^[A-Za-z0-9]{1,20}$")
NO_PROTECTION = (
    "Market orders without market protection are not allowed via API. "
    "Please set market protection or use a Limit order."
)


def number(params: Mapping[str, str], key: str, default: float = 0.0) -> float:
    raw = params.get(key)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise input_error(f"Invalid `{key}`: {raw!r} is not a number.") from None


def integer(params: Mapping[str, str], key: str) -> int:
    value = number(params, key)
    if value != int(value):
        raise input_error(f"Invalid `{key}`: {params.get(key)!r} is not a whole number.")
    return int(value)


def required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key)
    if not value:
        raise input_error(f"Missing `{key}`.")
    return value


def one_of(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise input_error(f"Invalid `{key}`: {value!r}; expected one of {', '.join(allowed)}.")
    return value


def instrument(master: InstrumentsMaster, exchange: str, tradingsymbol: str) -> Instrument:
    try:
        inst = master.by_symbol(exchange, tradingsymbol)
    except InstrumentError:
        raise input_error(f"Invalid `tradingsymbol`: {exchange}:{tradingsymbol} is not an instrument.") from None
    if inst.is_index:
        raise input_error(f"{exchange}:{tradingsymbol} is an index and cannot be traded.")
    return inst


def market_protection(params: Mapping[str, str], order_type: str) -> float:
    """The order's protection: required on MARKET and SL-M (-1 = automatic, else 0 < p <= 100)."""
    raw = params.get("market_protection")
    if raw in (None, ""):
        if order_type in ("MARKET", "SL-M"):
            raise input_error(NO_PROTECTION)
        return 0.0
    value = number(params, "market_protection")
    if value != -1 and not 0 < value <= 100:
        raise input_error("Invalid `market_protection`: expected -1 (automatic) or a percentage above 0 up to 100.")
    return value


def quantity(inst: Instrument, qty: int, freeze: Mapping[str, int]) -> None:
    if qty <= 0:
        raise input_error("Quantity should be greater than zero.")
    if qty % inst.lot_size:
        raise input_error(f"Quantity should be a multiple of lot size {inst.lot_size} for {inst.tradingsymbol}.")
    limit = freeze.get(inst.name) if inst.exchange in ("NFO", "BFO") else None
    if limit is not None and qty > limit:
        lots, max_lots = qty // inst.lot_size, limit // inst.lot_size
        raise input_error(
            f"The order quantity {qty} ({lots} lots) is higher than the maximum quantity of {limit} "
            f"({max_lots} lots) allowed by the exchanges. Please split your order."
        )


def price_on_grid(inst: Instrument, key: str, value: float) -> None:
    if value <= 0 or not on_grid(value, inst.tick_size):
        raise input_error(
            f"Tick size for this script is {inst.tick_size:g}. Kindly enter `{key}` in the multiple of tick size."
        )


def tag(params: Mapping[str, str]) -> str:
    value = params.get("tag") or ""
    if value and not TAG.match(value):
        raise input_error("Invalid `tag`: expected up to 20 letters and digits.")
    return value


__all__ = ["KiteError"]

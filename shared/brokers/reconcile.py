"""Broker vs journal: where the broker's net positions differ from ours (pure; no I/O).

Live mode compares Kite's ``positions()["net"]`` with the book rebuilt from the journal at
start-up and then every ``kite.reconcile_seconds``. A difference seen twice in a row (a fill
in flight shows up once) is drift: it is raised as an alert, and ``kite.drift_policy``
either halts trading or adopts the broker's quantity and average price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.brokers.positions import Portfolio, Position
from shared.enums import Product


@dataclass(frozen=True, slots=True)
class PositionDrift:
    symbol: str
    exchange: str
    product: Product
    ours: int
    theirs: int
    their_average: float

    def describe(self) -> str:
        return f"{self.exchange}:{self.symbol}/{self.product.value}: journal {self.ours}, broker {self.theirs}"


def position_drift(ours: Iterable[Position], broker_net: Iterable[Mapping[str, Any]]) -> list[PositionDrift]:
    """Every (symbol, product) whose net quantity differs, sorted; flat on both sides is no drift."""
    mine = {(p.symbol, p.product): p for p in ours}
    theirs: dict[tuple[str, Product], Mapping[str, Any]] = {}
    for row in broker_net:
        try:
            key = (str(row["tradingsymbol"]), Product(row["product"]))
        except (KeyError, ValueError):
            continue  # a product we never trade (CO, MTF): not ours to compare
        theirs[key] = row
    out = []
    for key in sorted(set(mine) | set(theirs)):
        pos, row = mine.get(key), theirs.get(key)
        q_ours = pos.quantity if pos else 0
        q_theirs = int(row["quantity"]) if row else 0
        if q_ours != q_theirs:
            exchange = str(row["exchange"]) if row else (pos.exchange if pos else "")
            avg = float(row.get("average_price") or 0.0) if row else 0.0
            out.append(PositionDrift(key[0], exchange, key[1], q_ours, q_theirs, avg))
    return out


def adopt(portfolio: Portfolio, drifts: Iterable[PositionDrift]) -> None:
    """Take the broker's view: our position gets its quantity and average price."""
    for d in drifts:
        pos = portfolio.ensure(d.symbol, d.product, d.exchange)
        pos.quantity = d.theirs
        pos.avg_price = d.their_average if d.theirs else 0.0
        if d.their_average > 0:
            pos.last_price = pos.last_price or d.their_average

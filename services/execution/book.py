"""Views of the book: checkpoint entries, checkpoint vs journal (the snapshot is ``shared.brokers.snapshot``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from shared.brokers.orders import Order
from shared.state.recovery import RebuiltState
from shared.state.timefmt import format_ts

_TOLERANCE: Final = 1e-6


def order_entry(order: Order) -> dict[str, Any]:
    """The checkpoint's ``open_orders[]`` entry (the keys of ``OrderState.to_dict``, plus the trigger)."""
    return {
        "order_id": order.order_id,
        "intent_id": order.intent_id,
        "symbol": order.symbol,
        "exchange": order.exchange,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "product": order.product.value,
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "strategy": order.strategy,
        "timestamp": format_ts(order.ts_updated),
    }


def checkpoint_differences(data: Mapping[str, Any], state: RebuiltState) -> list[str]:
    """Where a checkpoint's positions and open orders disagree with the book rebuilt from the journal."""
    diffs: list[str] = []
    rebuilt = {(p.symbol, p.product.value): p for p in state.positions}
    seen: set[tuple[str, str]] = set()
    for entry in data.get("positions", []):
        if not isinstance(entry, Mapping):
            continue
        key = (str(entry.get("symbol", "")), str(entry.get("product", "")))
        seen.add(key)
        pos = rebuilt.get(key)
        if pos is None:
            if entry.get("quantity"):
                diffs.append(f"{key[0]}/{key[1]}: checkpoint holds {entry.get('quantity')}, the journal nothing")
            continue
        for name, ours in (
            ("quantity", pos.quantity),
            ("avg_price", pos.avg_price),
            ("realized_pnl", pos.realized_pnl),
        ):
            theirs = entry.get(name)
            if not isinstance(theirs, int | float) or abs(float(theirs) - ours) > _TOLERANCE:
                diffs.append(f"{key[0]}/{key[1]} {name}: checkpoint {theirs!r}, journal {ours!r}")
    for key, pos in rebuilt.items():
        if key not in seen and pos.quantity:
            diffs.append(f"{key[0]}/{key[1]}: the journal holds {pos.quantity}, the checkpoint nothing")
    theirs_open = {str(o.get("order_id")) for o in data.get("open_orders", []) if isinstance(o, Mapping)}
    ours_open = {o.order_id for o in state.open_orders}
    if theirs_open != ours_open:
        diffs.append(f"open orders: checkpoint {sorted(theirs_open)}, journal {sorted(ours_open)}")
    return diffs

"""The dashboard's in-memory store: bounded collections, idempotent updates (no Redis)."""

from __future__ import annotations

from services.dashboard.store import Store, ist_text
from shared.config import DashboardConfig
from shared.contracts import Bar, ControlCommand, OrderEvent, Signal
from shared.enums import ControlAction, OrderStatus, OrderType, Product, Side, SignalKind

T0 = 1_795_578_300_000_000_000  # 2026-11-25 09:15 IST
S = 1_000_000_000


def order(i: int, status: OrderStatus = OrderStatus.OPEN, ts: int | None = None) -> OrderEvent:
    return OrderEvent(ts_event=ts if ts is not None else T0 + i * S, order_id=f"O{i}", intent_id=f"I{i}",
                      symbol="SBIN", exchange="NSE", side=Side.BUY, order_type=OrderType.MARKET, product=Product.MIS,
                      quantity=1, filled_quantity=0, price=0.0, average_price=0.0, status=status)  # fmt: skip


def bar(i: int, symbol: str = "SBIN") -> Bar:
    return Bar(ts_event=T0 + (i + 1) * 60 * S, instrument_token=1, symbol=symbol, timeframe="1m",
               ts_open=T0 + i * 60 * S, open=1.0, high=1.0, low=1.0, close=1.0)  # fmt: skip


def test_collections_keep_only_the_newest_up_to_their_caps() -> None:
    store = Store(DashboardConfig(max_orders=100, max_signals=100, max_bars_per_series=50, max_series=3))
    for i in range(250):
        store.on_order_event(order(i))
        store.on_signal(Signal(ts_event=T0 + i, signal_id=f"s{i}", strategy="x", logical="SBIN", symbol="SBIN",
                               price=1.0, signal=SignalKind.LONG, timeframe="1m"))  # fmt: skip
    for sym in ("A", "B", "C", "D"):
        for i in range(120):
            store.on_bar(bar(i, sym))
    sizes = store.sizes()
    assert (sizes["orders"], sizes["signals"], sizes["series"], sizes["bars"]) == (100, 100, 3, 150)
    assert store.order_list()[0].order_id == "O249" and store.order_list()[-1].order_id == "O150"
    assert store.symbols()[1] == ["B", "C", "D"]  # the least recently updated series went first


def test_an_older_order_state_or_bar_never_replaces_a_newer_one() -> None:
    store = Store(DashboardConfig())
    store.on_order_event(order(1, OrderStatus.FILLED, ts=T0 + 5 * S))
    assert store.on_order_event(order(1, OrderStatus.OPEN, ts=T0 + 4 * S)) is None  # redelivered, older
    assert store.order_list()[0].status == "FILLED"
    assert store.on_bar(bar(5)) and not store.on_bar(bar(4)) and store.on_bar(bar(5))  # same bar again: replaced
    assert [b.ts_open for b in store.bars_of("SBIN", "1m")] == [bar(5).ts_open]


def test_session_state_follows_halt_kill_revive_and_resume() -> None:
    store = Store(DashboardConfig())

    def cmd(action: ControlAction, symbol: str = "") -> ControlCommand:
        return ControlCommand(ts_event=T0, command_id="c", action=action, symbol=symbol, issued_by="asha")

    assert store.on_control(cmd(ControlAction.HALT)).halted
    assert store.on_control(cmd(ControlAction.KILL_SYMBOL, "SBIN")).killed_symbols == ["SBIN"]
    s = store.on_control(cmd(ControlAction.REVIVE_SYMBOL, "SBIN"))
    assert s.killed_symbols == [] and s.halted and "asha" in s.halt_reason
    assert not store.on_control(cmd(ControlAction.RESUME)).halted


def test_ist_text_is_india_time() -> None:
    assert ist_text(T0) == "2026-11-25 09:15:00.000" and ist_text(0) == ""

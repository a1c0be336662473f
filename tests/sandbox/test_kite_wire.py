"""Sandbox packets decoded by pykiteconnect's own parser (``KiteTicker._parse_binary``), byte for byte."""

from __future__ import annotations

import pytest
from kiteconnect import KiteTicker

from sandbox.kite import wire
from shared.contracts import Tick, depth

INDEX = 256265  # NIFTY 50, segment 9
FUT = 201326594  # segment 2


def parse(frame: bytes) -> list[dict]:
    return KiteTicker("k", "t")._parse_binary(frame)


def tradable() -> Tick:
    return Tick(
        ts_event=1_795_596_000_250_000_000, instrument_token=FUT, exchange="NFO", symbol="NIFTY26DECFUT",
        last_price=26241.5, last_quantity=65, volume=184145, oi=5410730, open=26235.45, high=26253.65,
        low=26234.85, close=26272.6,
        **depth([(26241.5 - 0.05 * k, 65 * (k + 1), k + 1) for k in range(5)],
                [(26241.55 + 0.05 * k, 130 * (k + 1), k + 2) for k in range(5)]),
    )  # fmt: skip


def index() -> Tick:
    return Tick(ts_event=1_795_596_000_000_000_000, instrument_token=INDEX, exchange="NSE", symbol="NIFTY 50",
                last_price=26094.1, open=26100.0, high=26120.55, low=26080.25, close=26050.0)  # fmt: skip


@pytest.mark.parametrize(("mode", "size"), [("ltp", 8), ("quote", 44), ("full", 184)])
def test_tradable_packets(mode: str, size: int) -> None:
    t = tradable()
    packet = wire.encode(t, mode)
    assert len(packet) == size
    (d,) = parse(wire.frame([packet]))
    assert d["tradable"] is True and d["mode"] == mode and d["last_price"] == t.last_price
    if mode == "ltp":
        return
    assert d["ohlc"] == {"open": t.open, "high": t.high, "low": t.low, "close": t.close}
    assert d["volume_traded"] == t.volume and d["last_traded_quantity"] == t.last_quantity
    assert d["total_buy_quantity"] == sum(t.bid_quantities) and d["total_sell_quantity"] == sum(t.ask_quantities)
    if mode == "full":
        assert d["oi"] == t.oi and d["exchange_timestamp"].timestamp() == t.ts_event // 10**9
        assert [lv["price"] for lv in d["depth"]["buy"]] == list(t.bid_prices)
        assert [lv["quantity"] for lv in d["depth"]["sell"]] == list(t.ask_quantities)
        assert [lv["orders"] for lv in d["depth"]["sell"]] == list(t.ask_orders)


@pytest.mark.parametrize(("mode", "size"), [("ltp", 8), ("quote", 28), ("full", 32)])
def test_index_packets_carry_h_l_o_c(mode: str, size: int) -> None:
    t = index()
    packet = wire.encode(t, mode)
    assert len(packet) == size
    (d,) = parse(wire.frame([packet]))
    assert d["tradable"] is False and d["last_price"] == t.last_price
    if mode != "ltp":
        assert d["ohlc"] == {"open": t.open, "high": t.high, "low": t.low, "close": t.close}
        assert d["change"] == pytest.approx((t.last_price - t.close) * 100 / t.close)
    if mode == "full":
        assert d["exchange_timestamp"].timestamp() == t.ts_event // 10**9


def test_a_frame_carries_many_packets_and_a_heartbeat_is_one_byte() -> None:
    frame = wire.frame([wire.encode(tradable(), "full"), wire.encode(index(), "quote"), wire.encode(index(), "ltp")])
    assert [d["mode"] for d in parse(frame)] == ["full", "quote", "ltp"]
    assert len(wire.HEARTBEAT) == 1

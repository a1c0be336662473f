"""The msgpack codec: round trips, readable plain fields, clear errors for bad bodies."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bus import codec
from shared.contracts import MESSAGE_TYPES, SCHEMA, ControlCommand, OrderIntent, Tick
from shared.enums import ControlAction, Side
from shared.errors import DecodeError
from tests.factories import make_tick


def _as_entry(fields: dict[bytes, bytes | str]) -> dict[bytes, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in fields.items()}


def test_tick_round_trips_and_plain_fields_are_readable() -> None:
    tick = make_tick(3)
    fields = codec.encode(tick)
    assert fields[codec.F_TYPE] == "tick"
    assert fields[codec.F_SYMBOL] == "NIFTY25NOVFUT"
    assert fields[codec.F_TIME] == "2025-11-17T09:15:00.750+05:30"
    assert codec.decode(_as_entry(fields)) == tick


@given(
    qty=st.integers(min_value=0, max_value=10**9),
    price=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_order_intent_round_trips_for_any_valid_values(qty: int, price: float, ts: int) -> None:
    intent = OrderIntent(
        ts_event=ts, intent_id="i-1", strategy="s", engine="fno", exchange="NFO", symbol="X",
        instrument_token=1, side=Side.BUY, quantity=qty, price=price,
    )
    assert codec.decode_body(codec.encode_body(intent)) == intent


def test_every_message_type_is_registered_with_a_unique_tag() -> None:
    assert len(MESSAGE_TYPES) == 13
    assert all(cls.__struct_config__.tag == tag for tag, cls in MESSAGE_TYPES.items())


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xc1", "invalid body"),  # not msgpack
        (msgspec.msgpack.encode({"type": "nope", "ts_event": 1}), "Invalid value 'nope'"),
        (msgspec.msgpack.encode({"type": "tick", "ts_event": 1}), "missing required field"),
        (msgspec.msgpack.encode({"type": "control", "ts_event": -5, "command_id": "c", "action": "HALT"}), ">= 0"),
        (msgspec.msgpack.encode({"type": "control", "ts_event": 5, "command_id": "c", "action": "BOOM"}), "action"),
    ],
)
def test_bad_bodies_raise_decode_error_with_the_reason(body: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match="invalid body") as info:
        codec.decode({codec.F_BODY: body})
    assert fragment in str(info.value)


def test_newer_schema_is_rejected() -> None:
    cmd = ControlCommand(ts_event=1, command_id="c", action=ControlAction.HALT, schema=SCHEMA + 1)
    with pytest.raises(DecodeError, match="newer"):
        codec.decode_body(codec.encode_body(cmd))


def test_entry_without_body_names_its_fields() -> None:
    with pytest.raises(DecodeError, match=r"no .body. field.*type"):
        codec.decode({b"type": b"tick"})


def test_depth_is_compact_on_the_wire() -> None:
    # Depth travels as flat arrays (no per-level maps or structs): small and fast to decode.
    assert len(codec.encode_body(make_tick())) < 450
    assert msgspec.msgpack.decode(codec.encode_body(make_tick()))["bid_prices"][0] == 24499.95
    assert make_tick().bids[0].quantity == 65  # levels are still there for readers
    assert Tick.__struct_config__.frozen

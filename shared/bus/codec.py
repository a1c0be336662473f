"""Stream entry <-> message.

An entry has four fields: ``type``, ``symbol`` and ``time`` (IST, ISO 8601) in plain text
for people running ``redis-cli XRANGE``, and ``body``: the message as msgpack. Decoding
validates the body against its typed contract in one native pass (msgspec); any failure
raises ``DecodeError`` with the reason, and the bus routes the entry to ``deadletter``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.clock import IstFormatter
from shared.contracts import SCHEMA, AnyMessage, Message
from shared.errors import DecodeError

F_TYPE = b"type"
F_SYMBOL = b"symbol"
F_TIME = b"time"
F_BODY = b"body"

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(AnyMessage)
_fmt = IstFormatter()


def encode_body(msg: Message) -> bytes:
    return _encoder.encode(msg)


def encode(msg: Message) -> dict[bytes, bytes | str]:
    """The stream entry fields for a message."""
    return {
        F_TYPE: msg.__struct_config__.tag,  # type: ignore[dict-item]
        F_SYMBOL: msg.label(),
        F_TIME: _fmt(msg.ts_event),
        F_BODY: _encoder.encode(msg),
    }


def decode_body(body: bytes) -> Message:
    try:
        msg: Message = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"invalid body: {exc}") from exc
    if msg.schema > SCHEMA:
        raise DecodeError(f"schema {msg.schema} of {msg.__struct_config__.tag!r} is newer than {SCHEMA}")
    return msg


def decode_flat(flat: list[bytes]) -> Message:
    """The message in a raw entry ``[k1, v1, k2, v2, ...]`` as XREADGROUP returns it."""
    if len(flat) == 8 and flat[6] == F_BODY:  # the bus writes the body 4th: skip the dict
        try:
            msg: Message = _decoder.decode(flat[7])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"invalid body: {exc}") from exc
        if msg.schema > SCHEMA:
            raise DecodeError(f"schema {msg.schema} of {msg.__struct_config__.tag!r} is newer than {SCHEMA}")
        return msg
    return decode(dict(zip(flat[::2], flat[1::2], strict=False)))


def decode(fields: dict[bytes, bytes]) -> Message:
    """The message in a stream entry, or ``DecodeError`` saying what is wrong."""
    body = fields.get(F_BODY)
    if body is None:
        raise DecodeError(f"entry has no 'body' field (fields: {sorted(k.decode(errors='replace') for k in fields)})")
    return decode_body(body)


def to_builtins(msg: Message) -> dict[str, Any]:
    """A JSON-ready dict of a message (enums as strings, tag as ``type``)."""
    out: dict[str, Any] = msgspec.to_builtins(msg)
    return out


def json_line(msg: Message) -> str:
    return msgspec.json.encode(msg).decode()

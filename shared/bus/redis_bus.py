"""The Redis streams transport: the only module that imports ``redis``.

Publishing is pipelined: ``publish_many`` sends a whole batch in one round trip, with an
approximate MAXLEN on capped streams (``streams.maxlen``). Consuming goes through consumer
groups: a consumer first re-reads its own pending entries (what it had read but not
acknowledged before a crash), then new ones; the caller acknowledges only after the
effect is durable. An entry that fails to decode or validate is copied to ``deadletter``
with the reason and acknowledged, so one bad message never stops a service.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import redis
from redis.exceptions import ResponseError

from shared.bus import codec, streams
from shared.bus.resp import BatchPacker
from shared.clock import wall_ns
from shared.contracts import Message
from shared.errors import DecodeError
from shared.instruments import InstrumentsMaster

log = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def connect(url: str | None = None, *, timeout: float = 5.0) -> redis.Redis:
    """A client for ``url`` (default ``$REDIS_URL``), checked with a PING.

    Raises ``ConnectionError`` naming the URL when the server cannot be reached.
    """
    url = url or os.environ.get("REDIS_URL") or DEFAULT_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_keepalive=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(f"cannot reach Redis at {url}: {exc}") from exc
    return client


class Delivery(NamedTuple):
    """One message read from a stream through a consumer group (a tuple: cheap per tick)."""

    stream: str
    entry_id: bytes
    message: Message


class Bus:
    """Publish messages to streams; the factory for consumers."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._packer = BatchPacker()

    @classmethod
    def from_url(cls, url: str | None = None) -> Bus:
        return cls(connect(url))

    def publish(self, stream: str, msg: Message) -> bytes:
        """Append one message; returns its entry id."""
        entry_id: bytes = self.redis.xadd(
            stream, codec.encode(msg), maxlen=streams.maxlen(stream), approximate=True
        )
        return entry_id

    def publish_many(self, items: Iterable[tuple[str, Message]], chunk: int = 128) -> int:
        """Append many messages; returns when Redis has stored all of them.

        Chunks travel as server-side batches (``resp.BatchPacker``), and the next chunk is
        packed while Redis stores the previous one, so client and server work in parallel.
        Not a transaction: on an error, the chunks before it are stored.
        """
        batch = items if isinstance(items, list) else list(items)
        if not batch:
            return 0
        conn = self.redis.connection_pool.get_connection()
        in_flight = 0
        try:
            for start in range(0, len(batch), chunk):
                conn.send_packed_command([self._packer.pack(batch[start : start + chunk])], check_health=False)
                in_flight += 1
                if in_flight == 2:
                    self._read_reply(conn)
                    in_flight -= 1
            while in_flight:
                self._read_reply(conn)
                in_flight -= 1
        except BaseException:
            conn.disconnect()  # unread replies would poison the next command on this connection
            raise
        finally:
            self.redis.connection_pool.release(conn)
        return len(batch)

    @staticmethod
    def _read_reply(conn: Any) -> None:
        reply = conn.read_response()
        if isinstance(reply, ResponseError):
            raise reply

    def read_master(self, *keys: str) -> tuple[InstrumentsMaster, str] | None:
        """The instruments master (Kite CSV text) at the first of ``keys`` that exists, and that key.

        None when no key exists; ``DataError`` (naming the key) when the text does not parse.
        """
        for key in keys:
            raw = self.redis.get(key)
            if raw:
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                return InstrumentsMaster.from_csv_text(text, source=f"redis key {key}"), key
        return None

    def consumer(
        self,
        group: str,
        stream_names: Sequence[str],
        *,
        consumer_name: str | None = None,
        start_id: str = "$",
        read_ahead: bool = False,
        symbols: set[bytes] | None = None,
        filtered_streams: Sequence[str] | None = None,
    ) -> Consumer:
        return Consumer(
            self,
            group,
            stream_names,
            consumer_name=consumer_name,
            start_id=start_id,
            read_ahead=read_ahead,
            symbols=symbols,
            filtered_streams=filtered_streams,
        )

    def dead_letter(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], reason: str, group: str) -> None:
        """Copy a bad entry to ``deadletter`` with where it came from and why it failed."""
        self.redis.xadd(
            streams.DEADLETTER,
            {
                "type": "deadletter",
                "source_stream": stream,
                "source_id": entry_id,
                "group": group,
                "reason": reason[:2000],
                "time": str(wall_ns()),
                "original_type": fields.get(codec.F_TYPE, b""),
                "body": fields.get(codec.F_BODY, b""),
            },
            maxlen=streams.maxlen(streams.DEADLETTER),
            approximate=True,
        )


class Consumer:
    """Reads streams as one member of a consumer group.

    The consumer name defaults to ``<group>@<hostname>`` so a restarted service is the
    same consumer and gets its own pending entries back first. ``read_ahead`` (for tick
    consumers) overlaps Redis's work with decoding while there is a backlog.
    """

    def __init__(
        self,
        bus: Bus,
        group: str,
        stream_names: Sequence[str],
        *,
        consumer_name: str | None = None,
        start_id: str = "$",
        read_ahead: bool = False,
        symbols: set[bytes] | None = None,
        filtered_streams: Sequence[str] | None = None,
    ) -> None:
        self.bus = bus
        self.read_ahead = read_ahead
        #: When set, entries whose plain ``symbol`` field is not in it are skipped undecoded
        #: (and acknowledged with the next ``ack``): a tick consumer filters by its universe.
        self.symbols = symbols
        #: The streams the symbol filter applies to (None: all): one consumer can block on
        #: order intents and ticks at once and filter only the ticks. The symbols of the
        #: unfiltered entries join the filter for the rest of the read (streams are read in
        #: the order given): the ticks that arrive with a new order's intent are decoded.
        self.filtered_streams = None if filtered_streams is None else frozenset(filtered_streams)
        self._skipped: dict[str, list[bytes]] = {}
        self.redis = bus.redis
        self.group = group
        self.name = consumer_name or f"{group}@{socket.gethostname()}"
        self.streams = list(stream_names)
        self.dead_lettered = 0
        # Own pending entries are replayed first ("0"), then new ones (">").
        self._cursor: dict[str, str] = dict.fromkeys(self.streams, "0")
        self._pending_done_just_now = False
        self._ahead: Any = None  # a connection with a read-ahead XREADGROUP in flight
        for stream in self.streams:
            self.ensure_group(stream, start_id)

    def ensure_group(self, stream: str, start_id: str = "$") -> None:
        try:
            self.redis.xgroup_create(stream, self.group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_stale(self, min_idle_ms: int = 30_000, count: int = 1000) -> int:
        """Take over entries other (dead) members of the group left pending too long."""
        taken = 0
        for stream in self.streams:
            start = "0-0"
            while True:
                # (redis-py drops the next cursor when JUSTID is used, so take whole entries)
                res = self.redis.xautoclaim(stream, self.group, self.name, min_idle_ms, start_id=start, count=count)
                start, entries = res[0], res[1]
                taken += len(entries)
                if start in (b"0-0", "0-0"):
                    break
        if taken:
            # Claimed entries are now in our own pending list: replay it.
            self._cursor = dict.fromkeys(self.streams, "0")
        return taken

    def read(self, count: int = 500, block_ms: int | None = 1000) -> list[Delivery]:
        """Next messages: own pending entries first, then new ones.

        Entries that fail to decode are dead-lettered and acknowledged here; the caller
        acknowledges the rest with ``ack`` once their effect is durable.
        """
        out = self._read_once(count, block_ms)
        if not out and self._pending_done_just_now:
            out = self._read_once(count, block_ms)  # pending list was empty: go on to new entries
        return out

    def _read_once(self, count: int, block_ms: int | None) -> list[Delivery]:
        replaying = any(c != ">" for c in self._cursor.values())
        self._pending_done_just_now = False
        resp = self._xreadgroup(count, None if replaying else block_ms)
        out: list[Delivery] = []
        bad: dict[str, list[bytes]] = {}
        joined: set[bytes] = set()  # symbols of unfiltered entries read so far (see filtered_streams)
        for raw_stream, entries in resp or ():
            stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
            if self._cursor.get(stream) != ">" and not entries:
                self._cursor[stream] = ">"  # pending list drained
                self._pending_done_just_now = True
                continue
            decode_flat = codec.decode_flat
            append = out.append
            wanted = self.symbols
            only = self.filtered_streams
            if wanted is not None and only is not None and stream not in only:
                wanted = None
                joined.update(flat[3] for _, flat in entries if flat is not None and len(flat) == 8)
            elif joined and wanted is not None:
                wanted = wanted | joined
            skipped = self._skipped.setdefault(stream, []) if wanted is not None else []
            for entry_id, flat in entries:
                if flat is None:  # pending entry trimmed away from the stream
                    bad.setdefault(stream, []).append(entry_id)
                    continue
                if wanted is not None and len(flat) == 8 and flat[3] not in wanted:
                    skipped.append(entry_id)  # not ours: acknowledged with the next ack, never decoded
                    continue
                try:
                    append(Delivery(stream, entry_id, decode_flat(flat)))
                except DecodeError as exc:
                    fields = dict(zip(flat[::2], flat[1::2], strict=False))
                    log.warning("dead-lettering %s %s: %s", stream, entry_id, exc)
                    self.bus.dead_letter(stream, entry_id, fields, str(exc), self.group)
                    self.dead_lettered += 1
                    bad.setdefault(stream, []).append(entry_id)
            if self._cursor.get(stream) != ">" and entries:
                self._cursor[stream] = entries[-1][0].decode()  # continue through the pending list
        if replaying and not resp:
            self._cursor = dict.fromkeys(self.streams, ">")
            self._pending_done_just_now = True
        for stream, ids in bad.items():
            self.redis.xack(stream, self.group, *ids)
        return out

    def _xreadgroup(self, count: int, block_ms: int | None) -> Any:
        """XREADGROUP with the raw reply (lists from hiredis), skipping redis-py's per-entry dicts.

        While there is a backlog (the last read came back full), the next read is sent before
        this one's entries are decoded, so Redis prepares it while we work: reading ahead only
        moves entries into this consumer's pending list, which a restart replays.
        """
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, self.name, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", *self._cursor.keys(), *self._cursor.values()]
        pool = self.redis.connection_pool
        conn, self._ahead = self._ahead, None
        try:
            if conn is None:
                conn = pool.get_connection()
                conn.send_command(*args)
            reply = conn.read_response()
            replaying = any(c != ">" for c in self._cursor.values())
            if self.read_ahead and not replaying and reply and sum(len(e) for _, e in reply) >= count:
                conn.send_command(*args)
                self._ahead = conn
        except BaseException:
            conn.disconnect()  # type: ignore[union-attr]
            pool.release(conn)  # type: ignore[arg-type]
            raise
        if self._ahead is None:
            pool.release(conn)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def close(self) -> None:
        """Collect a read-ahead reply (its entries stay pending for the next start) and release."""
        conn, self._ahead = self._ahead, None
        if conn is not None:
            try:
                conn.read_response()
            finally:
                self.redis.connection_pool.release(conn)

    def ack_skipped(self) -> int:
        """Acknowledge the entries the symbol filter skipped (they have no effect to wait for)."""
        return self.ack(())

    def ack(self, deliveries: Iterable[Delivery]) -> int:
        by_stream: dict[str, list[bytes]] = {}
        if self._skipped:
            by_stream, self._skipped = self._skipped, {}
        for d in deliveries:
            by_stream.setdefault(d.stream, []).append(d.entry_id)
        by_stream = {k: v for k, v in by_stream.items() if v}
        if not by_stream:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.group, *ids)
        return int(sum(pipe.execute()))

    def pending_count(self) -> int:
        total = 0
        for stream in self.streams:
            info: Any = self.redis.xpending(stream, self.group)
            total += int(info["pending"])
        return total

"""The strategy-engine service shared by ``services.fno`` and ``services.equity``.

One loop: read ticks of one exchange stream (consumer group ``<name>``, read-ahead) ->
``TradingEngine.on_tick`` -> publish the Signals (``signals``) and OrderIntents
(``orders.intents``) -> checkpoint the engine -> acknowledge the ticks. A subclass says
which stream (``exchange``), which instruments (``resolve_universe``) and how intents are
tagged (``tag_fn``); everything else lives here. docs/engines.md has the long form.

Durability: ticks are acknowledged only after a checkpoint that contains their effect, so
after a crash the pending entries (what was read since the last checkpoint) are replayed
into the restored engine. The checkpoint records the last stream entry it contains;
replayed entries up to it are skipped, the rest are processed again and give the same
ids (signal and intent ids are hashes of engine, strategy, symbol, bar time and kind).
A batch that produced an intent is always checkpointed before its ticks are acknowledged;
otherwise a checkpoint is written every ``checkpoint_every_s`` seconds or
``checkpoint_every_ticks`` ticks, whichever comes first.

Time is event time: the day (and with it the universe) rolls on the first tick of a new
IST date, and at 15:30 IST event time the bars still open are closed (``flush``).
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from datetime import time as dtime
from typing import Any, ClassVar, Final

from shared.bus import codec, streams
from shared.bus.redis_bus import Bus, Consumer, Delivery
from shared.candles import CandleBuilder
from shared.clock import MARKET_CLOSE, ist_datetime, ist_day, ist_to_ns, wall_ns
from shared.config import Settings, StrategyEngineConfig
from shared.contracts import Bar, InstrumentsPublished, OrderIntent, Signal, Tick
from shared.enums import Product, ServiceState
from shared.errors import ConfigError, DataError, DecodeError, InstrumentError, KiteAlgoError
from shared.instruments import InstrumentsMaster
from shared.runtime.service import Service
from shared.state.checkpoint import CheckpointError, encode_checkpoint, read_checkpoint_or_backup, store_checkpoint
from shared.trading.engine import Output, TagFn, TradingEngine

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT: Final = 1
PROFILE: Final = "INTRADAY"
HISTORY_CHUNK: Final = 5_000  # entries per XRANGE while warming up
ACK_CHUNK: Final = 10_000

#: instrument token -> (logical name, tradingsymbol, exchange): what ``TradingEngine`` trades.
Symbols = dict[int, tuple[str, str, str]]
EntryId = tuple[int, int]


class StartupError(KiteAlgoError):
    """The service cannot start (no instruments master, an unusable universe)."""

    exit_code = 1


def parse_entry_id(entry_id: bytes | str) -> EntryId:
    """``b"1700000000000-3"`` -> ``(1700000000000, 3)``: stream ids compare as these tuples."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def session_bounds(day: date) -> tuple[int, int]:
    """(15:30 IST close, next IST midnight) of ``day`` in epoch ns."""
    close_ns = ist_to_ns(ist_datetime(day, MARKET_CLOSE))
    next_day_ns = ist_to_ns(ist_datetime(day + timedelta(days=1), dtime(0, 0)))
    return close_ns, next_day_ns


def remap_snapshot(
    snapshot: Mapping[str, Any],
    old: Mapping[int, Sequence[str]],
    new: Mapping[int, Sequence[str]],
) -> dict[str, Any]:
    """``snapshot`` with the state of each logical name moved to its new contract (a future roll).

    ``old``/``new``: token -> (logical, tradingsymbol, exchange) before and after. Indicator
    series move to the new token and the strategies' market memory to the new symbol, so a
    rolled future keeps its warmed-up EMAs instead of starting cold for days. Positions are
    not moved: they are in the old contract (and a new day drops them anyway).
    """
    new_by_logical = {info[0]: (token, info[1]) for token, info in new.items()}
    # A logical name held by several contracts (an underlying's CE and PE) names no single
    # successor: its contracts keep their own state.
    counts = Counter(info[0] for info in new.values())
    new_by_logical = {logical: target for logical, target in new_by_logical.items() if counts[logical] == 1}
    tokens: dict[int, tuple[int, str]] = {}
    symbols: dict[str, str] = {}
    for token, info in old.items():
        target = new_by_logical.get(info[0])
        if target is not None and target[0] != int(token):
            tokens[int(token)] = target
            symbols[info[1]] = target[1]
    if not tokens:
        return dict(snapshot)
    out = copy.deepcopy(dict(snapshot))
    present = {int(entry["token"]) for entry in out.get("series", [])}
    series = []
    for entry in out.get("series", []):
        token = int(entry["token"])
        if token in tokens:
            new_token, new_symbol = tokens[token]
            if new_token in present:
                continue  # the new contract already has its own series: keep that one
            entry["token"] = new_token
            indicators = entry.get("state", {}).get("indicators")
            if isinstance(indicators, dict) and "symbol" in indicators:
                indicators["symbol"] = new_symbol
        series.append(entry)
    out["series"] = series
    for strategy in out.get("strategies", []):
        memo = strategy.get("state", {}).get("memo", {})
        for old_symbol, new_symbol in symbols.items():
            if old_symbol in memo and new_symbol not in memo:
                memo[new_symbol] = memo.pop(old_symbol)
    return out


class EngineService(Service):
    """A strategy engine on the bus; subclasses set ``name``, ``exchange`` and ``resolve_universe``."""

    name = "engine"
    #: the tick stream read: ``ticks.<exchange>``
    exchange: ClassVar[str] = "NFO"
    product: ClassVar[Product] = Product.MIS

    # Tunables (instance attributes may override them, e.g. in tests).
    master_wait_s: float = 30.0
    read_count: int = 1000
    read_block_ms: int = 200
    checkpoint_every_s: float = 5.0
    checkpoint_every_ticks: int = 20_000

    def __init__(self, settings: Settings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.stream = streams.ticks(self.exchange)
        self.group = streams.group(self.name)
        self.checkpoint_path = settings.artifacts / "checkpoints" / f"engine_{self.name}.json"
        self.master: InstrumentsMaster | None = None
        self.day: date | None = None
        self.symbols: Symbols = {}
        self.engine: TradingEngine | None = None
        self.consumer: Consumer | None = None
        self.flushed = False  # the current day's bars were closed at 15:30
        self.last_batch = 0  # deliveries handled by the last run_once (drain loops in tests)
        self.counters = dict.fromkeys(
            ("ticks", "skipped", "bars", "signals", "intents", "checkpoints", "warmup_bars", "replay_skipped"), 0
        )
        self._close_ns = 0
        self._next_day_ns = 0
        self._boundary_ns = 0  # the next event time that needs attention: the close, or the next day
        self._skip_upto: EntryId | None = None  # replayed entries already inside the restored checkpoint
        self._unacked: list[bytes] = []
        self._closed_bars: list[Bar] = []  # the engine's closed bars, published on ``bars`` per batch
        self._last_entry_id = b""
        self._last_event_ns = 0
        self._last_checkpoint = time.monotonic()
        #: Called with every tick of the universe's stream before the engine sees it (after the
        #: close/day boundary); True when it changed the universe. None (fno, equity): no call,
        #: nothing on the hot path. The options engine follows spot and ATM with it.
        self.pre_tick: Callable[[Tick], bool] | None = None

    # -- hooks ----------------------------------------------------------------------------------
    def resolve_universe(self, master: InstrumentsMaster, day: date) -> Symbols:
        """The instruments to trade on ``day``: token -> (logical, tradingsymbol, exchange)."""
        raise NotImplementedError

    def engine_config(self) -> StrategyEngineConfig:
        """The strategy config the engine is built from (``strategy_engine``; none when disabled)."""
        cfg = self.settings.strategy_engine
        if not cfg.enabled:
            return cfg.model_copy(update={"engines": {}})
        return cfg

    def tag_fn(self) -> TagFn | None:
        """``OrderIntent.tag`` of each intent, from (strategy id, logical, symbol); None: no tag."""
        return None

    def annotate(self, out: list[Output]) -> list[Output]:
        """The engine's outputs of one tick (or of a close/day boundary) as published; as they are here.

        Called with the service's state as of the tick that made them (a subclass adds what it
        knows then, e.g. the options engine's spot).
        """
        return out

    def restore_extra(self, data: Mapping[str, Any]) -> None:
        """A subclass's own part of a checkpoint just restored (``checkpoint_data`` wrote it)."""

    # -- start ------------------------------------------------------------------------------------
    def run(self) -> int:
        """``Service.run``; a start-up failure is logged and heartbeated and becomes the exit code."""
        try:
            return super().run()
        except (StartupError, ConfigError) as exc:
            log.error("%s cannot start: %s", self.name, exc)
            self.state = ServiceState.STOPPED
            try:
                self.heartbeat(force=True, detail=f"cannot start: {exc}")
            except Exception:  # Redis may be the reason
                log.warning("could not publish the final heartbeat")
            return exc.exit_code

    def on_start(self) -> None:
        published = self.wait_for_master()
        if published is None:
            return  # asked to stop while waiting
        master, day = published
        self.master = master
        try:
            self.symbols = self.resolve_universe(master, day)
        except (InstrumentError, DataError) as exc:
            raise StartupError(f"universe of {day}: {exc}") from exc
        self.engine = self.build_engine(self.symbols)
        if not self.engine.strategies:
            log.warning("%s: no strategies configured (strategy_engine.engines.%s)", self.name, self.name)
        self._set_day(day)
        # Only the universe's ticks are decoded; the rest are acknowledged unread.
        self.consumer = self.bus.consumer(
            self.group, [self.stream], start_id="$", read_ahead=True, symbols=self._symbol_filter()
        )
        # Pending entries of any consumer of the group (a previous incarnation under another host
        # name included) are replayed first: one process per engine.
        pending = self.consumer.claim_stale(min_idle_ms=0)
        if pending:
            log.info("%s: %d pending entries of %s to replay", self.name, pending, self.stream)
        if not self.restore_checkpoint():
            self.counters["warmup_bars"] = self.warm_up_from_history()
        self.counters["bars"] = self.engine.counters()["bars"]
        log.info(
            "%s: day %s, %d instruments (%s), strategies %s, reading %s",
            self.name,
            day,
            len(self.symbols),
            ", ".join(info[1] for info in list(self.symbols.values())[:5]) + (" ..." if len(self.symbols) > 5 else ""),
            [s.id for s in self.engine.strategies],
            self.stream,
        )

    def wait_for_master(self) -> tuple[InstrumentsMaster, date] | None:
        """The master the feed last announced, waiting up to ``master_wait_s`` (heartbeating)."""
        deadline = time.monotonic() + self.master_wait_s
        while True:
            found = self.read_published_master()
            if found is not None:
                return found
            if self.stopping:
                return None
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"no instruments master after {self.master_wait_s:g}s: expected an InstrumentsPublished entry "
                    f"on stream {streams.INSTRUMENTS!r} and its Redis key ({streams.instruments_csv_key('<day>')}); "
                    f"is the feed running against {self.settings.redis.url}?"
                )
            self.heartbeat(detail="waiting for the instruments master")
            time.sleep(0.25)

    def read_published_master(self) -> tuple[InstrumentsMaster, date] | None:
        """(master, day) of the newest ``InstrumentsPublished`` on ``instruments``; None if absent."""
        entries = self.bus.redis.xrevrange(streams.INSTRUMENTS, count=1)
        if not entries:
            return None
        entry_id, fields = entries[0]
        try:
            msg = codec.decode(fields)
        except DecodeError as exc:
            log.warning("%s %s: undecodable entry: %s", streams.INSTRUMENTS, entry_id, exc)
            return None
        if not isinstance(msg, InstrumentsPublished):
            return None
        day = date.fromisoformat(msg.day)
        master = self.load_master(day, msg.key)
        return (master, day) if master is not None else None

    def load_master(self, day: date, key: str | None = None) -> InstrumentsMaster | None:
        """The master of ``day`` from Redis (its key, else ``instruments:latest``); None if neither exists."""
        wanted = key or streams.instruments_csv_key(day)
        found = self.bus.read_master(wanted, streams.INSTRUMENTS_LATEST)
        if found is None:
            return None
        master, used = found
        if used != wanted:
            log.warning("%s: Redis key %s is missing; using %s", self.name, wanted, used)
        return master

    def build_engine(self, symbols: Symbols) -> TradingEngine:
        """A fresh engine over ``symbols`` with this service's strategies, tags and product."""
        engine = TradingEngine.from_config(
            self.name,
            self.engine_config(),
            symbols=symbols,
            mode=self.settings.trading.mode,
            profile=PROFILE,
            tag_fn=self.tag_fn(),
            product=self.product,
            clock=wall_ns,
        )
        engine.closed_bars = self._closed_bars
        return engine

    def _set_day(self, day: date, *, flushed: bool = False) -> None:
        self.day = day
        self._close_ns, self._next_day_ns = session_bounds(day)
        self.flushed = flushed
        self._boundary_ns = self._next_day_ns if flushed else self._close_ns

    # -- checkpoint -------------------------------------------------------------------------------
    def checkpoint_data(self) -> dict[str, Any]:
        """The checkpoint: the engine's snapshot plus where in the stream and in the session it is."""
        assert self.engine is not None
        return {
            "format": CHECKPOINT_FORMAT,
            "service": self.name,
            "stream": self.stream,
            "day": self.day.isoformat() if self.day else None,
            "flushed": self.flushed,
            "last_entry_id": self._last_entry_id.decode(),
            "last_event_ns": self._last_event_ns,
            "universe": {str(token): list(info) for token, info in self.symbols.items()},
            "engine": self.engine.snapshot(),
        }

    def checkpoint_and_ack(self) -> None:
        """Make the engine state durable, then acknowledge the ticks it contains.

        The snapshot is taken now; ``artifacts/checkpoints/engine_<name>.json`` is written
        (atomically, the previous one -> ``.bak``) on the durable writer's thread while the
        loop reads the next ticks, and those ticks are acknowledged once it is on disk.
        """
        path = self.checkpoint_path
        raw = encode_checkpoint(path, self.checkpoint_data(), compact=True)
        ids, self._unacked = self._unacked, []
        self.durable.submit(lambda: store_checkpoint(path, raw), lambda: self.ack_processed(ids), key=str(path))
        self.counters["checkpoints"] += 1
        self._last_checkpoint = time.monotonic()

    def _symbol_filter(self) -> set[bytes]:
        """The universe, plus every future as a clock: futures tick all session, so the close
        flush and the day roll fire on time even when the universe itself is quiet or rolls."""
        wanted = {info[1].encode() for info in self.symbols.values()}
        if self.master is not None:
            wanted.update(i.tradingsymbol.encode() for i in self.master if i.is_future)
        return wanted

    def ack_processed(self, ids: list[bytes]) -> None:
        """Acknowledge ``ids`` (call only once a checkpoint contains them) and the skipped ticks."""
        if self.consumer is not None:
            self.consumer.ack_skipped()
        if not ids:
            return
        pipe = self.bus.redis.pipeline(transaction=False)
        for start in range(0, len(ids), ACK_CHUNK):
            pipe.xack(self.stream, self.group, *ids[start : start + ACK_CHUNK])
        pipe.execute()

    def restore_checkpoint(self) -> bool:
        """Load the checkpoint into the engine; False (logged) when there is none or it is unusable."""
        assert self.engine is not None and self.day is not None
        try:
            data, used = read_checkpoint_or_backup(self.checkpoint_path)
        except CheckpointError as exc:
            log.error("%s: %s; starting without it", self.name, exc)
            return False
        if data is None:
            return False
        try:
            if data.get("format") != CHECKPOINT_FORMAT or data.get("service") != self.name:
                raise ValueError(
                    f"format {data.get('format')!r} of service {data.get('service')!r}; "
                    f"expected format {CHECKPOINT_FORMAT} of {self.name!r}"
                )
            old = {int(token): tuple(info) for token, info in data["universe"].items()}
            notes = self.engine.restore(remap_snapshot(data["engine"], old, self.symbols))
            last_entry = str(data["last_entry_id"])
        except (KeyError, TypeError, ValueError) as exc:
            log.error("%s: checkpoint %s is unusable (%s); starting without it", self.name, used, exc)
            self.engine = self.build_engine(self.symbols)  # restore may have stopped half-way
            return False
        for note in notes:
            log.info("%s: restore: %s", self.name, note)
        if data.get("day") == self.day.isoformat():
            self._set_day(self.day, flushed=bool(data.get("flushed")))
        self._last_entry_id = last_entry.encode()
        self._last_event_ns = int(data.get("last_event_ns", 0))
        self.restore_extra(data)
        if last_entry:
            pending: Any = self.bus.redis.xpending(self.stream, self.group)
            if int(pending["pending"]):
                # Only replayed entries can be inside the checkpoint; a new entry never is.
                self._skip_upto = min(parse_entry_id(last_entry), parse_entry_id(pending["max"]))
        log.info("%s: restored %s (up to entry %s, positions %s)", self.name, used, last_entry, self.engine.positions())
        return True

    # -- warm-up ----------------------------------------------------------------------------------
    def _history_upper_bound(self) -> str | None:
        """The last stream entry before what this group will deliver (XRANGE bound), or None."""
        pending: Any = self.bus.redis.xpending(self.stream, self.group)
        if int(pending["pending"]):
            first = pending["min"]
            return "(" + (first.decode() if isinstance(first, bytes) else str(first))
        for group in self.bus.redis.xinfo_groups(self.stream):
            name = group.get("name", group.get(b"name"))
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                last = group.get("last-delivered-id", group.get(b"last-delivered-id"))
                text = last.decode() if isinstance(last, bytes) else str(last)
                return None if text == "0-0" else text
        return None

    def warm_up_from_history(self) -> int:
        """Without a checkpoint: run the ticks already in the stream through the engine, trading nothing.

        Bars are built from the stream's history (up to what the group delivers next) and go
        to ``TradingEngine.warm_up``: indicators and the strategies' market memory are warm,
        no decision is taken and nothing is published. Returns the bars applied.
        """
        assert self.engine is not None
        upper = self._history_upper_bound()
        if upper is None:
            return 0
        builder = CandleBuilder(self.engine.timeframes or ("1m",))
        universe = self.symbols
        start, applied, ticks = "-", 0, 0
        while not self.stopping:
            entries = self.bus.redis.xrange(self.stream, min=start, max=upper, count=HISTORY_CHUNK)
            bars = []
            for _entry_id, fields in entries:
                try:
                    msg = codec.decode(fields)
                except DecodeError:
                    continue
                if isinstance(msg, Tick) and msg.instrument_token in universe:
                    ticks += 1
                    bars.extend(builder.on_tick(msg))
            if bars:
                applied += self.engine.warm_up(bars)
            self.heartbeat(detail="warming up from the tick stream")
            if len(entries) < HISTORY_CHUNK:
                break
            last = entries[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        if ticks:
            log.info("%s: warmed up from %d ticks of %s history: %d bars", self.name, ticks, self.stream, applied)
        return applied

    # -- the loop ---------------------------------------------------------------------------------
    def run_once(self) -> None:
        if self.consumer is None:  # stopped before start-up finished
            time.sleep(0.1)
            return
        deliveries = self.consumer.read(count=self.read_count, block_ms=self.read_block_ms)
        self.last_batch = len(deliveries)
        intents = self.handle(deliveries) if deliveries else 0
        if self._unacked and (
            intents
            or len(self._unacked) >= self.checkpoint_every_ticks
            or time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s
        ):
            self.checkpoint_and_ack()

    def handle(self, deliveries: Sequence[Delivery]) -> int:
        """Run a batch of tick deliveries through the engine and publish the outputs; returns intents."""
        assert self.engine is not None
        out: list[Output] = []
        on_tick = self.engine.on_tick
        universe = self.symbols
        boundary = self._boundary_ns
        pre_tick = self.pre_tick
        skipped = 0
        intents = 0
        inside: list[bytes] = []  # replayed entries the restored checkpoint already contains
        for d in deliveries:
            if self._skip_upto is not None:
                if parse_entry_id(d.entry_id) <= self._skip_upto:
                    inside.append(d.entry_id)
                    continue
                self._skip_upto = None  # replay is in id order: past the checkpoint from here on
            tick = d.message
            if not isinstance(tick, Tick):
                log.warning("%s: ignoring %s on %s", self.name, type(tick).__name__, d.stream)
                continue
            if tick.ts_event >= boundary:
                out.extend(self.annotate(self._cross_boundary(tick.ts_event)))
                on_tick, universe, boundary = self.engine.on_tick, self.symbols, self._boundary_ns
            if pre_tick is not None and pre_tick(tick):
                on_tick, universe = self.engine.on_tick, self.symbols
            self._last_event_ns = tick.ts_event
            if tick.instrument_token not in universe:
                skipped += 1
                continue
            res = on_tick(tick)
            if res:
                res = self.annotate(res)
                out.extend(res)
                if any(isinstance(m, OrderIntent) for m in res):
                    # an order goes out now, not after the rest of the batch (latency); still
                    # acknowledged only after the checkpoint that contains it
                    intents += self.publish(out)
                    out = []
        if inside:
            self.bus.redis.xack(self.stream, self.group, *inside)  # their effect is durable already
            self.counters["replay_skipped"] += len(inside)
            if len(inside) == len(deliveries):
                return intents
        self._last_entry_id = deliveries[-1].entry_id
        self._unacked.extend(d.entry_id for d in deliveries[len(inside) :])
        if out:
            intents += self.publish(out)
        self.publish_bars()
        c = self.counters
        c["ticks"] += len(deliveries) - len(inside)
        c["skipped"] += skipped
        c["bars"] = self.engine.counters()["bars"]
        return intents

    def publish(self, out: list[Output]) -> int:
        """Signals to ``signals``, intents to ``orders.intents`` (one round trip); returns the intents."""
        items = [(streams.ORDER_INTENTS if isinstance(m, OrderIntent) else streams.SIGNALS, m) for m in out]
        self.bus.publish_many(items)
        intents = sum(1 for m in out if isinstance(m, OrderIntent))
        self.counters["intents"] += intents
        self.counters["signals"] += sum(1 for m in out if isinstance(m, Signal))
        for m in out:
            if isinstance(m, OrderIntent):
                log.info("intent %s %s %s %s (%s)", m.intent_id, m.strategy, m.side, m.symbol, m.reason)
        return intents

    def publish_bars(self) -> None:
        """The bars closed since the last call, to ``bars`` (the dashboard's candle charts)."""
        if self._closed_bars:
            self.bus.publish_many([(streams.BARS, bar) for bar in self._closed_bars])
            self._closed_bars.clear()

    def _cross_boundary(self, ts: int) -> list[Output]:
        """Event time reached the close (flush the open bars) or a new IST day (roll the universe)."""
        assert self.engine is not None
        out: list[Output] = []
        day = ist_day(ts)
        if self.day is None or day > self.day:
            if self.day is not None and not self.flushed:
                out.extend(self.engine.flush(self._close_ns))
            self.roll_day(day)
        if ts >= self._close_ns and not self.flushed:
            out.extend(self.engine.flush(self._close_ns))
            self._set_day(day, flushed=True)
        return out

    def roll_day(self, day: date) -> None:
        """A new IST day: re-resolve the universe from that day's master (a future may have rolled)."""
        assert self.engine is not None
        master = self.load_master(day) or self.master
        if master is None:
            log.error("%s: no instruments master for %s; keeping the universe", self.name, day)
            self._set_day(day)
            return
        try:
            symbols = self.resolve_universe(master, day)
        except (InstrumentError, DataError) as exc:
            log.error("%s: universe of %s: %s; keeping the previous one", self.name, day, exc)
            symbols = self.symbols
        if symbols != self.symbols:
            snapshot = remap_snapshot(self.engine.snapshot(), self.symbols, symbols)
            engine = self.build_engine(symbols)
            for note in engine.restore(snapshot):
                log.info("%s: new universe: %s", self.name, note)
            gone = sorted(info[1] for t, info in self.symbols.items() if t not in symbols)
            came = sorted(info[1] for t, info in symbols.items() if t not in self.symbols)
            log.info("%s: universe of %s: -%s +%s", self.name, day, gone, came)
            self.engine, self.symbols = engine, symbols
        self.master = master
        if self.consumer is not None:
            self.consumer.symbols = self._symbol_filter()
        self._set_day(day)

    # -- stop and health --------------------------------------------------------------------------
    def on_stop(self) -> None:
        if self.consumer is None:
            return
        try:
            if self.engine is not None and self._unacked:
                self.checkpoint_and_ack()
            self.durable.drain()  # written and acknowledged before the consumer goes
        except Exception:  # Redis may be why we stop: the checkpoint is written first, replay covers the rest
            log.exception("%s: final checkpoint/ack failed", self.name)
        finally:
            self.consumer.close()

    def health_detail(self) -> str:
        return f"day={self.day} universe={len(self.symbols)} event_time_ns={self._last_event_ns}"

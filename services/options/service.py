"""The options engine: the common engine service over a universe that follows ATM.

Spot: the underlying's index level (``ticks.INDICES``: ``NIFTY 50``, ``NIFTY BANK``, ...)
while it is fresh (``options.spot_max_age_s`` of event time), else its current future's LTP.
Index ticks are read from their stream by this service (a cursor kept in the checkpoint, no
consumer group) and applied in event-time order with the ``ticks.NFO`` ticks the engine
consumes: an index tick goes in just before the first NFO tick with a later event time, so
at ``speed=max``, where the feed runs far ahead, the engine never sees an index level from
its future, and a replay after a crash applies them at the same places.

On every spot change ATM is checked against the option's forward (the index carried to the
traded expiry, or the future carried back to it: ``atm_reference``); only when the forward
leaves the current strike's band (``keep_band``, with ``options.atm_hysteresis``) or the
traded expiry may roll are the ATM strike, the expiry and the window of strikes chosen again
(``shared.options.chain``). When they move, the engine follows the new window (indicators of
every window contract stay warm; strategies enter only the ATM CE and PE) and asks the feed on
``control.feed`` to stream the new strikes and to drop the ones no longer needed. A contract a
strategy holds is never dropped, so its candles have no gap.

Which spot is used is said in the log (when it switches), in the heartbeat detail, and in
every signal (indicators ``spot_source``/``spot``/``spot_forward``, and at the end of the
reason, which signals.csv carries).

Outgoing intents are sized in lots (``options.lots``, the master's lot size), carry the
option's underlying, strike, expiry and type, and are split into several intents when the
quantity is above the exchange's freeze limit (``options.freeze_limits``). An exit asks for
what its strategy holds (its last slice's quantity is 0: risk sizes it from the strategy's
own fills, less the exits it already approved).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

import msgspec

from shared.bus import codec, streams
from shared.bus.redis_bus import Bus, Delivery
from shared.clock import NS, wall_ns
from shared.config import Settings
from shared.contracts import FeedSubscription, OrderIntent, Signal, Tick
from shared.enums import FeedAction
from shared.errors import DecodeError, InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.options.chain import (
    OptionSelection,
    SpotChoice,
    SpotQuote,
    atm_reference,
    choose_spot,
    expiry_valid_until,
    keep_band,
    select_options,
    selection_at,
    split_quantity,
    trading_expiry,
)
from shared.runtime.engine_service import EngineService, Symbols
from shared.sim.calendar import session_open_ns
from shared.state.checkpoint import CheckpointError, read_checkpoint_or_backup
from shared.strategies.base import parse_hhmm
from shared.trading.engine import Output, TradingEngine

log = logging.getLogger(__name__)

INDEX_CHUNK: Final = 500  # ticks.INDICES entries per XRANGE
_LAST_SEQ: Final = "18446744073709551615"  # the largest sequence of a stream id: "<ms>-<this>" ends a millisecond


class OptionsService(EngineService):
    """Index options at the money: ticks.NFO (and index levels) in; signals, order intents and feed requests out."""

    name = "options"
    exchange = "NFO"
    resubscribe_every_s: float = 30.0

    def __init__(self, settings: Settings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.options = settings.options
        self.underlyings = list(settings.trading.options_underlyings)
        self.roll_cutoff_s = parse_hhmm(self.options.expiry_roll_cutoff, where="options.expiry_roll_cutoff")
        self.spot_max_age_ns = int(self.options.spot_max_age_s * NS)
        self.index_stream = streams.ticks("INDICES")
        self.future_of: dict[str, str] = {}  # current future tradingsymbol -> underlying
        self.future_expiry: dict[str, date] = {}  # underlying -> its current future's expiry
        self.index_of: dict[str, str] = {}  # index tradingsymbol (NIFTY 50) -> underlying
        self.index_quote: dict[str, SpotQuote] = {}  # underlying -> its index's last level
        self.future_quote: dict[str, SpotQuote] = {}  # underlying -> its current future's LTP
        self.spot_used: dict[str, SpotChoice] = {}  # underlying -> the spot followed now
        self.forward: dict[str, float] = {}  # underlying -> the forward ATM was last checked against
        self.selections: dict[str, OptionSelection] = {}
        self.subscribed: set[int] = set()  # tokens this engine asked the feed for
        self.counters.update(atm_moves=0, subscribe_requests=0, split_intents=0, index_ticks=0, spot_switches=0)
        self._next_full_request = 0.0
        # ATM stays while the forward is inside this band, until the traded expiry may roll
        self._keep: dict[str, tuple[float, float]] = {}
        self._valid_until: dict[str, int] = {}
        self._select_error: dict[str, str] = {}  # underlying -> the last selection error logged
        # ticks.INDICES: entries read ahead (not applied yet), the last read and the last applied
        self._index_buffer: deque[tuple[bytes, Tick]] = deque()
        self._index_read = b""  # "": not positioned in the stream yet
        self._index_read_ts = 0
        self._index_applied = b""
        self.pre_tick = self._follow_tick

    # -- the universe -------------------------------------------------------------------------
    def resolve_universe(self, master: InstrumentsMaster, day: date) -> Symbols:
        self.future_of, self.index_of = {}, {}
        for name in self.underlyings:
            try:
                fut = master.future(name, day)
            except InstrumentError as exc:
                log.error("options: %s skipped: %s", name, exc)
                continue
            self.future_of[fut.tradingsymbol] = name
            if fut.expiry is not None:
                self.future_expiry[name] = fut.expiry
            try:
                self.index_of[master.index(name).tradingsymbol] = name
            except InstrumentError as exc:
                log.warning("options: %s: %s; its spot is the future's LTP", name, exc)
        if self.day is None:  # start-up: carry on with the universe of a checkpoint of the same day
            saved = self._saved(day)
            if saved is not None:
                self.subscribed = {int(t) for t in saved.get("subscribed", [])}
                return {int(token): tuple(info) for token, info in saved["universe"].items()}  # type: ignore[misc]
        # a new day: yesterday's spot chooses the first ATM until the day's first price
        self.selections = {}
        self._select(master, session_open_ns(day))
        return self._universe(master)

    def _saved(self, day: date) -> dict[str, Any] | None:
        try:
            data, _ = read_checkpoint_or_backup(self.checkpoint_path)
        except CheckpointError:
            return None
        if data is None or data.get("day") != day.isoformat() or not isinstance(data.get("universe"), dict):
            return None
        return data

    def _select(self, master: InstrumentsMaster, now_ns: int) -> bool:
        """Choose each underlying's expiry, ATM and window at ``now_ns``; True if any changed."""
        changed = False
        for name in self.underlyings:
            # (a day's first choice, from yesterday's prices: not a switch of source to report)
            choice = choose_spot(self.index_quote.get(name), self.future_quote.get(name), now_ns, self.spot_max_age_ns)
            if choice is not None:
                changed = self._reselect(master, name, choice, now_ns) or changed
        return changed

    def _reselect(self, master: InstrumentsMaster, name: str, choice: SpotChoice, now_ns: int) -> bool:
        """Choose ``name``'s expiry, ATM and window from ``choice`` at ``now_ns``; True if they moved."""
        band = self.options.atm_hysteresis
        try:
            expiry = trading_expiry(master, name, now_ns, self.roll_cutoff_s)
            forward = atm_reference(choice, expiry, self.future_expiry.get(name), now_ns, self.options.rate)
            sel = select_options(
                master,
                name,
                forward,
                now_ns,
                each_side=self.options.strikes_each_side,
                roll_cutoff_s=self.roll_cutoff_s,
                previous=self.selections.get(name),
                band=band,
            )
            keep = keep_band(master.strikes(name, sel.expiry), sel.atm, band)
        except InstrumentError as exc:
            # tried again on the next price; said once, not on every tick
            if self._select_error.get(name) != str(exc):
                self._select_error[name] = str(exc)
                log.error("options: no contracts for %s at %s %.2f: %s", name, choice.source, choice.price, exc)
            return False
        self._select_error.pop(name, None)
        self.forward[name] = forward
        self._keep[name] = keep
        self._valid_until[name] = expiry_valid_until(sel.expiry, now_ns, self.roll_cutoff_s)
        old = self.selections.get(name)
        if old is not None and (old.expiry, old.atm) == (sel.expiry, sel.atm):
            return False
        self.selections[name] = sel
        self.counters["atm_moves"] += 1
        log.info(
            "options: %s %s %.2f, forward %.2f -> ATM %s expiry %s (%s / %s)",
            name,
            choice.source,
            choice.price,
            forward,
            f"{sel.atm:g}",
            sel.expiry,
            sel.call.tradingsymbol,
            sel.put.tradingsymbol,
        )
        return True

    def _adopt(self, master: InstrumentsMaster, name: str, expiry: date, atm: float, now_ns: int) -> None:
        """Take a checkpoint's selection of ``name`` back as it was."""
        sel = selection_at(master, name, expiry, atm, each_side=self.options.strikes_each_side)
        self.selections[name] = sel
        self._keep[name] = keep_band(master.strikes(name, expiry), atm, self.options.atm_hysteresis)
        self._valid_until[name] = expiry_valid_until(expiry, now_ns, self.roll_cutoff_s)

    # -- spot ------------------------------------------------------------------------------------
    def _choose(self, name: str, now_ns: int) -> SpotChoice | None:
        """The spot of ``name`` at ``now_ns``; a change of source is logged and counted."""
        choice = choose_spot(self.index_quote.get(name), self.future_quote.get(name), now_ns, self.spot_max_age_ns)
        if choice is None:
            return None
        before = self.spot_used.get(name)
        self.spot_used[name] = choice
        if before is None or before.source != choice.source:
            if before is not None:
                self.counters["spot_switches"] += 1
            index = self.index_quote.get(name)
            if choice.source == "index":
                why = "fresh index level"
            elif index is None:
                why = "no index level seen" if self.spot_max_age_ns > 0 else "options.spot_max_age_s is 0"
            else:
                why = (
                    f"the index level is {(now_ns - index.ts_ns) / NS:.1f}s old, "
                    f"past options.spot_max_age_s {self.options.spot_max_age_s:g}"
                )
            log.info("options: %s spot from the %s now (%.2f): %s", name, choice.source, choice.price, why)
        return choice

    def _spot_moved(self, name: str, now_ns: int) -> bool:
        """A new price of ``name`` at ``now_ns``: follow ATM; True when the universe changed."""
        choice = self._choose(name, now_ns)
        if choice is None or self.master is None:
            return False
        sel = self.selections.get(name)
        if sel is not None and now_ns < self._valid_until.get(name, 0):
            forward = atm_reference(choice, sel.expiry, self.future_expiry.get(name), now_ns, self.options.rate)
            self.forward[name] = forward
            low, high = self._keep[name]
            if low <= forward <= high:
                return False  # the common case: two comparisons, no selection
        if not self._reselect(self.master, name, choice, now_ns):
            return False
        # the engine follows at once (the next tick may be an entry); the feed is asked once a batch
        self._follow_universe(ask_feed=False)
        return True

    def _follow_tick(self, tick: Tick) -> bool:
        """Before the engine sees ``tick``: the index levels older than it, then its own price if a future."""
        changed = self._apply_indices(tick.ts_event)
        name = self.future_of.get(tick.symbol)
        if name is not None:
            self.future_quote[name] = SpotQuote(tick.last_price, tick.ts_event)
            changed = self._spot_moved(name, tick.ts_event) or changed
        return changed

    def _apply_indices(self, before_ns: int) -> bool:
        """Apply the buffered index ticks with an event time before ``before_ns``; True if the universe changed.

        Strictly before: an index tick of the same event time as an NFO tick may reach Redis
        after it (another chunk of the feed's batch), so it goes in with the next NFO tick,
        the same on a first run and on a replay.
        """
        buffer = self._index_buffer
        changed = False
        while buffer and buffer[0][1].ts_event < before_ns:
            entry_id, tick = buffer.popleft()
            self._index_applied = entry_id
            name = self.index_of.get(tick.symbol)
            if name is None:
                continue
            self.index_quote[name] = SpotQuote(tick.last_price, tick.ts_event)
            self.counters["index_ticks"] += 1
            changed = self._spot_moved(name, tick.ts_event) or changed
        return changed

    def _read_indices(self, deliveries: Sequence[Delivery]) -> None:
        """Buffer the index ticks a batch needs: every ``ticks.INDICES`` entry up to its last event time.

        The feed publishes in event-time order, so when an NFO tick is in Redis every index tick
        of an earlier event time is too: reading after the NFO batch finds all of them. Reading
        stops at the first entry past the batch, so a feed running ahead is not read ahead.
        """
        if not self.index_of or self.spot_max_age_ns <= 0:
            return
        upto = next((d.message.ts_event for d in reversed(deliveries) if isinstance(d.message, Tick)), 0)
        if not upto:
            return
        if not self._index_read:
            self._seek_indices(deliveries[0])
        while self._index_read_ts < upto:
            entries = self.bus.redis.xrange(self.index_stream, min="(" + self._index_read.decode(), count=INDEX_CHUNK)
            for entry_id, fields in entries:
                self._buffer_index(entry_id, fields)
            if len(entries) < INDEX_CHUNK:
                break

    def _buffer_index(self, entry_id: bytes, fields: Mapping[bytes, bytes]) -> None:
        self._index_read = entry_id
        try:
            msg = codec.decode(fields)
        except DecodeError:
            return
        if isinstance(msg, Tick):
            self._index_read_ts = max(self._index_read_ts, msg.ts_event)
            if msg.symbol in self.index_of:
                self._index_buffer.append((entry_id, msg))

    def _seek_indices(self, first: Delivery) -> None:
        """Position the index cursor for a start without a checkpoint: at the first NFO tick read.

        Index ticks of an earlier event time were published before it (so with an entry id of
        at most its millisecond): walk back from there to ``spot_max_age_s`` before its event
        time, and buffer from there on.
        """
        floor = first.message.ts_event - self.spot_max_age_ns if isinstance(first.message, Tick) else 0
        ms = first.entry_id.split(b"-")[0].decode()
        upper = f"{ms}-{_LAST_SEQ}"
        found: list[tuple[bytes, Any]] = []
        while True:
            entries = self.bus.redis.xrevrange(self.index_stream, max=upper, count=INDEX_CHUNK)
            older = False
            for entry_id, fields in entries:
                found.append((entry_id, fields))
                try:
                    msg = codec.decode(fields)
                except DecodeError:
                    continue
                if isinstance(msg, Tick) and msg.ts_event < floor:
                    older = True
                    break
            if older or len(entries) < INDEX_CHUNK:
                break
            upper = "(" + entries[-1][0].decode()
        self._index_read = b"0-0"
        for entry_id, fields in reversed(found):
            self._buffer_index(entry_id, fields)
        log.info(
            "options: %s read from entry %s (%d index ticks before the first NFO tick)",
            self.index_stream,
            found[-1][0].decode() if found else "0-0",
            len(self._index_buffer),
        )

    def held_instruments(self, master: InstrumentsMaster) -> list[Instrument]:
        """The contracts the strategies hold (their view), from the master."""
        if self.engine is None:
            return []
        out = []
        for symbol in self.engine.held_symbols():
            try:
                out.append(master.by_symbol(self.exchange, symbol))
            except InstrumentError:
                log.warning("options: held %s is not in the master (expired?)", symbol)
        return out

    def _universe(self, master: InstrumentsMaster) -> Symbols:
        """Every window contract of every underlying, plus the held ones."""
        out: Symbols = {}
        for sel in self.selections.values():
            for inst in sel.window:
                out[inst.instrument_token] = (inst.name, inst.tradingsymbol, inst.exchange)
        for inst in self.held_instruments(master):
            out[inst.instrument_token] = (inst.name, inst.tradingsymbol, inst.exchange)
        return out

    def _follow_universe(self, *, ask_feed: bool = True) -> None:
        """Make the engine, the tick filter and (``ask_feed``) the feed's subscriptions follow the selections."""
        if self.master is None or self.engine is None:
            return
        universe = self._universe(self.master)
        if universe != self.symbols:
            self.symbols = universe
            if self.consumer is not None:
                self.consumer.symbols = self._symbol_filter()
        self.engine.update_symbols(universe, self.entry_tokens())
        if ask_feed:
            self.sync_subscriptions()

    def entry_tokens(self) -> set[int]:
        """The ATM CE and PE of each underlying: the only contracts strategies may enter."""
        return {t for sel in self.selections.values() for t in (sel.call.instrument_token, sel.put.instrument_token)}

    def build_engine(self, symbols: Symbols) -> TradingEngine:
        engine = super().build_engine(symbols)
        engine.update_symbols(symbols, self.entry_tokens())
        return engine

    def sync_subscriptions(self) -> None:
        """Ask the feed for the window and held contracts; drop what is no longer needed.

        Every ``resubscribe_every_s`` the whole wanted set is asked for again (the feed treats
        a repeated request as a no-op): a restarted feed forgets what it served.
        """
        wanted = set(self.symbols)
        add, drop = wanted - self.subscribed, self.subscribed - wanted
        if time.monotonic() >= self._next_full_request:
            add = wanted
            self._next_full_request = time.monotonic() + self.resubscribe_every_s
        if not add and not drop:
            return
        now = self._last_event_ns
        items = []
        for action, tokens in ((FeedAction.SUBSCRIBE, add), (FeedAction.UNSUBSCRIBE, drop)):
            if tokens:
                msg = FeedSubscription(
                    ts_event=now,
                    ts_init=wall_ns(),
                    action=action,
                    requester=self.name,
                    instrument_tokens=tuple(sorted(tokens)),
                )
                items.append((streams.CONTROL_FEED, msg))
        self.bus.publish_many(items)
        self.subscribed = wanted
        self.counters["subscribe_requests"] += len(items)
        log.info("options: feed +%d -%d contracts (%d streamed for this engine)", len(add), len(drop), len(wanted))

    # -- the loop -------------------------------------------------------------------------------
    def handle(self, deliveries: Sequence[Delivery]) -> int:
        self._read_indices(deliveries)
        intents = super().handle(deliveries)
        # contracts a strategy stopped holding leave the universe (and the feed) here, once a batch
        self._follow_universe()
        return intents

    def _cross_boundary(self, ts: int) -> list[Output]:
        # the index levels of the session (or day) being left go in before the close or the roll
        self._apply_indices(min(ts, self._boundary_ns))
        return super()._cross_boundary(ts)

    def roll_day(self, day: date) -> None:
        super().roll_day(day)
        if self.engine is not None:
            self.engine.update_symbols(self.symbols, self.entry_tokens())
        self.sync_subscriptions()

    def on_start(self) -> None:
        super().on_start()
        if self.engine is not None:
            self.engine.update_symbols(self.symbols, self.entry_tokens())

    def checkpoint_data(self) -> dict[str, Any]:
        data = super().checkpoint_data()
        data["subscribed"] = sorted(self.subscribed)
        data["options"] = {
            "index_entry": self._index_applied.decode(),
            "index": {n: [q.price, q.ts_ns] for n, q in self.index_quote.items()},
            "future": {n: [q.price, q.ts_ns] for n, q in self.future_quote.items()},
            "spot": {n: [c.source, c.price, c.ts_ns] for n, c in self.spot_used.items()},
            "selections": {n: [s.expiry.isoformat(), s.atm] for n, s in self.selections.items()},
        }
        return data

    def restore_extra(self, data: Mapping[str, Any]) -> None:
        """The spot state and the index cursor as of the checkpoint, so a replay applies the same
        index ticks at the same places; the same day's ATM as it was (entries allowed at once)."""
        saved = data.get("options")
        if not isinstance(saved, dict):
            return  # a checkpoint from before the index spot: the cursor is found as without one
        try:
            entry = str(saved.get("index_entry", ""))
            index = {str(n): SpotQuote(float(p), int(t)) for n, (p, t) in saved.get("index", {}).items()}
            future = {str(n): SpotQuote(float(p), int(t)) for n, (p, t) in saved.get("future", {}).items()}
            spot = {str(n): SpotChoice(str(s), float(p), int(t)) for n, (s, p, t) in saved.get("spot", {}).items()}
            chosen = {str(n): (date.fromisoformat(e), float(a)) for n, (e, a) in saved.get("selections", {}).items()}
        except (TypeError, ValueError) as exc:
            log.error("options: spot state of the checkpoint unusable (%s); starting it afresh", exc)
            return
        self._index_read = self._index_applied = entry.encode()
        self._index_read_ts = 0
        self._index_buffer.clear()
        self.index_quote, self.future_quote, self.spot_used = index, future, spot
        if self.master is not None and data.get("day") == (self.day.isoformat() if self.day else None):
            for name, (expiry, atm) in chosen.items():
                if name in self.underlyings:
                    try:
                        self._adopt(self.master, name, expiry, atm, self._last_event_ns)
                    except (InstrumentError, ValueError) as exc:
                        log.warning("options: %s ATM %g of %s not restored: %s", name, atm, expiry, exc)

    # -- outputs ---------------------------------------------------------------------------------
    def annotate(self, out: list[Output]) -> list[Output]:
        """Signals say which spot ATM was chosen from: indicators and the end of the reason (signals.csv)."""
        return [self._with_spot(m) if isinstance(m, Signal) else m for m in out]

    def _with_spot(self, signal: Signal) -> Signal:
        choice = self.spot_used.get(signal.logical)
        if choice is None:
            return signal
        forward = self.forward.get(signal.logical, 0.0)
        indicators = {
            **signal.indicators,
            "spot_source": choice.source,
            "spot": choice.price,
            "spot_forward": round(forward, 2),
        }
        reason = f"{signal.reason} [spot: {choice.source} {choice.price:.2f}, forward {forward:.2f}]"
        return msgspec.structs.replace(signal, indicators=indicators, reason=reason)

    def publish(self, out: list[Output]) -> int:
        return super().publish([m for msg in out for m in self.shape(msg)])

    def shape(self, msg: Output) -> list[Output]:
        """An intent sized in lots, tagged with its contract, split at the freeze limit.

        An entry asks for ``options.lots``. An exit closes what its strategy holds, which only
        risk knows: it follows the fills (partial ones, slices risk cut or blocked) in one
        ordered flow with the intents, while this engine gets no fills. So an exit is the
        configured size's slices with the last one asking for the rest (quantity 0): risk sizes
        each slice to the strategy's own units less the exits it already approved, and the 0
        to whatever is left (a position larger than the lots now configured is closed too).
        """
        if not isinstance(msg, OrderIntent) or self.master is None:
            return [msg]
        try:
            inst = self.master.by_token(msg.instrument_token)
        except InstrumentError:
            return [msg]
        name = inst.name
        lots = self.options.lots.get(name, self.options.default_lots)
        quantity = lots * inst.lot_size
        freeze = self.options.freeze_limits.get(name, 0)
        slices = split_quantity(quantity, freeze, inst.lot_size) if freeze else [quantity]
        if msg.reduce_only:
            slices[-1] = 0
        fields: dict[str, Any] = {"underlying": name}
        if inst.is_option and inst.expiry is not None:
            fields.update(strike=inst.strike, expiry=inst.expiry.isoformat(), option_type=inst.instrument_type)
        if len(slices) > 1:
            self.counters["split_intents"] += 1
            log.info("options: %s x%d above the freeze limit %d: %d orders", msg.symbol, quantity, freeze, len(slices))
        return [
            msgspec.structs.replace(
                msg,
                intent_id=msg.intent_id if i == 0 else f"{msg.intent_id}-{i + 1}",
                quantity=qty,
                **fields,
            )
            for i, qty in enumerate(slices)
        ]

    def health_detail(self) -> str:
        atm = " ".join(f"{n}={s.atm:g}@{s.expiry}" for n, s in self.selections.items())
        spot = " ".join(f"{n}={c.source}:{c.price:.2f}" for n, c in self.spot_used.items())
        return f"{super().health_detail()} atm=[{atm}] spot=[{spot}] streamed={len(self.subscribed)}"

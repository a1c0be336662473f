"""The options engine: the common engine service over a universe that follows ATM.

Per batch of ticks, before the engine sees them: the newest LTP of each underlying's
current future is the spot proxy, carried to the traded expiry (``atm_reference``); the ATM
strike, the traded expiry and the window of strikes around ATM are chosen again
(``shared.options.chain``). When they move, the engine
follows the new window (indicators of every window contract stay warm; strategies enter
only the ATM CE and PE) and asks the feed on ``control.feed`` to stream the new strikes
and to drop the ones no longer needed. A contract a strategy holds is never dropped, so
its candles have no gap.

Outgoing intents are sized in lots (``options.lots``, the master's lot size), carry the
option's underlying, strike, expiry and type, and are split into several intents when the
quantity is above the exchange's freeze limit (``options.freeze_limits``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from shared.bus import streams
from shared.bus.redis_bus import Bus, Delivery
from shared.clock import wall_ns
from shared.config import Settings
from shared.contracts import FeedSubscription, OrderIntent, Tick
from shared.enums import FeedAction
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.options.chain import OptionSelection, option_forward, select_options, split_quantity, trading_expiry
from shared.runtime.engine_service import EngineService, Symbols
from shared.sim.calendar import session_open_ns
from shared.state.checkpoint import CheckpointError, read_checkpoint_or_backup
from shared.strategies.base import parse_hhmm
from shared.trading.engine import Output, TradingEngine

log = logging.getLogger(__name__)


class OptionsService(EngineService):
    """Index options at the money: ticks.NFO in; signals, order intents and feed requests out."""

    name = "options"
    exchange = "NFO"
    resubscribe_every_s: float = 30.0

    def __init__(self, settings: Settings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.options = settings.options
        self.underlyings = list(settings.trading.options_underlyings)
        self.roll_cutoff_s = parse_hhmm(self.options.expiry_roll_cutoff, where="options.expiry_roll_cutoff")
        self.spot: dict[str, float] = {}  # underlying -> its current future's LTP
        self.spot_ts = 0
        self.future_of: dict[str, str] = {}  # current future tradingsymbol -> underlying
        self.future_expiry: dict[str, date] = {}  # underlying -> its current future's expiry
        self.selections: dict[str, OptionSelection] = {}
        self.subscribed: set[int] = set()  # tokens this engine asked the feed for
        self.counters.update(atm_moves=0, subscribe_requests=0, split_intents=0)
        self._next_full_request = 0.0

    # -- the universe -------------------------------------------------------------------------
    def resolve_universe(self, master: InstrumentsMaster, day: date) -> Symbols:
        self.future_of = {}
        for name in self.underlyings:
            try:
                fut = master.future(name, day)
            except InstrumentError as exc:
                log.error("options: %s skipped: %s", name, exc)
                continue
            self.future_of[fut.tradingsymbol] = name
            if fut.expiry is not None:
                self.future_expiry[name] = fut.expiry
        if self.day is None:  # start-up: carry on with the universe of a checkpoint of the same day
            saved = self._saved(day)
            if saved is not None:
                self.subscribed = {int(t) for t in saved.get("subscribed", [])}
                return {int(token): tuple(info) for token, info in saved["universe"].items()}  # type: ignore[misc]
        # a new day: yesterday's spot chooses the first ATM until the day's first future tick
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
            spot = self.spot.get(name)
            if spot is None:
                continue
            try:
                forward = self.atm_reference(master, name, spot, now_ns)
                sel = select_options(
                    master,
                    name,
                    forward,
                    now_ns,
                    each_side=self.options.strikes_each_side,
                    roll_cutoff_s=self.roll_cutoff_s,
                    previous=self.selections.get(name),
                    band=self.options.atm_hysteresis,
                )
            except InstrumentError as exc:
                log.error("options: no contracts for %s at future price %.2f: %s", name, spot, exc)
                continue
            old = self.selections.get(name)
            if old is None or (old.expiry, old.atm) != (sel.expiry, sel.atm):
                self.selections[name] = sel
                changed = True
                self.counters["atm_moves"] += 1
                log.info(
                    "options: %s future %.2f, forward %.2f -> ATM %s expiry %s (%s / %s)",
                    name,
                    spot,
                    forward,
                    f"{sel.atm:g}",
                    sel.expiry,
                    sel.call.tradingsymbol,
                    sel.put.tradingsymbol,
                )
        return changed

    def atm_reference(self, master: InstrumentsMaster, name: str, future_price: float, now_ns: int) -> float:
        """The level ATM is chosen around: the future's price carried to the traded expiry.

        The current future expires later than a weekly option (up to a month): its price is
        the forward to its own expiry, ``carry`` points above the option's forward. ATM is the
        strike nearest the option's own forward (where the call and the put cost the same).
        """
        fut_expiry = self.future_expiry.get(name)
        if fut_expiry is None:
            return future_price
        expiry = trading_expiry(master, name, now_ns, self.roll_cutoff_s)
        return option_forward(future_price, fut_expiry, expiry, now_ns, self.options.rate)

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

    def entry_tokens(self) -> set[int]:
        """The ATM CE and PE of each underlying: the only contracts strategies may enter."""
        return {t for sel in self.selections.values() for t in (sel.call.instrument_token, sel.put.instrument_token)}

    def build_engine(self, symbols: Symbols) -> TradingEngine:
        engine = super().build_engine(symbols)
        engine.update_symbols(symbols, self.entry_tokens())
        return engine

    def _follow_spot(self, deliveries: Sequence[Delivery]) -> None:
        """Take the batch's newest future prices; move the universe and the subscriptions if ATM moved."""
        if self.master is None or self.engine is None:
            return
        seen = False
        for d in deliveries:
            tick = d.message
            if isinstance(tick, Tick):
                name = self.future_of.get(tick.symbol)
                if name is not None:
                    self.spot[name] = tick.last_price
                    self.spot_ts = max(self.spot_ts, tick.ts_event)
                    seen = True
        if not seen:
            return
        changed = self._select(self.master, self.spot_ts)
        universe = self._universe(self.master)
        if changed or universe != self.symbols:
            self.symbols = universe
            self.engine.update_symbols(universe, self.entry_tokens())
            if self.consumer is not None:
                self.consumer.symbols = self._symbol_filter()
        self.sync_subscriptions()

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
        now = self.spot_ts or self._last_event_ns
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
        self._follow_spot(deliveries)
        return super().handle(deliveries)

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
        return data

    # -- intents ---------------------------------------------------------------------------------
    def publish(self, out: list[Output]) -> int:
        return super().publish([m for msg in out for m in self.shape(msg)])

    def shape(self, msg: Output) -> list[Output]:
        """An intent sized in lots, tagged with its contract, split at the freeze limit."""
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
        return f"{super().health_detail()} atm=[{atm}] streamed={len(self.subscribed)}"

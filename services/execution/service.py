"""The execution loop: approved intents -> paper orders; ticks -> fills; journals, snapshots, checkpoints.

Each slice: read ``control``/``signals``/``instruments``, then ``orders.approved`` and the ticks
in one read (so an idle wait wakes on either; intents are held back until the instruments
master is loaded), intents first. With ``paper.fill_timing: last_quote`` a new order fills on
arrival against its instrument's newest quote. Every order change is journaled
to orders.csv as it happens; at the end of the slice the results are published
(``orders.events``, ``fills``, ``positions``), the journals are fsynced, the checkpoints
written when due, and only then are the inputs acknowledged. A crash before the
acknowledgement replays the inputs: intents and square-offs already journaled are
recognised by their ids, and a restored order ignores ticks not newer than its last fill.

Time is event time: the newest tick or intent seen. The book is one IST day's (paper mode
starts each day flat, like ``rebuild_from_journal(..., day=)``): the first event of a later
day expires the working orders (at the old day's last event time) and opens a new book.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any, Final

import msgspec

from services.execution.book import checkpoint_differences, order_entry
from services.execution.journal_writer import JournalWriter
from services.execution.live import LiveExecution
from services.execution.oms import Oms, OrderMeta, Recovered, recover
from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.fill_model import FillConfig
from shared.brokers.orders import Order
from shared.brokers.paper import PaperBroker
from shared.brokers.positions import Portfolio
from shared.brokers.snapshot import position_snapshot
from shared.bus import streams
from shared.bus.redis_bus import Bus, Consumer, Delivery
from shared.clock import NS, ist_datetime, ist_day, ist_to_ns, wall_ns
from shared.config import Settings
from shared.contracts import (
    ControlCommand,
    Heartbeat,
    InstrumentsPublished,
    Message,
    OrderIntent,
    RiskDecision,
    Signal,
    Tick,
)
from shared.enums import ControlAction, Decision, OrderStatus, ServiceState
from shared.errors import DataError, KiteAlgoError
from shared.instruments import InstrumentsMaster
from shared.risk.greeks import OptionBook
from shared.runtime.service import Service
from shared.state.checkpoint import (
    CheckpointError,
    build_state_checkpoint,
    encode_checkpoint,
    read_checkpoint_or_backup,
    store_checkpoint,
)
from shared.state.paths import StatePaths
from shared.state.scanner import load_universe
from shared.state.trades import TradeBook

log = logging.getLogger(__name__)

TICK_STREAMS: Final = streams.TRADABLE_TICK_STREAMS
# control/signals/instruments act on the book or the journals; risk.decisions and health are
# journaled to events.jsonl (the decisions that did not simply pass, service state changes).
INBOX_STREAMS: Final = (streams.CONTROL, streams.SIGNALS, streams.INSTRUMENTS, streams.RISK_DECISIONS, streams.HEALTH)
TICK_BATCH: Final = 1000
TICK_BLOCK_MS: Final = 100
SNAPSHOT_EVERY_NS: Final = 5 * NS  # event time
CHECKPOINT_EVERY_S: Final = 3.0  # wall time
MASTER_RETRY_S: Final = 2.0


class ExecutionService(LiveExecution, Service):
    """The only holder of orders and positions (paper broker), and the journals' single writer."""

    name = "execution"

    def __init__(self, settings: Settings, bus: Bus, *, fill_config: FillConfig | None = None) -> None:
        super().__init__(settings, bus)
        self.mode = settings.trading.mode
        self.capital = settings.trading.paper_capital
        self.paths = StatePaths.from_settings(settings)
        self.fill_config = fill_config or FillConfig(slippage_ticks=settings.paper.slippage_ticks)
        self.quote_fills = settings.paper.fill_timing == "last_quote" and self.mode != "live"
        self.counters = dict.fromkeys(
            (
                "intents",
                "orders",
                "rejected",
                "duplicate_intents",
                "intent_errors",
                "fills",
                "ticks",
                "signals",
                "bad_signals",
                "controls",
                "snapshots",
                "checkpoints",
                "day_rolls",
            ),
            0,
        )
        self.master: InstrumentsMaster | None = None
        self.option_book: OptionBook | None = None  # IV and Greeks of option lines in the snapshots
        self.last_prices: dict[str, float] = {}  # futures' last prices: the options' forwards
        self.oms = Oms()
        self.live = self.mode == "live"
        self.broker: Any = self._new_broker()
        self.order_socket: Any = None
        self._pending_meta: OrderMeta | None = None
        self._halt_sent = False
        self._next_reconcile = 0.0
        self._drift_seen: tuple[Any, ...] = ()
        self._drift_acted: tuple[Any, ...] = ()
        if self.live:  # credentials now: a missing token stops start-up with exit 2 and the file to fix
            from services.execution.live import build_kite_broker

            self.broker = build_kite_broker(settings)
            self.broker.journal = self._journal_before_send
        self.journal: JournalWriter | None = None
        self.inbox: Consumer | None = None
        self.market: Consumer | None = None  # orders.approved + the tick streams
        self._waiting: list[Delivery] = []  # approved intents read before the master was loaded
        self._service_states: dict[str, ServiceState] = {}  # "<service>:<pid>" -> last state seen
        self._clock_symbols: set[bytes] = set()
        self.now = 0  # event time: the newest tick or intent
        self.book_day: date | None = None
        self._day_end_ns = 0
        self._outbox: list[tuple[str, Message]] = []
        self._fill_since_snapshot = False
        self._fill_since_checkpoint = False
        self._last_snapshot_ns = 0
        self._next_checkpoint = 0.0
        self._next_master_try = 0.0
        self._to_adopt: Recovered | None = None
        self._universe: tuple[date | None, list[str], list[str] | None] = (None, [], None)
        self.risk_view: dict[str, Any] = {"halted": False, "killed_symbols": [], "last_command": None}

    def _new_broker(self, master: InstrumentsMaster | None = None, portfolio: Portfolio | None = None) -> PaperBroker:
        return PaperBroker(
            master,
            capital=self.capital,
            fill_config=self.fill_config,
            portfolio=portfolio,
            used_ids=self.oms.order_ids,
            quote_fills=self.quote_fills,
        )

    # -- start and stop ------------------------------------------------------------------

    def on_start(self) -> None:
        self.journal = JournalWriter(self.paths)  # takes the locks first: one writer
        rec = recover(self.paths.orders_csv, self.capital)
        self.oms = rec.oms
        if self.live:
            self._start_live(rec)
        else:
            self.broker = self._new_broker(portfolio=rec.state.portfolio)
            # Each strategy's units now, not when the master arrives (adopt sets the same values):
            # until then the snapshots would show the whole book as no strategy's.
            self.broker.strategy_positions.update((k, q) for k, q in rec.strategy_positions.items() if q)
        self.journal.trades = rec.state.trades
        self.now = rec.last_ts_ns
        if rec.day is not None:
            self._set_day(rec.day)
        self._compare_checkpoint(rec)
        self._to_adopt = rec
        self._load_master(streams.INSTRUMENTS_LATEST)
        self.inbox = self.bus.consumer(streams.group(self.name), list(INBOX_STREAMS), start_id="0")
        # One consumer for approved intents and ticks, so the idle wait wakes on either. Intents
        # are read from the start of the stream (a first start takes what risk approved while it
        # was down), ticks from now on (a first start does not replay the capped history; a restart
        # gets its pending ones back). Only the ticks of symbols with orders or positions, plus
        # the futures as a clock, are decoded (every symbol's with quote fills): the rest are
        # acknowledged unread.
        group = streams.group(self.name)
        self.inbox.ensure_group(streams.ORDERS_APPROVED, "0")
        self.market = self.bus.consumer(
            group,
            [streams.ORDERS_APPROVED, *TICK_STREAMS],
            start_id="$",
            read_ahead=True,
            symbols=set(),
            filtered_streams=TICK_STREAMS,
        )
        log.info(
            "recovered from %s: %d rows, day %s, %d position(s), %d open order(s), %d intent id(s) seen",
            self.paths.orders_csv,
            rec.rows,
            rec.day,
            sum(1 for _ in rec.state.portfolio.open_positions()),
            len(rec.open_orders),
            len(self.oms.intents),
        )
        self.journal.event("start", self.now, service=self.name, mode=self.mode, rows=rec.rows)
        if self.now:
            self._last_snapshot_ns = -SNAPSHOT_EVERY_NS  # publish the recovered book at once
        self._flush([])

    def _compare_checkpoint(self, rec: Recovered) -> None:
        path = self.paths.checkpoint(self.mode)
        try:
            data, used = read_checkpoint_or_backup(path)
        except CheckpointError as exc:
            log.error("%s; rebuilding from the journal alone", exc)
            return
        if data is None:
            return
        diffs = checkpoint_differences(data, rec.state)
        if diffs:
            log.warning(
                "%s disagrees with %s (trusting the journal): %s", used, self.paths.orders_csv, "; ".join(diffs[:10])
            )
        state = data.get("execution")
        if isinstance(state, dict) and isinstance(state.get("last_event_ns"), int):
            self.now = max(self.now, state["last_event_ns"])

    def on_stop(self) -> None:
        if self.order_socket is not None:
            self.order_socket.stop()
        if self.market is not None:
            self.market.close()
        if self.journal is None:
            return
        try:
            self.journal.event("stop", self.now, service=self.name, counters=dict(self.counters))
            self.durable.drain()
            for path, raw in self._encode_checkpoints():
                store_checkpoint(path, raw)
            self.journal.sync_all()
        finally:
            self.journal.close()

    # -- the loop --------------------------------------------------------------------------

    def run_once(self) -> None:
        assert self.inbox is not None and self.market is not None
        inbox = self.inbox.read(count=200, block_ms=None)
        for d in inbox:
            self._dispatch(d)
        if self.master is None:
            self._retry_master()
        self.market.symbols = None if self.quote_fills else self._tick_symbols()
        ready = bool(inbox) or (bool(self._waiting) and self.master is not None)
        got = self.market.read(count=TICK_BATCH, block_ms=None if ready else TICK_BLOCK_MS)
        approved = [d for d in got if d.stream == streams.ORDERS_APPROVED]
        ticks = [d for d in got if d.stream != streams.ORDERS_APPROVED] if approved else got
        if approved or self._waiting:
            if self.master is None:
                # Intents wait (pending, unacknowledged) until the instruments master is loaded.
                self._waiting += approved
                approved = []
            else:
                approved, self._waiting = self._waiting + approved, []
        for d in approved:
            self._dispatch(d)
            if self._outbox:  # each order's events and fills go out before the next order (and the ticks)
                self.bus.publish_many(self._outbox)
                self._outbox = []
        for d in ticks:
            if isinstance(d.message, Tick):
                self._on_tick(d.message)
        self.counters["ticks"] += len(ticks)
        if self.live:
            self._pump_live()
        self._flush([(self.inbox, inbox), (self.market, approved + ticks)])

    def _dispatch(self, d: Delivery) -> None:
        msg = d.message
        if isinstance(msg, OrderIntent):
            self._on_intent(msg)
        elif isinstance(msg, ControlCommand):
            self._on_control(msg)
        elif isinstance(msg, Signal):
            self._on_strategy_signal(msg)
        elif isinstance(msg, InstrumentsPublished):
            self._load_master(msg.key)
        elif isinstance(msg, RiskDecision):
            self._on_risk_decision(msg)
        elif isinstance(msg, Heartbeat):
            self._on_heartbeat(msg)
        else:
            log.warning("ignoring a %s on %s", type(msg).__name__, d.stream)

    def _flush(self, inputs: list[tuple[Consumer, list[Delivery]]]) -> None:
        """Publish results, fsync the journals, checkpoint when due, then acknowledge the inputs."""
        assert self.journal is not None
        due = self._fill_since_snapshot or self.now - self._last_snapshot_ns >= SNAPSHOT_EVERY_NS
        if self.now and due:
            snap = position_snapshot(
                self.now, wall_ns(), self.mode, self.portfolio, self.option_book, self.broker.strategy_positions
            )
            self._outbox.append((streams.POSITIONS, snap))
            self._last_snapshot_ns = self.now
            self._fill_since_snapshot = False
            self.counters["snapshots"] += 1
        if self._outbox:
            self.bus.publish_many(self._outbox)
            self._outbox = []
        # The journals' fsync and the checkpoints go to the durable writer's thread; the inputs
        # are acknowledged once they are on disk, while this loop reads the next intent.
        sync = self.journal.sync_job()
        stores = []
        if self._fill_since_checkpoint or time.monotonic() >= self._next_checkpoint:
            stores = self._encode_checkpoints()
        acks = [(c, d) for c, d in inputs if d]

        def ack() -> None:
            for consumer, deliveries in acks:
                consumer.ack(deliveries)

        if stores:  # a newer job with checkpoints supersedes a queued one: it syncs every journal too
            journals = self.journal.sync_all

            def write() -> None:
                journals()
                for path, raw in stores:
                    store_checkpoint(path, raw)

            self.durable.submit(write, ack if acks else None, key="execution")
        else:
            self.durable.submit(sync, ack if acks else None)

    @property
    def portfolio(self) -> Portfolio:
        return self.broker.portfolio

    # -- event time and the day --------------------------------------------------------------

    def _set_day(self, day: date) -> None:
        self.book_day = day
        self._day_end_ns = ist_to_ns(ist_datetime(day, dtime(0, 0))) + 86_400 * NS

    def _advance(self, ts: int) -> None:
        """Move event time to ``ts``; the first event of a later IST day rolls the book over."""
        if ts >= self._day_end_ns:
            day = ist_day(ts)
            if self.book_day is not None and day > self.book_day:
                self._roll_day(day)
            self._set_day(day)
        if ts > self.now:
            self.now = ts

    def _roll_day(self, day: date) -> None:
        assert self.journal is not None
        old = self.book_day
        reason = f"expired: DAY order left open at the close of {old}"
        self._emit(self.broker.cancel_all(self.now, reason, expire=True))
        if self.live:  # Kite keeps the account: positions carry (NRML/CNC), nothing is re-created
            self.journal.event("day_roll", self.now, previous=str(old), day=str(day), not_carried=[])
            self.counters["day_rolls"] += 1
            return
        carried = [f"{p.symbol}/{p.product.value} {p.quantity}" for p in self.portfolio.open_positions()]
        if carried:
            log.warning(
                "day roll %s -> %s: paper books start each day flat; not carried: %s", old, day, ", ".join(carried)
            )
        self.journal.event("day_roll", self.now, previous=str(old), day=str(day), not_carried=carried)
        self.broker = self._new_broker(self.master)
        self.oms.forget_finished(())
        self.journal.trades = TradeBook()
        self._last_snapshot_ns = -SNAPSHOT_EVERY_NS
        self._fill_since_checkpoint = True
        self.counters["day_rolls"] += 1
        log.info("new trading day %s: fresh paper book of %.2f", day, self.capital)

    # -- inputs ----------------------------------------------------------------------------------

    def _price_of(self, symbol: str) -> float:
        return self.last_prices.get(symbol, 0.0)

    def _on_tick(self, tick: Tick) -> None:
        self.last_prices[tick.symbol] = tick.last_price
        ts = tick.ts_event
        if ts >= self._day_end_ns:
            self._advance(ts)
        elif ts > self.now:
            self.now = ts
        events = self.broker.on_tick(tick)
        if events:
            self._emit(events)

    def _on_intent(self, intent: OrderIntent) -> None:
        self.counters["intents"] += 1
        if self.oms.seen(intent.intent_id):
            self.counters["duplicate_intents"] += 1
            log.info(
                "intent %s (%s %s) was already placed; duplicate skipped", intent.intent_id, intent.side, intent.symbol
            )
            return
        ts = max(self.now, intent.ts_event)
        self._advance(ts)
        self._pending_meta = OrderMeta.of_intent(intent, mode=self.mode)
        try:
            order = self.broker.place(intent, ts)
        except (KiteAlgoError, ValueError) as exc:
            self.counters["intent_errors"] += 1
            log.exception("intent %s could not be placed: %s", intent.intent_id, exc)
            return
        finally:
            self._pending_meta = None
        evt = order_event(order, ts)
        self.oms.record(evt, OrderMeta.of_intent(intent, mode=self.mode))
        if self.live and order.status == OrderStatus.PENDING:
            self.counters["orders"] += 1  # sent, not acknowledged yet: its row is already on disk
            return
        if order.status == OrderStatus.REJECTED:
            self.counters["rejected"] += 1
            log.warning("intent %s %s %d %s rejected: %s", intent.intent_id, intent.side, intent.quantity,
                        intent.symbol, order.status_message)  # fmt: skip
        else:
            self.counters["orders"] += 1
        self._emit([BrokerEvent(evt)])
        if self.quote_fills:
            self._emit(self.broker.fill_on_arrival(order, intent.ts_event))

    def _on_risk_decision(self, d: RiskDecision) -> None:
        """BLOCK, REDUCE and HALT_SESSION go to events.jsonl (an ALLOW shows as the order itself)."""
        assert self.journal is not None
        if d.decision != Decision.ALLOW:
            self.journal.event("risk", d.ts_event, intent_id=d.intent_id, symbol=d.symbol, decision=d.decision.value,
                               quantity=d.quantity, requested_quantity=d.requested_quantity, rule=d.rule,
                               reason=d.reason)  # fmt: skip

    def _on_heartbeat(self, hb: Heartbeat) -> None:
        """A service's state change (starting, running, stopping...) goes to events.jsonl."""
        assert self.journal is not None
        key = f"{hb.service}:{hb.pid}"
        if self._service_states.get(key) != hb.state:
            self._service_states[key] = hb.state
            self.journal.event("service", self.now or hb.ts_event, service=hb.service, pid=hb.pid,
                               state=hb.state.value, detail=hb.detail[:200])  # fmt: skip

    def _on_control(self, cmd: ControlCommand) -> None:
        assert self.journal is not None
        self.counters["controls"] += 1
        ts = self.now or cmd.ts_event
        self.journal.event("control", ts, command_id=cmd.command_id, action=cmd.action.value, symbol=cmd.symbol,
                           issued_by=cmd.issued_by, reason=cmd.reason)  # fmt: skip
        who = f"{cmd.action.value} by {cmd.issued_by or 'unknown'}" + (f": {cmd.reason}" if cmd.reason else "")
        if cmd.action == ControlAction.SQUARE_OFF_ALL:
            events = self.broker.square_off_all(ts, cmd.command_id, who)
            log.warning("%s: %d order change(s)", who, len(events))
            self._emit(events)
        elif cmd.action == ControlAction.CANCEL_ALL:
            events = self.broker.cancel_all(ts, who)
            log.warning("%s: %d order(s) cancelled", who, len(events))
            self._emit(events)
        else:
            self._track_risk(cmd)  # halts and kills are risk's; kept here for the runtime checkpoint

    def _track_risk(self, cmd: ControlCommand) -> None:
        view = self.risk_view
        killed = set(view["killed_symbols"])
        if cmd.action == ControlAction.HALT:
            view["halted"] = True
        elif cmd.action == ControlAction.RESUME:
            view["halted"] = False
        elif cmd.action == ControlAction.KILL_SYMBOL and cmd.symbol:
            killed.add(cmd.symbol)
        elif cmd.action == ControlAction.REVIVE_SYMBOL:
            killed.discard(cmd.symbol)
        view["killed_symbols"] = sorted(killed)
        view["last_command"] = {"command_id": cmd.command_id, "action": cmd.action.value, "ts_ns": cmd.ts_event}

    def _on_strategy_signal(self, sig: Signal) -> None:
        assert self.journal is not None
        try:
            self.journal.signal(sig, self.mode)
        except ValueError as exc:
            self.counters["bad_signals"] += 1
            log.error("signal %s not journaled: %s", sig.signal_id, exc)
            return
        self.counters["signals"] += 1

    # -- outputs ------------------------------------------------------------------------------

    def _emit(self, events: list[BrokerEvent]) -> None:
        """Journal each order change now (in booking order) and queue its messages for publishing."""
        assert self.journal is not None
        if not events:
            return
        stamp = wall_ns()
        for ev in events:
            evt = ev.order
            self.oms.record(evt)
            meta = self.oms.meta.get(evt.order_id)
            if meta is None:  # the broker's own orders (square-offs)
                order = self.broker.orders.get(evt.order_id)
                token = order.instrument_token if order is not None else 0
                meta = OrderMeta(extra={"instrument_token": token, "mode": self.mode})
                self.oms.meta[evt.order_id] = meta
            self.journal.order(ev, meta)
            self._outbox.append((streams.ORDER_EVENTS, msgspec.structs.replace(evt, ts_init=stamp)))
            if ev.fill is not None:
                self._outbox.append((streams.FILLS, msgspec.structs.replace(ev.fill, ts_init=stamp)))
                self.counters["fills"] += 1
                self._fill_since_snapshot = True
                self._fill_since_checkpoint = True

    # -- instruments ------------------------------------------------------------------------------

    def _tick_symbols(self) -> set[bytes]:
        """Symbols whose ticks matter now: working orders, open positions (net or any strategy's), the clock."""
        wanted = set(self._clock_symbols)
        wanted.update(o.symbol.encode() for o in self.broker.open_orders())
        wanted.update(p.symbol.encode() for p in self.broker.positions() if p.quantity)
        # a net-flat symbol that strategies hold long and short: its mark prices their square-off cross
        wanted.update(symbol.encode() for (_, symbol, _), qty in self.broker.strategy_positions.items() if qty)
        return wanted

    def _load_master(self, key: str) -> bool:
        try:
            found = self.bus.read_master(key)
        except DataError as exc:
            log.error("instruments master at %s is unusable: %s", key, exc)
            return False
        if found is None:
            log.warning("no instruments master at Redis key %s yet; orders wait for the feed to publish it", key)
            return False
        master, _ = found
        self.master = master
        self.broker.set_master(master)
        self.option_book = OptionBook(master, self.settings.options.rate, self._price_of)
        # Futures tick all session long: their event time keeps snapshots and square-offs on time.
        self._clock_symbols = {i.tradingsymbol.encode() for i in master if i.is_future}
        log.info("instruments master loaded from %s: %d instruments", key, len(master))
        self._adopt_recovered()
        return True

    def _retry_master(self) -> None:
        now = time.monotonic()
        if now >= self._next_master_try:
            self._next_master_try = now + MASTER_RETRY_S
            self._load_master(streams.INSTRUMENTS_LATEST)

    def _adopt_recovered(self) -> None:
        """Put the journal's open orders back to work once instruments can be resolved."""
        rec, self._to_adopt = self._to_adopt, None
        if rec is None:
            return
        lost = self.broker.adopt(rec.open_orders, rec.strategy_positions)
        if self.live:  # catch up with Kite, then refuse to trade unless the books agree
            self._emit(self.broker.pump(self.now, force_poll=True))
            self._reconcile(startup=True)
        stale = [o for o in lost if o.is_working]
        if stale:
            for order in stale:
                order.cancel(self.now, "cancelled at restart: instrument not in today's master")
            self._emit([BrokerEvent(order_event(o, self.now)) for o in stale])
        for st in rec.unrestorable:
            log.error("open order %s (%s) could not be restored from the journal; check it by hand", st.order_id,
                      st.symbol)  # fmt: skip

    # -- checkpoints ------------------------------------------------------------------------------

    def _encode_checkpoints(self) -> list[tuple[Path, bytes]]:
        assert self.journal is not None
        trades = self.journal.trades
        for pos in self.portfolio.open_positions():
            trades.mark(pos.symbol, pos.last_price)
        day, fno, equity = self._universe_of(self.book_day)
        common: dict[str, Any] = {
            "mode": self.mode,
            "portfolio": self.portfolio,
            "last_heartbeat_ns": self.now,
            "open_orders": [order_entry(o) for o in self._open_orders()],
            "strategies": trades.stats(),
            "universe_date": day,
            "fno": fno,
            "equity_universe": equity,
        }
        execution = {
            "last_event_ns": self.now,
            "book_day": self.book_day.isoformat() if self.book_day else "",
            "seen_intents": len(self.oms.intents),
            "counters": dict(self.counters),
        }
        book, runtime = self.paths.checkpoint(self.mode), self.paths.checkpoint("runtime")
        stores = [
            (book, encode_checkpoint(book, build_state_checkpoint(**common, extra={"execution": execution}))),
            (runtime, encode_checkpoint(runtime, build_state_checkpoint(
                **common, extra={"execution": execution, "risk": dict(self.risk_view)}))),
        ]  # fmt: skip
        self.counters["checkpoints"] += 1
        self._fill_since_checkpoint = False
        self._next_checkpoint = time.monotonic() + CHECKPOINT_EVERY_S
        return stores

    def _open_orders(self) -> list[Order]:
        """Working orders, and recovered ones still waiting for the instruments master."""
        waiting = self._to_adopt.open_orders if self._to_adopt is not None else []
        return [*self.broker.open_orders(), *waiting]

    def _universe_of(self, day: date | None) -> tuple[date | None, list[str], list[str] | None]:
        if day is None:
            return None, list(self.settings.trading.fno_universe), None
        if self._universe[0] != day:
            try:
                uni = load_universe(self.paths.artifacts, day)
            except DataError as exc:
                log.warning("universe of %s unreadable: %s", day, exc)
                uni = None
            if uni is None:
                self._universe = (day, list(self.settings.trading.fno_universe), None)
            else:
                self._universe = (day, list(uni.fno), list(uni.equity) if uni.equity is not None else None)
        return self._universe

    def health_detail(self) -> str:
        return (
            f"event_time_ns={self.now} day={self.book_day} open_orders={len(self._open_orders())} "
            f"positions={sum(1 for _ in self.portfolio.open_positions())}"
        )

"""Kite's live market data as a tick source: ``KiteTicker`` connections in this (the feed's) process.

- The instruments master comes from Kite's CSV dump (``GET /instruments``) at start.
- Instruments are spread over up to ``kite.max_connections`` ticker connections of at most
  ``kite.tokens_per_connection`` each (Kite: 3 x 3,000); each instrument streams in the mode
  its segment is configured for (``kite.segment_modes``, else ``kite.default_mode``).
- All connections share Twisted's reactor, running in one daemon thread; calls into the
  tickers go through ``reactor.callFromThread``. Ticks cross to the feed loop in a deque.
- A staleness watchdog per connection: pykiteconnect sends no pings, so a link can die
  silently. A connection that has received no frame (Kite sends heartbeats) for
  ``kite.stale_seconds`` is dropped; the client reconnects with its back-off (1 s, x e, up
  to ``kite.reconnect_max_delay_seconds``) and every connect re-sends the subscriptions.
- Back-fill (``kite_backfill.py``): after a reconnect, that connection's live ticks are held
  while the whole minutes its instruments missed are fetched from ``historical_data`` and
  turned into ticks; the back-fill goes out first, then the held ticks, so every engine's
  CandleBuilder sees each instrument in event-time order and no minute without ticks. After
  ``kite.backfill_timeout_seconds`` the held ticks go out anyway and the gap is alerted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kiteconnect import KiteTicker

from services.feed.sources.kite_backfill import Backfiller, Window, plan_windows
from services.feed.sources.kite_ticks import to_tick
from shared.brokers.kite_session import Credentials, client, load_credentials
from shared.clock import ns_to_ist, wall_ns
from shared.config import ROOT, Settings
from shared.contracts import Alert, Tick
from shared.errors import DataError, InstrumentError
from shared.instruments import InstrumentsMaster
from shared.universe import load_equity_universe

log = logging.getLogger(__name__)


def _reactor() -> Any:
    from twisted.internet import reactor  # imported late: installing the reactor is process-global

    return reactor


class TickerConnection:
    """One ``KiteTicker`` socket: the instruments it should stream (token -> mode) and its liveness."""

    def __init__(
        self,
        number: int,
        creds: Credentials,
        settings: Settings,
        sink: Callable[[TickerConnection, list[dict[str, Any]]], None],
        on_reconnect: Callable[[TickerConnection], None] | None = None,
    ) -> None:
        self.number = number
        self.modes: dict[int, str] = {}
        self.connects = 0
        self.drops = 0
        self.last_frame = time.monotonic()
        self._sink = sink
        self._on_reconnect = on_reconnect
        # Back-fill state (KiteSource): while ``holding``, this connection's ticks wait in
        # ``held`` for the back-fill of the minutes it missed (``job``), started at ``hold_since``.
        self.holding = False
        self.held: list[Tick] = []
        self.hold_since = 0.0
        self.job: Future[list[Tick]] | None = None
        self.windows: list[Window] = []
        self.ticker = KiteTicker(
            creds.api_key, creds.access_token, root=settings.kite.ws_root,
            reconnect_max_delay=settings.kite.reconnect_max_delay_seconds, reconnect_max_tries=300,
        )  # fmt: skip
        self.ticker.on_connect = self._on_connect
        self.ticker.on_ticks = self._on_ticks
        self.ticker.on_message = self._on_message
        self.ticker.on_error = lambda _ws, code, reason: log.warning("ticker %d error %s: %s", number, code, reason)
        self.ticker.on_close = lambda _ws, code, reason: log.warning("ticker %d closed (%s %s)", number, code, reason)
        self.ticker.on_reconnect = lambda _ws, n: log.info("ticker %d reconnecting (attempt %d)", number, n)
        self.ticker.on_noreconnect = lambda _ws: log.error("ticker %d gave up reconnecting", number)

    # -- reactor thread -------------------------------------------------------------------------
    def _on_connect(self, _ws: KiteTicker, _response: Any) -> None:
        self.connects += 1
        self.last_frame = time.monotonic()
        log.info("ticker %d connected (%d instruments)", self.number, len(self.modes))
        if self.connects > 1 and self._on_reconnect is not None:
            self._on_reconnect(self)  # before the subscriptions go out: no tick can arrive first
        self._send(self.modes)

    def _on_message(self, _ws: KiteTicker, _payload: bytes, _is_binary: bool) -> None:
        self.last_frame = time.monotonic()

    def _on_ticks(self, _ws: KiteTicker, ticks: list[dict[str, Any]]) -> None:
        self._sink(self, ticks)

    def _send(self, modes: dict[int, str]) -> None:
        if not modes or not self.ticker.is_connected():
            return  # sent on (re)connect
        by_mode: dict[str, list[int]] = {}
        for token, mode in modes.items():
            by_mode.setdefault(mode, []).append(token)
        for mode, tokens in by_mode.items():
            self.ticker.subscribe(tokens)  # repeated subscribes are harmless (Kite treats them idempotently)
            self.ticker.set_mode(mode, tokens)

    def _drop(self) -> None:
        ws = self.ticker.ws
        if ws is not None:
            ws.dropConnection(abort=True)  # connection lost -> the client's reconnect with back-off

    # -- feed thread ----------------------------------------------------------------------------
    def add(self, modes: dict[int, str]) -> None:
        self.modes.update(modes)
        _reactor().callFromThread(self._send, dict(modes))

    def remove(self, tokens: set[int]) -> None:
        gone = [t for t in tokens if self.modes.pop(t, None) is not None]
        if gone and self.ticker.is_connected():
            _reactor().callFromThread(self.ticker.unsubscribe, gone)

    def stale(self, now: float, limit: float) -> bool:
        return now - self.last_frame > limit

    def drop(self) -> None:
        self.drops += 1
        self.last_frame = time.monotonic()  # give the reconnect its own full window
        _reactor().callFromThread(self._drop)


class KiteSource:
    """Live ticks from Kite (or the sandbox at ``kite.ws_root``); paper fills still come from execution."""

    def __init__(self, settings: Settings, creds: Credentials | None = None) -> None:
        self.settings = settings
        self.cfg = settings.kite
        self.creds = creds or load_credentials(settings)
        raw = client(settings, self.creds)._get("market.instruments.all")  # the raw CSV dump (the client parses it)
        self.master = InstrumentsMaster.from_csv_text(raw.decode(), source=f"kite:{self.cfg.api_root}/instruments")
        self.connections: list[TickerConnection] = []
        self._queue: deque[list[Tick]] = deque()
        self._arrived = threading.Event()
        self._first = True
        self._started = False
        self.counters = {"watchdog_drops": 0, "unknown_tokens": 0, "refused_instruments": 0, "backfills": 0,
                         "backfill_timeouts": 0}  # fmt: skip
        self.alerts: list[Alert] = []  # drained and published by the feed service
        # Held ticks move between the reactor thread (arrivals) and the feed thread (release).
        self._lock = threading.Lock()
        self._last_live: dict[int, Tick] = {}  # each instrument's newest published tick
        self.backfiller = Backfiller(client(settings, self.creds), self.master, self.cfg.historical_per_second)
        # One worker: historical requests of every connection share Kite's 3/s, and the feed
        # loop must not block on them (other connections' ticks keep flowing).
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kite-backfill")
        self.subscribe(self.default_tokens())

    # -- what streams -------------------------------------------------------------------------
    def default_tokens(self) -> set[int]:
        """Indices and the nearest futures of ``trading.fno_universe``, and the equity universe."""
        m = self.master
        tokens: set[int] = set()
        for name in self.settings.trading.fno_universe:
            try:
                tokens.add(m.index(name).instrument_token)
                tokens.update(f.instrument_token for f in m.futures(name)[: self.cfg.futures_expiries])
            except InstrumentError as exc:
                log.warning("fno_universe %s: %s", name, exc)
        cfg = self.settings.trading.equity_universe_config
        path = Path(cfg.path) if Path(cfg.path).is_absolute() else ROOT / cfg.path
        try:
            symbols = load_equity_universe(path, tuple(cfg.include_indices), cfg.min_price, cfg.max_symbols, m)
        except DataError as exc:  # the equity engine reports it too; indices and futures still stream
            log.error("equity universe not streamed: %s", exc)
            symbols = []
        tokens.update(m.by_symbol("NSE", s).instrument_token for s in symbols)
        return tokens

    def mode_of(self, token: int) -> str:
        segment = self.master.by_token(token).segment
        return self.cfg.segment_modes.get(segment, self.cfg.default_mode)

    def subscribe(self, tokens: set[int]) -> None:
        streaming = {t for c in self.connections for t in c.modes}
        wanted = sorted(t for t in tokens if t not in streaming and t in self.master)
        start = []
        for conn in self.connections:
            room = self.cfg.tokens_per_connection - len(conn.modes)
            if room > 0 and wanted:
                chunk, wanted = wanted[:room], wanted[room:]
                conn.add({t: self.mode_of(t) for t in chunk})
        while wanted and len(self.connections) < self.cfg.max_connections:
            conn = TickerConnection(len(self.connections) + 1, self.creds, self.settings, self._on_ticks,
                                    self._on_reconnect)  # fmt: skip
            chunk, wanted = wanted[: self.cfg.tokens_per_connection], wanted[self.cfg.tokens_per_connection :]
            conn.modes.update({t: self.mode_of(t) for t in chunk})
            self.connections.append(conn)
            start.append(conn)
        if wanted:
            self.counters["refused_instruments"] += len(wanted)
            log.error("%d instruments not streamed: %d connections x %d instruments are full", len(wanted),
                      self.cfg.max_connections, self.cfg.tokens_per_connection)  # fmt: skip
        for conn in start:
            self._connect(conn)

    def _connect(self, conn: TickerConnection) -> None:
        reactor = _reactor()
        if not self._started:
            self._started = True
            conn.ticker.connect(threaded=True)  # starts the reactor thread
        else:
            reactor.callFromThread(conn.ticker.connect)

    def unsubscribe(self, tokens: set[int]) -> None:
        for conn in self.connections:
            conn.remove(tokens)

    # -- ticks ----------------------------------------------------------------------------------
    def _on_reconnect(self, conn: TickerConnection) -> None:
        """Reactor thread: hold this connection's ticks until the minutes it missed are back-filled."""
        if self.cfg.backfill_max_instruments <= 0:
            return
        with self._lock:
            if not conn.holding:  # a drop during a back-fill keeps the ticks already held
                conn.holding, conn.held, conn.hold_since = True, [], time.monotonic()

    def _on_ticks(self, conn: TickerConnection, raw: list[dict[str, Any]]) -> None:
        now = wall_ns()
        out: list[Tick] = []
        for d in raw:
            try:
                inst = self.master.by_token(d["instrument_token"])
            except InstrumentError:
                self.counters["unknown_tokens"] += 1
                continue
            out.append(to_tick(d, inst, now))
        if out:
            with self._lock:
                if conn.holding:
                    conn.held.extend(out)
                    return
                self._queue.append(out)
            self._arrived.set()

    def next_batch(self) -> list[Tick] | None:
        """What arrived since the last call, in event-time order; waits up to 20 ms when nothing has."""
        self.watchdog(time.monotonic())
        if not self._queue:
            self._arrived.wait(0.02)
        self._arrived.clear()
        out: list[Tick] = []
        while self._queue:
            out.extend(self._queue.popleft())
        out.sort(key=lambda t: t.ts_event)
        last = self._last_live
        for t in out:
            last[t.instrument_token] = t
        released = self._backfill(time.monotonic())
        if released:
            for t in released:
                last[t.instrument_token] = t
            out.extend(released)
            out.sort(key=lambda t: t.ts_event)  # stable: per instrument, back-fill before live
        return out

    # -- back-fill after a reconnect ----------------------------------------------------------
    def _backfill(self, now: float) -> list[Tick]:
        """Feed thread: plan, start and release the back-fill of each reconnected connection."""
        released: list[Tick] = []
        for conn in self.connections:
            if not conn.holding:
                continue
            if conn.job is None:
                with self._lock:
                    held = sorted(conn.held, key=lambda t: t.ts_event)
                if not held:
                    if now - conn.hold_since > self.cfg.backfill_timeout_seconds:
                        released += self._release(conn, [])  # nothing came back yet: stop holding
                    continue
                first: dict[int, Tick] = {}
                for t in held:
                    first.setdefault(t.instrument_token, t)
                windows = plan_windows(conn.modes, self._last_live, first, held[0].ts_event, self.master,
                                       self.cfg.backfill_max_instruments)  # fmt: skip
                if not windows:  # a quick reconnect: no whole minute was missed
                    released += self._release(conn, [])
                elif now - conn.hold_since >= self.cfg.backfill_settle_seconds:
                    # planned again each loop until now: instruments whose first tick back arrives
                    # meanwhile get their own end, and Kite has closed the last missed minute
                    conn.windows = windows
                    conn.job = self._pool.submit(self.backfiller.fetch, windows)
            elif conn.job.done():
                try:
                    ticks = conn.job.result()
                except Exception:  # a bug, not a Kite error (fetch logs and skips those)
                    log.exception("ticker %d: back-fill failed", conn.number)
                    ticks = []
                self.counters["backfills"] += 1
                w = conn.windows
                log.info("ticker %d: back-filled %d ticks for %d of %d instruments that missed whole minutes "
                         "(first %s)", conn.number, len(ticks), len({t.instrument_token for t in ticks}), len(w),
                         _window_text(w[0]))  # fmt: skip
                released += self._release(conn, ticks)
            elif now - conn.hold_since > self.cfg.backfill_timeout_seconds:
                self._timed_out(conn)
                released += self._release(conn, [])
        return released

    def _release(self, conn: TickerConnection, backfill: list[Tick]) -> list[Tick]:
        with self._lock:
            held, conn.held, conn.holding, conn.job = conn.held, [], False, None
        return backfill + held

    def _timed_out(self, conn: TickerConnection) -> None:
        """The back-fill took too long: live ticks must flow; the hole stays and a person is told."""
        self.counters["backfill_timeouts"] += 1
        first = _window_text(conn.windows[0]) if conn.windows else "?"
        message = (f"ticker {conn.number}: back-fill of {len(conn.windows)} instruments did not finish in "
                   f"{self.cfg.backfill_timeout_seconds:g} s; live ticks flow again and the missed minutes "
                   f"(first {first}) stay without ticks")  # fmt: skip
        log.error(message)
        self.alerts.append(Alert(
            ts_event=wall_ns(), source="feed", severity="warning", code="feed_gap", message=message,
            details={"connection": conn.number, "instruments": [w.token for w in conn.windows]},
        ))  # fmt: skip

    def watchdog(self, now: float) -> None:
        for conn in self.connections:
            # Only an open socket can be silently dead; one waiting out its reconnect back-off
            # (longer than stale_seconds after a few attempts) must not be dropped again.
            if conn.connects and conn.ticker.is_connected() and conn.stale(now, self.cfg.stale_seconds):
                log.warning("ticker %d: no frame for %.1f s; dropping it to reconnect", conn.number,
                            now - conn.last_frame)  # fmt: skip
                self.counters["watchdog_drops"] += 1
                conn.drop()

    @property
    def session_started(self) -> bool:
        first, self._first = self._first, False
        return first

    def resume_after(self, ts_ns: int) -> int:
        return 0  # live data cannot be replayed; the feed carries on from now

    def close(self) -> None:
        if not self._started:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        reactor = _reactor()
        for conn in self.connections:
            reactor.callFromThread(conn.ticker.close)
        reactor.callFromThread(reactor.stop)


def _window_text(w: Window) -> str:
    return f"token {w.token} {ns_to_ist(w.start_ns):%H:%M}-{ns_to_ist(w.end_ns):%H:%M}"

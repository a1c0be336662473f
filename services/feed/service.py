"""The feed loop: serve subscription requests, pace the source, publish ticks in batches."""

from __future__ import annotations

import logging
import time

import msgspec

from services.feed.pacing import Pacer
from services.feed.scanner import run_scanner
from services.feed.sources import TickSource, build_source
from services.feed.subscriptions import Subscriptions
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus, Consumer
from shared.clock import ist_day, wall_ns
from shared.config import Settings
from shared.contracts import FeedSubscription, InstrumentsPublished, Tick
from shared.errors import DecodeError, InstrumentError
from shared.instruments import InstrumentsMaster
from shared.runtime.service import Service

log = logging.getLogger(__name__)

MAX_SLEEP_S = 0.2  # wake up at least this often to serve control requests and heartbeats
CONTROL_EVERY_S = 0.02  # at speed=max, read control.feed at most this often (a round trip per read)


def tick_stream_map(master: InstrumentsMaster) -> dict[int, str]:
    """Instrument token -> its tick stream (indices get their own: ``ticks.INDICES``)."""
    return {
        inst.instrument_token: streams.ticks("INDICES" if inst.is_index else inst.exchange) for inst in master
    }


class FeedService(Service):
    """Publishes the market, one event-time batch at a time."""

    name = "feed"

    def __init__(self, settings: Settings, bus: Bus, source: TickSource | None = None) -> None:
        super().__init__(settings, bus)
        self.source = source or build_source(settings)
        live = settings.data.source == "kite"  # live ticks arrive in their own time: never pace them
        self.pacer = Pacer("max" if live else settings.data.speed)
        self.max_speed = live or settings.data.speed == "max"
        self.batch_size = settings.data.publish_batch
        self.control: Consumer | None = None
        self.subs = Subscriptions()
        self.stream_of = tick_stream_map(self.source.master)
        self.published_day = ""
        self.finished = False
        self.counters = {"ticks": 0, "batches": 0, "subscription_errors": 0}
        self.last_event_ns = 0
        self._held: list[Tick] | None = None
        self._restart_session = False
        self._next_control = 0.0

    def on_start(self) -> None:
        self.control = self.bus.consumer(streams.group(self.name), [streams.CONTROL_FEED], start_id="0")
        last = self.last_published_ns()
        if last:
            # A restart (after a crash, or supervisord's autorestart): carry on after the last tick
            # already on the bus instead of publishing the session again from 09:15.
            skipped = self.source.resume_after(last)
            log.info("resuming after event time %s (%d ticks already published were skipped)", last, skipped)

    def last_published_ns(self) -> int:
        """The newest tick event time on the tick streams (0 when they are empty)."""
        newest = 0
        for stream in streams.ALL_TICK_STREAMS:
            for _, fields in self.bus.redis.xrevrange(stream, count=1):
                try:
                    newest = max(newest, codec.decode(fields).ts_event)
                except DecodeError:
                    continue
        return newest

    # -- instruments master ------------------------------------------------------------
    def publish_master(self, ts_event: int) -> None:
        day = ist_day(ts_event).isoformat()
        if day == self.published_day:
            return
        text = self.source.master.to_csv_text()
        key = streams.instruments_csv_key(day)
        pipe = self.bus.redis.pipeline(transaction=False)
        pipe.set(key, text)
        pipe.set(streams.INSTRUMENTS_LATEST, text)
        pipe.execute()
        path = self.settings.artifacts / "instruments" / f"{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.source.master.to_csv(path)
        self.bus.publish(
            streams.INSTRUMENTS,
            InstrumentsPublished(ts_event=ts_event, ts_init=wall_ns(), day=day, key=key, count=len(self.source.master)),
        )
        self.published_day = day
        run_scanner(self.settings, self.source.master, day, ts_event)
        log.info("instruments master for %s: %d instruments (key %s, %s)", day, len(self.source.master), key, path)

    # -- control.feed --------------------------------------------------------------------
    def serve_control(self) -> None:
        assert self.control is not None
        if self.max_speed:
            now = time.monotonic()
            if now < self._next_control:
                return
            self._next_control = now + CONTROL_EVERY_S
        deliveries = self.control.read(count=100, block_ms=None)
        for d in deliveries:
            req = d.message
            if not isinstance(req, FeedSubscription):
                log.warning("ignoring %s on %s", type(req).__name__, d.stream)
                continue
            try:
                tokens = self.subs.resolve(req, self.source.master)
            except InstrumentError as exc:
                log.error("subscription request from %s rejected: %s", req.requester, exc)
                self.counters["subscription_errors"] += 1
                continue
            start, stop = self.subs.apply(req, tokens)
            if start:
                self.source.subscribe(start)
            if stop:
                self.source.unsubscribe(stop)
            log.info("%s %s: +%d -%d instruments", req.requester, req.action.value, len(start), len(stop))
        self.control.ack(deliveries)

    # -- ticks ---------------------------------------------------------------------------
    def publish(self, ticks: list[Tick]) -> None:
        if not self.max_speed:
            # ts_init: the wall time the tick entered the system (latency is measured from it).
            # At speed=max event time has no wall-time meaning and the copy would cost ~3%.
            now = wall_ns()
            ticks = [msgspec.structs.replace(t, ts_init=now) for t in ticks]
        stream_of = self.stream_of
        # One batch of up to 128 entries per server-side call, also when paced: measured with
        # bench.pipeline, batches of 16 made the engine stage 2-3x slower (more wake-ups).
        self.bus.publish_many((stream_of[t.instrument_token], t) for t in ticks)
        self.counters["ticks"] += len(ticks)
        self.counters["batches"] += 1
        self.last_event_ns = ticks[-1].ts_event

    def _next(self, deadline: float) -> list[Tick] | None:
        """The next event-time batch: held over from the last slice, or fresh from the source
        ([] when a live source has nothing before ``deadline``)."""
        if self._held is not None:
            ticks, self._held = self._held, None
            return ticks
        ticks = self.source.next_batch()
        while ticks is not None and not ticks and time.monotonic() < deadline:
            ticks = self.source.next_batch()
        return ticks

    def publish_alerts(self) -> None:
        """A source's alerts (the kite source's un-back-filled gaps) go on the ``alerts`` stream."""
        alerts = getattr(self.source, "alerts", None)
        while alerts:
            self.bus.publish(streams.ALERTS, alerts.pop(0))

    def run_once(self) -> None:
        self.serve_control()
        self.publish_alerts()
        if self.finished:
            time.sleep(MAX_SLEEP_S)
            return
        out: list[Tick] = []
        deadline = time.monotonic() + MAX_SLEEP_S
        while len(out) < self.batch_size:
            ticks = self._next(deadline)
            if ticks is None:
                self.finished = True
                log.info("source finished after %d ticks; idling until stopped", self.counters["ticks"])
                break
            if not ticks:
                break
            if self.source.session_started:
                if out:  # finish the old session's batch first
                    self._held = ticks
                    self._restart_session = True
                    break
                self._restart_session = True
            if self._restart_session:
                self._restart_session = False
                self.stream_of = tick_stream_map(self.source.master)  # the day's contracts
                self.publish_master(ticks[0].ts_event)
                self.pacer.anchor(ticks[0].ts_event)
            wait = self.pacer.delay(ticks[0].ts_event)
            if wait > 0:
                remaining = deadline - time.monotonic()
                if out or wait > remaining:
                    # Publish what is due now; sleep what is left of the slice and come back.
                    self._held = ticks
                    if not out:
                        time.sleep(max(0.0, remaining))
                    break
                time.sleep(wait)
            out.extend(ticks)
            if not self.max_speed or time.monotonic() >= deadline:
                break
        if out:
            self.publish(out)

    def health_detail(self) -> str:
        state = " finished" if self.finished else ""
        return f"event_time_ns={self.last_event_ns} source={self.settings.data.source}{state}"

    def on_stop(self) -> None:
        self.source.close()


"""The base of every service process: a loop, a stop flag, heartbeats into ``health``.

A subclass implements ``run_once`` (one bounded slice of work, returning quickly) and
optionally ``on_start`` / ``on_stop``. SIGTERM and SIGINT ask the loop to stop after the
current slice, so effects are acknowledged and nothing is left half done.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import time
from types import FrameType

from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.config import Settings, exit_on_config_error, load_settings
from shared.contracts import Heartbeat
from shared.enums import ServiceState
from shared.errors import ConfigError, DataError
from shared.runtime.logging import setup_logging
from shared.state.durable import DurableWriter

log = logging.getLogger(__name__)

#: Generation thresholds for the hot loops (CPython's default is 700, 10, 10). A tick allocates
#: a few tracked containers that reference counting frees at once, so the default runs a
#: young-generation collection every few hundred ticks, and full ones scan every start-up
#: object. Measured in bench/bus.py: a consumer spends about 25% less CPU per tick.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move what start-up built out of the collector's sight and collect young objects rarely.

    Called once a service's state is loaded (``Service.run`` does it after ``on_start``).
    Cyclic garbage still gets collected, only less often; the memory it holds meanwhile is small.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Service:
    """A long-running process on the bus."""

    name = "service"

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        self.stopping = False
        self.state = ServiceState.STARTING
        self.counters: dict[str, int] = {}
        #: fsyncs and checkpoint files, off the loop; acknowledgements run once they are done
        self.durable = DurableWriter(f"{self.name}-durable")
        self._next_heartbeat = 0.0
        self._heartbeat_every = settings.services.heartbeat_seconds

    # -- lifecycle -------------------------------------------------------------------
    def on_start(self) -> None:
        """Prepare before the loop (consumer groups, state recovery)."""

    def run_once(self) -> None:
        """One slice of work; must return within about a second."""
        raise NotImplementedError

    def on_stop(self) -> None:
        """Flush and release after the loop."""

    def step(self) -> None:
        """One turn of the loop, waiting until its durable writes are done and acknowledged
        (for tests and tools that drive a service by hand; ``run`` does not wait)."""
        self.run_once()
        self.durable.drain()

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.on_start()
        tune_gc()
        self.state = ServiceState.RUNNING
        self.heartbeat(force=True)
        try:
            while not self.stopping:
                self.run_once()
                self.durable.poll()
                self.heartbeat()
        finally:
            self.state = ServiceState.STOPPING
            try:
                self.on_stop()
            finally:
                self.durable.close()  # what on_stop queued is on disk (and acknowledged) before exit
            self.state = ServiceState.STOPPED
            try:
                self.heartbeat(force=True)
            except Exception:  # Redis may be the reason we stop
                log.warning("could not publish the final heartbeat")
        log.info("%s stopped", self.name)
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s: signal %s, stopping", self.name, signal.Signals(signum).name)
        self.stopping = True

    # -- health ----------------------------------------------------------------------
    def heartbeat(self, *, force: bool = False, detail: str = "") -> None:
        now = time.monotonic()
        if not force and now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self._heartbeat_every
        ts = wall_ns()
        self.bus.publish(
            streams.HEALTH,
            Heartbeat(
                ts_event=ts,
                ts_init=ts,
                service=self.name,
                pid=os.getpid(),
                state=self.state,
                detail=detail or self.health_detail(),
                counters=dict(self.counters),
            ),
        )

    def health_detail(self) -> str:
        return ""


def service_main(cls: type[Service], argv: list[str] | None = None) -> int:
    """The ``__main__`` of a service: parse ``--config``, load settings, connect, run."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{cls.name}", description=cls.__doc__)
    parser.add_argument("--config", help="YAML config (default $KITE_ALGO_CONFIG or configs/dev.yaml)")
    args = parser.parse_args(argv)
    settings = exit_on_config_error(lambda: load_settings(args.config))
    setup_logging(cls.name, settings.services.log_level)
    try:
        bus = Bus.from_url(settings.redis.url)
    except ConnectionError as exc:
        log.error("%s", exc)
        return 3
    try:
        service = cls(settings, bus)
    except (ConfigError, DataError) as exc:
        log.error("cannot start %s: %s", cls.name, exc)
        return 2
    return service.run()

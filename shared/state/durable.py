"""Durable writes off the service loop: fsyncs and checkpoint files on one background thread.

A service makes its effects durable (journal fsyncs, checkpoint files) before it
acknowledges the stream entries that caused them. Done inline, every batch that changed
state waits 1-10 ms for the disk before the next input is read, and that wait is the bulk of
the tick -> fill latency. ``DurableWriter`` moves the disk work to a thread while keeping the
rule: the loop hands over a *job* (the disk work, with everything it writes already built in
the loop's thread: a consistent snapshot) and a *then* callback (the acknowledgement), and
``then`` runs on the loop's thread, in submission order, only once that job and every job
before it have finished. A crash before that leaves the entries pending, to be redelivered
and deduplicated, exactly as a crash before an inline write would.

Checkpoint jobs carry a ``key`` (the file): a job still queued behind the running one is
replaced by a newer job with the same key (the newer snapshot supersedes it), and its
callbacks wait for the newer one. A failed job is raised on the loop's thread at the next
``poll``; its callbacks and every later one never run (nothing unsaved is acknowledged).

The redis client is not thread-safe: only ``then`` (on the loop's thread) touches Redis.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Job = Callable[[], None]
Then = Callable[[], None]


@dataclass(slots=True)
class _Entry:
    job: Job | None
    key: str | None
    thens: list[Then] = field(default_factory=list)


class DurableWriteError(RuntimeError):
    """A background durable write failed; the inputs it covered were not acknowledged."""


class DurableWriter:
    """One thread doing a service's durable writes in order; callbacks back on the loop's thread."""

    def __init__(self, name: str = "durable") -> None:
        self._queue: deque[_Entry] = deque()
        self._done: deque[list[Then]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._error: BaseException | None = None
        self._closed = False
        self.jobs = 0  # written (coalesced jobs not counted)
        self.coalesced = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the loop's side ---------------------------------------------------------------------
    def submit(self, job: Job | None, then: Then | None = None, *, key: str | None = None) -> None:
        """Queue ``job`` (None: nothing to write, only ``then`` after what is queued)."""
        with self._cond:
            if self._closed:
                raise DurableWriteError("the durable writer is closed")
            last = self._queue[-1] if self._queue else None
            if job is None:
                if then is None:
                    return
                if last is None and not self._busy:  # nothing ahead of it: due at the next poll
                    self._done.append([then])
                    return
                if last is None:  # only the running job is ahead: wait for it
                    last = _Entry(None, None)
                    self._queue.append(last)
            elif key is not None and last is not None and last.key == key:
                last.job = job  # the newer snapshot of the same file supersedes the queued one
                self.coalesced += 1
            else:
                last = _Entry(job, key)
                self._queue.append(last)
            if then is not None:
                last.thens.append(then)
            self._cond.notify_all()

    def poll(self) -> int:
        """Run the callbacks of finished jobs (on the caller's thread); returns how many ran.

        Raises ``DurableWriteError`` when a job failed.
        """
        if self._error is not None:
            raise DurableWriteError(f"a durable write failed: {self._error!r}") from self._error
        ran = 0
        while self._done:
            with self._cond:
                if not self._done:
                    break
                thens = self._done.popleft()
            for then in thens:
                then()
                ran += 1
        return ran

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._busy

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is written, then run the callbacks; False on timeout."""
        with self._cond:
            ok = self._cond.wait_for(lambda: (not self._queue and not self._busy) or self._error is not None, timeout)
        self.poll()
        return ok

    def close(self, timeout: float | None = 30.0) -> None:
        """Drain, then stop the thread (idempotent)."""
        if self._closed:
            return
        try:
            self.drain(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout)

    # -- the thread's side -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return  # closed and empty
                entry = self._queue.popleft()
                self._busy = True
            try:
                if entry.job is not None:
                    entry.job()
                    self.jobs += 1
            except BaseException as exc:  # raised on the loop's thread by poll()
                log.exception("durable write failed")
                with self._cond:
                    self._error = exc
                    self._queue.clear()
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._busy = False
                if entry.thens:
                    self._done.append(entry.thens)
                self._cond.notify_all()

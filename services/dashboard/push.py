"""Live push to browsers: one bounded queue per connected client, fed from the stream reader's thread.

The reader never waits for a browser: ``publish`` hands the event to the event loop and
returns. A client whose queue is full (a stalled tab) is disconnected instead of slowing
anyone down; its EventSource reconnects and the page reloads its state from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

log = logging.getLogger(__name__)

_CLOSE: Final = ("", "")


class Client:
    __slots__ = ("queue",)

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=size)


class PushHub:
    """Fan-out of (event kind, JSON text) to every connected client."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def publish(self, events: list[tuple[str, str]]) -> None:
        """Send events to every client (callable from any thread; never blocks)."""
        if not events or self.loop is None or not self.clients:
            return
        self.published += len(events)
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self.loop.call_soon_threadsafe(self._fan_out, events)

    def _fan_out(self, events: list[tuple[str, str]]) -> None:
        for client in list(self.clients):
            q = client.queue
            if q.maxsize - q.qsize() < len(events):
                self._drop(client)
                continue
            for ev in events:
                q.put_nowait(ev)

    def _drop(self, client: Client) -> None:
        self.clients.discard(client)
        self.dropped += 1
        log.warning("a browser fell %d events behind: disconnecting it (it reconnects and reloads)", self.queue_size)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(_CLOSE)

    async def subscribe(self) -> AsyncIterator[tuple[str, str]]:
        """The events for one client until it disconnects or falls behind."""
        client = Client(self.queue_size)
        self.clients.add(client)
        try:
            while True:
                ev = await client.queue.get()
                if ev is _CLOSE:
                    return
                yield ev
        finally:
            self.clients.discard(client)

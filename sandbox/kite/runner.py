"""Run the sandbox: in the foreground (``python -m sandbox.kite``) or in a background thread (tests)."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn

from sandbox.kite.config import SandboxConfig
from sandbox.kite.server import Sandbox


def _uvicorn_config(sandbox: Sandbox, host: str, port: int, log_level: str) -> uvicorn.Config:
    # websockets-sansio: uvicorn's implementation that uses no deprecated websockets API
    # no access log: the ticker's URL carries the access token in its query string
    return uvicorn.Config(sandbox.app, host=host, port=port, log_level=log_level, ws="websockets-sansio",
                          lifespan="on", access_log=False)  # fmt: skip


def serve(cfg: SandboxConfig, host: str = "127.0.0.1", port: int = 8700, log_level: str = "info") -> None:
    uvicorn.Server(_uvicorn_config(Sandbox(cfg), host, port, log_level)).run()


class SandboxThread:
    """The sandbox on a free port in a daemon thread; ``root`` / ``ws_root`` for the Kite clients."""

    def __init__(self, cfg: SandboxConfig, host: str = "127.0.0.1") -> None:
        self.sandbox = Sandbox(cfg)
        self.server = uvicorn.Server(_uvicorn_config(self.sandbox, host, 0, "warning"))
        self.host = host
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="kite-sandbox", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self.server.serve())
        finally:
            self.loop.close()

    def start(self, timeout: float = 20.0) -> SandboxThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Kite sandbox did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_root(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def call(self, fn, *args):  # type: ignore[no-untyped-def]
        """Run ``fn(*args)`` on the server's loop (the account is single-threaded) and return its result."""
        assert self.loop is not None

        async def run():  # type: ignore[no-untyped-def]
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)

"""The FastAPI app: ``uvicorn services.dashboard.app:app --port 8765`` or ``python -m services.dashboard``.

``create_app`` wires the routers and the static page; the lifespan connects to Redis, joins
the ``dashboard`` consumer group (before loading history, so nothing falls in between),
loads the journals and checkpoints, then starts the stream reader. Settings come from
``load_settings`` (``KITE_ALGO_CONFIG``, ``KITE_ALGO__*``, ``REDIS_URL``) when not given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.dashboard.controls import ControlDesk, load_token
from services.dashboard.deps import Dashboard
from services.dashboard.history import History
from services.dashboard.live import StreamReader
from services.dashboard.push import PushHub
from services.dashboard.routers import backtests, control, read, stream
from services.dashboard.store import Store
from shared.bus.redis_bus import Bus
from shared.config import Settings, exit_on_config_error, load_settings
from shared.state.paths import StatePaths

log = logging.getLogger(__name__)

STATIC: Final = Path(__file__).resolve().parent / "static"


def build_dashboard(settings: Settings, bus: Bus) -> Dashboard:
    store = Store(settings.dashboard)
    history = History(StatePaths.from_settings(settings), store)
    hub = PushHub(settings.dashboard.client_queue)
    reader = StreamReader(bus, store, history, hub, heartbeat_s=settings.services.heartbeat_seconds)
    desk = ControlDesk(bus, settings.artifacts, load_token(settings))
    return Dashboard(settings=settings, bus=bus, store=store, history=history, hub=hub, reader=reader, desk=desk)


def create_app(settings: Settings | None = None, bus: Bus | None = None) -> FastAPI:
    """The dashboard app; ``settings``/``bus`` default to the environment's at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or exit_on_config_error(load_settings)
        b = bus or Bus.from_url(s.redis.url)
        dash = build_dashboard(s, b)
        dash.hub.bind(asyncio.get_running_loop())
        dash.reader.open()
        await run_in_threadpool(dash.history.load, b)
        dash.reader.start()
        app.state.dash = dash
        log.info("dashboard up: %s, artifacts %s", s.redis.url.split("@")[-1], s.artifacts)
        try:
            yield
        finally:
            app.state.dash = None
            dash.reader.stop()
            dash.desk.close()

    app = FastAPI(
        title="kite-algo dashboard",
        version="1",
        description="The paper or live session, live: portfolio, orders, signals, performance, health, "
        "candles, and token-protected controls that publish on the `control` stream.",
        lifespan=lifespan,
    )
    app.include_router(read.router)
    app.include_router(control.router)
    app.include_router(stream.router)
    app.include_router(backtests.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


app = create_app()

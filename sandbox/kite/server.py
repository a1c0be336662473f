"""The sandbox server: Kite's REST routes and binary WebSocket on one port, over the simulated market.

Everything runs on one asyncio loop (uvicorn's): the REST handlers, the WebSocket readers and
the market loop that steps the simulated market every ``step_ms / speed`` wall milliseconds.
Routes sit at ``/`` because pykiteconnect drops any path prefix of its ``root``.
Admin routes under ``/_sandbox/`` inject faults and read state (not part of Kite's API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.kite import views, wire
from sandbox.kite.account import KiteAccount
from sandbox.kite.config import SandboxConfig
from sandbox.kite.errors import GENERAL, INPUT, KiteError, input_error, token_error
from sandbox.kite.records import KiteOrder
from shared.clock import IST
from shared.contracts import Tick
from shared.instruments import InstrumentsMaster

log = logging.getLogger("sandbox.kite")
SEND_QUEUE = 2000  # frames a slow client may lag behind before it is dropped


class Connection:
    """One ticker socket: its subscriptions (token -> mode) and an outgoing queue."""

    def __init__(self, ws: WebSocket, api_key: str) -> None:
        self.ws = ws
        self.api_key = api_key
        self.modes: dict[int, str] = {}
        self.silent = False
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(SEND_QUEUE)
        self.last_sent = 0.0

    def push(self, item: bytes | str | None) -> None:
        if self.silent and item is not None:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("ticker client %s is too slow; dropping it", self.ws.client)
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)


class Sandbox:
    """The account, the sockets and the market loop; ``app`` is the ASGI application."""

    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.account = KiteAccount(cfg)
        self.connections: list[Connection] = []
        self.app = self._build_app()
        self.paused = False

    # -- the market loop ----------------------------------------------------------------------
    async def market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.cfg.step_ms / 1000 / self.cfg.speed
        due = loop.time()
        while True:
            if not self.paused:
                ticks = self.account.step()
                self.broadcast(ticks)
            self.flush_order_updates()
            self.heartbeats(loop.time())
            due += interval
            delay = due - loop.time()
            if delay < -1.0:  # far behind (a busy machine): do not try to catch up in a burst
                due = loop.time()
            await asyncio.sleep(max(0.0, delay))

    def broadcast(self, ticks: list[Tick]) -> None:
        if not self.connections or not ticks:
            return
        now = asyncio.get_running_loop().time()
        for conn in self.connections:
            if not conn.modes:
                continue
            modes = conn.modes
            packets = [wire.encode(t, modes[t.instrument_token]) for t in ticks if t.instrument_token in modes]
            if packets:
                conn.push(wire.frame(packets))
                conn.last_sent = now

    def heartbeats(self, now: float) -> None:
        for conn in self.connections:
            if now - conn.last_sent >= self.cfg.heartbeat_seconds:
                conn.push(wire.HEARTBEAT)
                conn.last_sent = now

    def flush_order_updates(self) -> None:
        acct = self.account
        if not acct.updates:
            return
        messages = [
            json.dumps({"type": "order", "data": o.postback(self.cfg.user_id, self.cfg.api_key)}) for o in acct.updates
        ]
        acct.updates.clear()
        for conn in self.connections:
            for m in messages:
                conn.push(m)

    # -- the WebSocket ------------------------------------------------------------------------
    async def ticker(self, ws: WebSocket) -> None:
        api_key = ws.query_params.get("api_key", "")
        try:
            self.account.check_token(api_key, ws.query_params.get("access_token", ""))
        except KiteError:
            await ws.close(code=1008)  # before accept: the handshake fails with 403, as on Kite
            return
        await ws.accept()
        conn = Connection(ws, api_key)
        mine = [c for c in self.connections if c.api_key == api_key]
        if len(mine) >= self.cfg.connections_per_key:  # Kite drops the oldest connection
            mine[0].push(None)
            self.connections.remove(mine[0])
        self.connections.append(conn)
        sender = asyncio.create_task(self._send(conn))
        try:
            while True:
                text = await ws.receive_text()
                self._on_client_message(conn, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
            sender.cancel()

    async def _send(self, conn: Connection) -> None:
        with contextlib.suppress(Exception):
            while True:
                item = await conn.queue.get()
                if item is None:
                    await conn.ws.close(code=1011)
                    return
                if isinstance(item, bytes):
                    await conn.ws.send_bytes(item)
                else:
                    await conn.ws.send_text(item)

    def _on_client_message(self, conn: Connection, text: str) -> None:
        try:
            msg = json.loads(text)
            action, value = msg["a"], msg["v"]
        except (ValueError, KeyError, TypeError):
            conn.push(json.dumps({"type": "error", "data": f"invalid message: {text[:100]}"}))
            return
        if action == "subscribe":
            self._subscribe(conn, [t for t in value if isinstance(t, int)], wire.MODE_QUOTE, only_new=True)
        elif action == "unsubscribe":
            for t in value:
                conn.modes.pop(t, None)
        elif action == "mode" and len(value) == 2 and value[0] in wire.MODES:
            self._subscribe(conn, [t for t in value[1] if isinstance(t, int)], value[0], only_new=False)
        else:
            conn.push(json.dumps({"type": "error", "data": f"unknown action {action!r}"}))

    def _subscribe(self, conn: Connection, tokens: list[int], mode: str, *, only_new: bool) -> None:
        known = [t for t in tokens if t in self.account.master]
        room = self.cfg.tokens_per_connection - len(conn.modes)
        fresh = [t for t in dict.fromkeys(known) if t not in conn.modes]
        if len(fresh) > room:
            conn.push(json.dumps({"type": "error", "data": (
                f"Maximum instruments per connection is {self.cfg.tokens_per_connection}; "
                f"{len(fresh) - room} instruments were not subscribed."
            )}))  # fmt: skip
            keep = set(fresh[: max(0, room)])
            known = [t for t in known if t in conn.modes or t in keep]
        for t in known:
            if not only_new or t not in conn.modes:  # a repeated subscribe keeps the mode (idempotent)
                conn.modes[t] = mode
        self.account.market.subscribe(t for t in known if t not in self.account.market.subscribed)

    # -- admin ---------------------------------------------------------------------------------
    def apply_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        faults = self.account.faults
        for key in ("hang_after_place", "hang_seconds", "error_after_place", "reject_next", "reject_reason"):
            if key in body:
                setattr(faults, key, type(getattr(faults, key))(body[key]))
        if body.get("drop_sockets"):
            for conn in list(self.connections):
                conn.push(None)
            self.connections.clear()
        if body.get("silence_sockets"):
            for conn in self.connections:
                conn.silent = True
        if body.get("expire_tokens"):
            self.account.expire_all_tokens()
        if "paused" in body:
            self.paused = bool(body["paused"])
        return self.state()

    def state(self) -> dict[str, Any]:
        acct = self.account
        return {
            "now_ns": acct.now_ns, "day": acct.market.day.isoformat(), "orders": len(acct.orders),
            "refused_by_rate_limit": acct.limiter.refused, "paused": self.paused,
            "connections": [{"instruments": len(c.modes), "silent": c.silent} for c in self.connections],
            "faults": {k: getattr(acct.faults, k) for k in acct.faults.__slots__},
        }  # fmt: skip

    # -- REST ----------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:  # noqa: C901 - one small closure per route
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            task = asyncio.create_task(self.market_loop())
            yield
            task.cancel()

        app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
        acct = self.account

        @app.exception_handler(KiteError)
        async def kite_error(_: Request, exc: KiteError) -> JSONResponse:
            return JSONResponse(exc.body(), status_code=exc.http_status)

        @app.exception_handler(StarletteHTTPException)
        async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
            err = KiteError(exc.status_code, GENERAL if exc.status_code >= 500 else INPUT, str(exc.detail))
            return JSONResponse(err.body(), status_code=exc.status_code)

        @app.exception_handler(Exception)
        async def crash(_: Request, exc: Exception) -> JSONResponse:
            log.exception("sandbox error")
            return JSONResponse(KiteError(500, GENERAL, f"sandbox error: {exc}").body(), status_code=500)

        def ok(data: Any) -> JSONResponse:
            return JSONResponse({"status": "success", "data": data})

        async def form(request: Request) -> dict[str, str]:
            body = (await request.body()).decode()
            return dict(parse_qsl(body, keep_blank_values=True))

        def authorise(request: Request) -> None:
            header = request.headers.get("authorization", "")
            scheme, _, cred = header.partition(" ")
            api_key, _, token = cred.partition(":")
            if scheme != "token" or not token:
                raise token_error("Incorrect `api_key` or `access_token`.")
            acct.check_token(api_key, token)

        @app.get("/connect/login")
        async def login(api_key: str = "", redirect_params: str = "") -> Response:
            if api_key != self.cfg.api_key:
                raise input_error("Invalid `api_key`.")
            query = {"action": "login", "type": "login", "status": "success", "request_token": acct.new_request_token()}
            extra = dict(parse_qsl(redirect_params))
            return RedirectResponse(self.cfg.redirect_url + "?" + urlencode({**extra, **query}), status_code=302)

        @app.post("/session/token")
        async def session_token(request: Request) -> JSONResponse:
            p = await form(request)
            return ok(acct.create_session(p.get("api_key", ""), p.get("request_token", ""), p.get("checksum", "")))

        @app.delete("/session/token")
        async def logout(api_key: str = "", access_token: str = "") -> JSONResponse:
            acct.invalidate(access_token)
            return ok(True)

        @app.get("/user/profile")
        async def profile(request: Request) -> JSONResponse:
            authorise(request)
            return ok(acct.profile())

        @app.get("/user/margins")
        async def margins(request: Request) -> JSONResponse:
            authorise(request)
            return ok(views.margins(acct, None))

        @app.get("/user/margins/{segment}")
        async def margins_segment(segment: str, request: Request) -> JSONResponse:
            authorise(request)
            if segment not in ("equity", "commodity"):
                raise input_error(f"Invalid segment {segment!r}.")
            return ok(views.margins(acct, segment))

        @app.post("/orders/{variety}")
        async def place(variety: str, request: Request) -> JSONResponse:
            authorise(request)
            order = acct.place(variety, await form(request))
            return await self._after_place(order)

        @app.put("/orders/{variety}/{order_id}")
        async def modify(variety: str, order_id: str, request: Request) -> JSONResponse:
            authorise(request)
            return ok({"order_id": acct.modify(variety, order_id, await form(request)).order_id})

        @app.delete("/orders/{variety}/{order_id}")
        async def cancel(variety: str, order_id: str, request: Request) -> JSONResponse:
            authorise(request)
            return ok({"order_id": acct.cancel(variety, order_id).order_id})

        @app.get("/orders")
        async def orders(request: Request) -> JSONResponse:
            authorise(request)
            return ok([o.as_dict() for o in acct.orders.values()])

        @app.get("/orders/{order_id}")
        async def order_history(order_id: str, request: Request) -> JSONResponse:
            authorise(request)
            return ok(acct.order(order_id).history)

        @app.get("/orders/{order_id}/trades")
        async def order_trades(order_id: str, request: Request) -> JSONResponse:
            authorise(request)
            return ok(acct.order(order_id).trades)

        @app.get("/trades")
        async def trades(request: Request) -> JSONResponse:
            authorise(request)
            return ok(acct.trades())

        @app.get("/portfolio/positions")
        async def positions(request: Request) -> JSONResponse:
            authorise(request)
            return ok(views.positions(acct))

        @app.get("/portfolio/holdings")
        async def holdings(request: Request) -> JSONResponse:
            authorise(request)
            return ok([])  # the sandbox runs intraday sessions: nothing is delivered (T+1) into holdings

        for kind, path in (("quote", "/quote"), ("ohlc", "/quote/ohlc"), ("ltp", "/quote/ltp")):

            async def quote(request: Request, kind: str = kind) -> JSONResponse:
                authorise(request)
                return ok(views.quotes(acct, request.query_params.getlist("i"), kind))

            app.add_api_route(path, quote, methods=["GET"])

        @app.get("/instruments")
        async def instruments_all(request: Request) -> Response:
            authorise(request)
            return PlainTextResponse(acct.master.to_csv_text(), media_type="text/csv")

        @app.get("/instruments/{exchange}")
        async def instruments(exchange: str, request: Request) -> Response:
            authorise(request)
            subset = InstrumentsMaster([i for i in acct.master if i.exchange == exchange], source=exchange)
            return PlainTextResponse(subset.to_csv_text(), media_type="text/csv")

        @app.get("/instruments/historical/{token}/{interval}")
        async def historical(token: int, interval: str, request: Request) -> JSONResponse:
            authorise(request)
            q = request.query_params
            try:
                start = datetime.strptime(q.get("from", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
                end = datetime.strptime(q.get("to", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
            except ValueError:
                raise input_error("Invalid `from` or `to`: expected yyyy-mm-dd hh:mm:ss.") from None
            candles = acct.historical(token, interval, start, end, q.get("oi") == "1")
            return ok({"candles": candles})

        @app.websocket("/")
        async def ws(websocket: WebSocket) -> None:
            await self.ticker(websocket)

        @app.post("/_sandbox/faults")
        async def faults(request: Request) -> JSONResponse:
            return ok(self.apply_faults(await request.json()))

        @app.get("/_sandbox/state")
        async def state() -> JSONResponse:
            return ok(self.state())

        @app.post("/_sandbox/session")
        async def new_session() -> JSONResponse:
            """A request token without the browser step (demos and tests of the token exchange)."""
            return ok({"request_token": acct.new_request_token()})

        return app

    async def _after_place(self, order: KiteOrder) -> JSONResponse:
        faults = self.account.faults
        if faults.hang_after_place > 0:  # the order is in the book; the caller never hears so
            faults.hang_after_place -= 1
            await asyncio.sleep(faults.hang_seconds)
        if faults.error_after_place > 0:
            faults.error_after_place -= 1
            raise KiteError(503, "NetworkException", "Request failed (kitetrade-oms)")
        return JSONResponse({"status": "success", "data": {"order_id": order.order_id}})

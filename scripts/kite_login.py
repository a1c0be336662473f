"""The Kite login: print the login URL, catch the redirect locally, exchange the request token.

``python -m scripts.run_trader paper --login`` (or ``run_day --login``) runs this and exits:

1. prints ``kite.login_url?v=3&api_key=...`` for the user to open;
2. serves ``http://127.0.0.1:<kite.redirect_port>/`` until Kite redirects there with
   ``request_token`` (Kite's redirect URL for the app must point at it);
3. ``generate_session(request_token, api_secret)`` (checksum = sha256(api_key + request_token
   + api_secret)); the secret comes from ``KITE_API_SECRET`` in the environment;
4. writes ``kite.tokens_file`` with mode 600. The token itself is never printed or logged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from kiteconnect import KiteConnect

from shared.brokers.kite_session import API_KEY_VAR, tokens_path, write_tokens
from shared.config import Settings
from shared.errors import ConfigError

API_SECRET_VAR = "KITE_API_SECRET"


class _Catcher(BaseHTTPRequestHandler):
    token: str | None = None
    arrived = threading.Event()

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        token = (query.get("request_token") or [""])[0]
        ok = bool(token) and (query.get("status") or ["success"])[0] == "success"
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"kite-algo: logged in; you can close this tab.\n" if ok else b"kite-algo: login failed.\n")
        if ok:
            type(self).token = token
            type(self).arrived.set()

    def log_message(self, format: str, *args: object) -> None:  # the query holds the request token: no logs
        return


def login(settings: Settings, show: Callable[[str], None] = print) -> Path:
    """Run the login; returns the tokens file written. ``ConfigError`` when something is missing."""
    api_key = settings.kite.api_key or os.environ.get(API_KEY_VAR, "")
    secret = os.environ.get(API_SECRET_VAR, "")
    if not api_key or not secret:
        raise ConfigError(f"--login needs kite.api_key (or {API_KEY_VAR}) and {API_SECRET_VAR} in the environment")
    handler = type("Catcher", (_Catcher,), {"token": None, "arrived": threading.Event()})
    try:
        server = HTTPServer(("127.0.0.1", settings.kite.redirect_port), handler)
    except OSError as exc:
        raise ConfigError(f"kite.redirect_port {settings.kite.redirect_port}: cannot listen ({exc})") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        show(f"Open this URL to log in to Kite: {settings.kite.login_url}?{urlencode({'v': 3, 'api_key': api_key})}")
        show(f"Waiting for the redirect on http://127.0.0.1:{settings.kite.redirect_port}/ ...")
        if not handler.arrived.wait(settings.kite.login_timeout_seconds):
            raise ConfigError(f"no login redirect within {settings.kite.login_timeout_seconds:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
    kite = KiteConnect(api_key, root=settings.kite.api_root, timeout=settings.kite.request_timeout_seconds)
    session = kite.generate_session(handler.token, secret)
    path = tokens_path(settings)
    write_tokens(path, api_key, session["access_token"])
    show(f"Logged in as {session.get('user_id')}; access token written to {path} (mode 600)")
    return path

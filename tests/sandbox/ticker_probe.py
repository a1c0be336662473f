"""Run the real ``KiteTicker`` against a sandbox for a while, printing what it sees as JSON lines.

Twisted's reactor runs once per process, so ticker tests run this in a subprocess:
``python -m tests.sandbox.ticker_probe ROOT API_KEY ACCESS_TOKEN SECONDS '{"full": [...], "ltp": [...]}'``
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from kiteconnect import KiteTicker


def emit(**event: Any) -> None:
    print(json.dumps(event, default=str), flush=True)


def main() -> None:
    root, api_key, token, seconds, spec_text = sys.argv[1:6]
    spec: dict[str, list[int]] = json.loads(spec_text)
    kt = KiteTicker(api_key, token, root=root, reconnect_max_delay=5)
    seen: set[tuple[int, str]] = set()

    def on_connect(ws: KiteTicker, _: Any) -> None:
        emit(ev="connect")
        tokens = [t for ts in spec.values() for t in ts]
        if tokens:
            ws.subscribe(tokens)
        for mode, ts in spec.items():
            if ts:
                ws.set_mode(mode, ts)

    def on_ticks(_: KiteTicker, ticks: list[dict[str, Any]]) -> None:
        emit(ev="ticks", n=len(ticks), tokens=sorted({t["instrument_token"] for t in ticks}))
        for t in ticks:
            key = (t["instrument_token"], t["mode"])
            if key not in seen:
                seen.add(key)
                emit(ev="sample", tick=t)

    def on_message(_: KiteTicker, payload: bytes, is_binary: bool) -> None:
        if is_binary and len(payload) == 1:
            emit(ev="heartbeat")

    kt.on_connect = on_connect
    kt.on_ticks = on_ticks
    kt.on_message = on_message
    kt.on_order_update = lambda _ws, data: emit(ev="order", order_id=data["order_id"], status=data["status"],
                                                filled=data["filled_quantity"])  # fmt: skip
    kt.on_error = lambda _ws, code, reason: emit(ev="error", code=code, reason=str(reason))
    kt.on_close = lambda _ws, code, reason: emit(ev="close", code=code)
    kt.connect(threaded=True)
    stop = threading.Event()
    stop.wait(float(seconds))
    emit(ev="end", at=time.time())


if __name__ == "__main__":
    main()

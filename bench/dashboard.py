"""Dashboard benchmarks: order event published -> rendered in the browser, and memory over a long run.

    python -m bench.dashboard [--runs 3] [--events 200] [--rate 20] [--memory-days 3]

1. latency: ``--events`` synthetic OrderEvents (symbol BENCHSYM) are published on
   ``orders.events`` at ``--rate`` per second, each stamped (``ts_init``) just before its XADD.
   The page (headless Debian chromium via Playwright) records, one animation frame after it
   updated the orders table, ``now - ts_init``. Reference, same events, same run: a bare
   redis-py ``XREAD BLOCK`` reader in this process (the bus hop alone). Measured twice per
   run: with the dashboard alone ("idle"), and during a simulated session at ``speed=max``
   (run_trader: feed, fno, equity, risk, execution, dashboard).
2. memory: the dashboard's RSS (its /api/health) every 2 s while run_trader plays
   ``--memory-days`` sessions back to back at ``speed=max`` with a browser attached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from bench.common import FreshRedis, percentile, save
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.contracts import OrderEvent
from shared.enums import OrderStatus, OrderType, Product, Side
from tests.e2e.session import ROOT, TraderRun, session_env
from tests.redis_server import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def api(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api(url)
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


class BusReference(threading.Thread):
    """XREAD BLOCK on orders.events with bare redis-py: receive time - ts_init, per bench order."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.r = redis.Redis.from_url(url)
        self.latencies: dict[str, float] = {}
        self.errors: list[str] = []
        self.stop = False

    def run(self) -> None:
        from shared.bus import codec

        last: bytes | str = "$"
        while not self.stop:
            try:
                resp = self.r.xread({streams.ORDER_EVENTS: last}, block=100, count=100)
            except redis.RedisError as exc:
                self.errors.append(str(exc))
                time.sleep(0.1)
                continue
            now = wall_ns()
            for _, entries in resp or ():
                for entry_id, fields in entries:
                    last = entry_id
                    msg = codec.decode(fields)
                    if isinstance(msg, OrderEvent) and msg.order_id.startswith("BENCH-"):
                        self.latencies[msg.order_id] = (now - msg.ts_init) / 1e6


def publish_orders(bus: Bus, n: int, rate: float, tag: str) -> None:
    period = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(n):
        now = wall_ns()
        evt = OrderEvent(
            ts_event=now, ts_init=now, order_id=f"BENCH-{tag}-{i}", intent_id=f"BENCH-{tag}-{i}", symbol="BENCHSYM",
            exchange="NSE", side=Side.BUY, order_type=OrderType.MARKET, product=Product.MIS, quantity=1,
            filled_quantity=0, price=0.0, average_price=0.0, status=OrderStatus.OPEN, strategy="bench",
        )  # fmt: skip
        bus.publish(streams.ORDER_EVENTS, evt)
        next_at += period
        time.sleep(max(0.0, next_at - time.perf_counter()))


def measure(page: Any, bus: Bus, url: str, n: int, rate: float, tag: str) -> dict[str, Any]:
    ref = BusReference(url)  # a fresh reader per phase, started before the first event
    ref.start()
    time.sleep(0.5)
    publish_orders(bus, n, rate, tag)
    prefix = f"BENCH-{tag}-"
    deadline = time.monotonic() + 30
    got: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        got = page.evaluate(f"window.__dash.orderLatencies.filter(x => x.order_id.startsWith('{prefix}'))")
        if len(got) >= n:
            break
        time.sleep(0.2)
    ref.stop = True
    ref.join(2)
    browser_ms = [x["ms"] for x in got]
    ref_ms = [v for k, v in ref.latencies.items() if k.startswith(prefix)]
    return {
        "rendered": len(browser_ms),
        "published": n,
        "browser_p50_ms": percentile(browser_ms, 50) if browser_ms else None,
        "browser_p95_ms": percentile(browser_ms, 95) if browser_ms else None,
        "browser_max_ms": max(browser_ms) if browser_ms else None,
        "bus_p50_ms": percentile(ref_ms, 50) if ref_ms else None,
        "bus_p95_ms": percentile(ref_ms, 95) if ref_ms else None,
        "bus_received": len(ref_ms),
        "bus_errors": ref.errors[:3],
    }


def open_page(p: Any, url: str) -> tuple[Any, Any]:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    page.wait_for_selector("#conn[data-state=live]", timeout=30_000)
    page.click("#tabs button[data-tab=orders]")
    return browser, page


def latency_run(n: int, rate: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with FreshRedis() as srv, tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        bus = Bus(redis.Redis.from_url(srv.url))
        port = free_port()
        env = session_env(srv.url, Path(tmp) / "artifacts", KITE_ALGO__DASHBOARD__PORT=str(port))
        url = f"http://127.0.0.1:{port}"
        # idle: the dashboard alone
        alone = subprocess.Popen([sys.executable, "-m", "services.dashboard"], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_http(f"{url}/api/health")
            browser, page = open_page(p, url)
            out["idle"] = measure(page, bus, srv.url, n, rate, "idle")
            browser.close()
        finally:
            alone.terminate()
            alone.wait(15)
        # during a session: at speed 60 (configs/dev.yaml, what `make run` plays) from the open, and at
        # speed=max once the engines are warm and trading (the afternoon)
        for phase, speed, at_fraction in (("session_60", "60", 0.0), ("session_max", "max", 0.6)):
            run = TraderRun({**env, "KITE_ALGO__DATA__SPEED": speed})
            try:
                wait_http(f"{url}/api/health")
                browser, page = open_page(p, url)
                if at_fraction:
                    run.wait_until(at_fraction)
                else:
                    time.sleep(5)  # the feed is streaming and the engines are reading
                out[phase] = measure(page, bus, srv.url, n, rate, phase)
                browser.close()
            finally:
                run.stop()
    return out


def memory_run(days: int, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    samples: list[tuple[float, int, int]] = []  # (seconds, rss bytes, events delivered)
    with FreshRedis() as srv, tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        port = free_port()
        env = session_env(srv.url, Path(tmp) / "artifacts", KITE_ALGO__DASHBOARD__PORT=str(port),
                          KITE_ALGO__DATA__DAYS=str(days), **(extra_env or {}))  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        run = TraderRun(env)
        try:
            wait_http(f"{url}/api/health")
            browser, _page = open_page(p, url)
            t0 = time.monotonic()
            done_since = None
            while time.monotonic() - t0 < days * 400:
                h = api(f"{url}/api/health")
                samples.append((time.monotonic() - t0, h["dashboard"]["memory_rss_bytes"], h["dashboard"]["delivered"]))
                finished = run.feed_event_ns()[1]
                if finished and done_since is None:
                    done_since = time.monotonic()
                if done_since is not None and time.monotonic() - done_since > 10:
                    break
                time.sleep(2)
            sizes = next(s for s in api(f"{url}/api/health")["services"] if s["service"] == "dashboard")["detail"]
            browser.close()
        finally:
            run.stop()
    rss = [s[1] for s in samples]
    quarter = max(1, len(rss) // 4)
    return {
        "days": days,
        "seconds": samples[-1][0],
        "events_read": samples[-1][2],
        "rss_first_quarter_median_mib": statistics.median(rss[:quarter]) / 2**20,
        "rss_last_quarter_median_mib": statistics.median(rss[-quarter:]) / 2**20,
        "rss_peak_mib": max(rss) / 2**20,
        "store_at_end": sizes,
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="order events per second")
    parser.add_argument("--memory-days", type=int, default=3, help="sessions in the memory run (0: skip it)")
    parser.add_argument("--memory-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the memory run, e.g. KITE_ALGO__DASHBOARD__MAX_BARS_PER_SERIES=50")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("chromium is not installed: apt-get install chromium (deploy/install-system-deps.sh)")
    os.environ.pop("REDIS_URL", None)
    runs = []
    for i in range(args.runs):
        r = latency_run(args.events, args.rate)
        runs.append(r)
        print(f"run {i + 1}: {json.dumps(r)}", flush=True)

    def med(phase: str, key: str) -> float:
        values = [r[phase][key] for r in runs if r[phase][key] is not None]
        return statistics.median(values) if values else float("nan")

    summary: dict[str, Any] = {}
    for phase in ("idle", "session_60", "session_max") if runs else ():
        summary[phase] = {k: med(phase, k) for k in ("browser_p50_ms", "browser_p95_ms", "bus_p50_ms", "bus_p95_ms")}
        s = summary[phase]
        s["p95_ratio_to_bus"] = s["browser_p95_ms"] / s["bus_p95_ms"]
        print(f"{phase}: browser p50 {s['browser_p50_ms']:.1f} ms p95 {s['browser_p95_ms']:.1f} ms; "
              f"bus p50 {s['bus_p50_ms']:.2f} ms p95 {s['bus_p95_ms']:.2f} ms", flush=True)  # fmt: skip
    extra = dict(item.split("=", 1) for item in args.memory_env)
    memory = memory_run(args.memory_days, extra) if args.memory_days else None
    if memory:
        print(f"memory over {memory['days']} sessions ({memory['seconds']:.0f} s, {memory['events_read']} events): "
              f"first quarter {memory['rss_first_quarter_median_mib']:.1f} MiB, last quarter "
              f"{memory['rss_last_quarter_median_mib']:.1f} MiB, peak {memory['rss_peak_mib']:.1f} MiB; "
              f"{memory['store_at_end']}", flush=True)  # fmt: skip
    path = save("dashboard", {"args": vars(args), "runs": runs, "summary": summary, "memory": memory})
    print(f"saved {path}")


if __name__ == "__main__":
    main()

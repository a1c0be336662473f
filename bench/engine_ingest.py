"""Engine ingest: ticks/s one engine process sustains with candles, indicators and strategies updating.

    python -m bench.engine_ingest [--ticks 150000] [--runs 5]

The feed (in this process, speed=max) fills ``ticks.NSE`` with simulated NSE ticks (full
5-level depth) and publishes the day's instruments master and scanner universe; the
equity engine's consumer group is created at the start of the stream first. Then
``python -m services.equity`` starts with the dev config's strategies
(``ema20_50_intraday`` on 5m with a 15m filter: 1m/5m/15m candles and every indicator on
~100 symbols) and drains the backlog exactly as it would run live (consumer group,
read-ahead, decode and validation, engine, checkpoints, acknowledgements). The clock
runs from the first entry the group reads to the last, polled from ``XINFO GROUPS``
every millisecond; start-up and warm-up are outside it. The reference is bare redis-py
draining the same stream (XREADGROUP + XACK, no decoding) in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import FreshRedis, median_of, save
from shared.bus import streams
from shared.bus.redis_bus import Bus, connect

ROOT = Path(__file__).resolve().parent.parent
NSE = streams.ticks("NSE")
GROUP = streams.group("equity")
DAY = "2026-11-25"


def _fill(url: str, artifacts: str, n_ticks: int) -> int:
    """Run the sim feed until ``ticks.NSE`` holds ``n_ticks``; returns its length."""
    from services.feed.service import FeedService
    from shared.config import load_settings

    os.environ.update(
        REDIS_URL=url,
        KITE_ALGO__SERVICES__ARTIFACTS_DIR=artifacts,
        KITE_ALGO__DATA__SPEED="max",
        KITE_ALGO__DATA__START_DATE=DAY,
        KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE="0",
    )
    r = redis.Redis.from_url(url)
    r.xgroup_create(NSE, GROUP, id="0", mkstream=True)
    feed = FeedService(load_settings(), Bus(connect(url)))
    feed.on_start()
    while int(r.xlen(NSE)) < n_ticks and not feed.finished:
        feed.run_once()
    return int(r.xlen(NSE))


def _group(r: redis.Redis) -> dict[str, Any]:
    for g in r.xinfo_groups(NSE):
        if g["name"] in (GROUP, GROUP.encode()):
            return g
    return {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU_US_PER_TICK: dict[str, list[float]] = {"engine": [], "redis": []}


def engine_ingest(n_ticks: int) -> float:
    with FreshRedis() as srv, tempfile.TemporaryDirectory(prefix="kite-algo-bench-") as tmp:
        total = _fill(srv.url, f"{tmp}/artifacts", n_ticks)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KITE_ALGO")}
        env.update(REDIS_URL=srv.url, KITE_ALGO__SERVICES__ARTIFACTS_DIR=f"{tmp}/artifacts",
                   KITE_ALGO__SERVICES__LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))  # fmt: skip
        r = redis.Redis.from_url(srv.url)
        log = open(Path(tmp) / "equity.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "services.equity"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            t0 = first = None
            while time.monotonic() < deadline:
                read = int(_group(r).get("entries-read") or 0)
                if read and t0 is None:
                    t0, first = time.perf_counter(), read
                    cpu0 = cpu_seconds(proc.pid), cpu_seconds(srv.proc.pid)
                if read >= total:
                    elapsed = time.perf_counter() - t0  # type: ignore[operator]
                    n = total - first  # type: ignore[operator]
                    # CPU per tick says which side limits the rate (diagnosis; not the figure itself)
                    CPU_US_PER_TICK["engine"].append((cpu_seconds(proc.pid) - cpu0[0]) / n * 1e6)
                    CPU_US_PER_TICK["redis"].append((cpu_seconds(srv.proc.pid) - cpu0[1]) / n * 1e6)
                    return n / elapsed
                if proc.poll() is not None:
                    break
                time.sleep(0.001)
            raise RuntimeError(
                f"the engine did not drain {total} ticks: {(Path(tmp) / 'equity.log').read_text()[-3000:]}"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def bare_drain(n_ticks: int) -> float:
    with FreshRedis() as srv, tempfile.TemporaryDirectory(prefix="kite-algo-bench-") as tmp:
        total = _fill(srv.url, f"{tmp}/artifacts", n_ticks)
        r = redis.Redis.from_url(srv.url)
        got = 0
        t0 = time.perf_counter()
        while got < total:
            resp = r.xreadgroup(GROUP, "c", {NSE: ">"}, count=1000, block=100)
            ids = [eid for _, entries in resp for eid, _ in entries]
            r.xack(NSE, GROUP, *ids)
            got += len(ids)
        return got / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=150_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    med, runs = median_of(args.runs, lambda: engine_ingest(args.ticks))
    rmed, rruns = median_of(args.runs, lambda: bare_drain(args.ticks))
    print(f"engine ingest (equity process): {med:,.0f} ticks/s (bare redis-py drain {rmed:,.0f}/s, x{med / rmed:.2f})")
    ingest = {"median": med, "runs": runs, "reference_median": rmed, "reference_runs": rruns, "ratio": med / rmed,
              "cpu_us_per_tick": CPU_US_PER_TICK}
    print(f"  CPU per tick: engine {CPU_US_PER_TICK['engine']} us, redis-server {CPU_US_PER_TICK['redis']} us")
    out = {"ticks": args.ticks, "engine_ingest_ticks_per_s": ingest}
    print("saved", save("engine_ingest", out))


if __name__ == "__main__":
    main()

"""Tick -> paper fill latency through feed, engine, risk and execution, beside a bare relay chain.

    python -m bench.pipeline [--rates 500,2000] [--seconds 60] [--runs 3]

**Ours.** The real services as processes (``python -m services.feed|fno|equity|risk|execution``)
on a private redis-server. The feed runs the simulated market (no option strikes, 1 s steps:
about 70 instruments quote once a simulated second, like Kite's quote mode) at the speed that
gives the asked tick rate. Both engines run ``tick_probe``, which trades one round trip per
symbol per simulated minute, deciding on a tick; the execution service fills with
``paper.fill_timing: last_quote`` (a MARKET order fills on arrival at the freshest quote). An
observer blocks on ``fills`` and stamps each fill when it reads it. A fill's latency is that
stamp minus the ``ts_init`` of the tick the intent was decided on (the feed stamps ``ts_init``
when it publishes). Every hop is a stream: ticks -> orders.intents -> orders.approved -> fills.

**Reference.** The same four streams with bare redis-py: a producer XADDs one message a tick at
the same rate (each carrying its wall time and a real tick body), three relay processes each
XREADGROUP (BLOCK) -> XADD to the next stream -> XACK, and the observer XREADs the last stream.

Samples from the first ``--warmup`` seconds are dropped (engines warming up). Medians of the
runs' p50/p99 are reported; bench/results/pipeline.json keeps every run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import yaml

from bench.common import FreshRedis, percentile, save
from shared.bus import codec, streams
from shared.clock import wall_ns
from shared.contracts import Fill, OrderIntent, Tick
from tests.factories import make_tick

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("feed", "fno", "equity", "risk", "execution")
ORDER = ("fno", "equity", "risk", "execution", "feed")  # consumers first: no tick before its groups exist
DAY = "2026-11-25"
STEP_MS = 1000


# -- our pipeline ----------------------------------------------------------------------------
def ticks_per_sim_second() -> float:
    """Ticks the simulated market gives per simulated second with the bench's settings."""
    os.environ.update(_env_overrides())
    from services.feed.sources import build_source
    from shared.config import load_settings

    source = build_source(load_settings())
    n, first, last = 0, 0, 0
    for _ in range(120):
        batch = source.next_batch()
        if not batch:
            continue
        n += len(batch)
        first = first or batch[0].ts_event
        last = batch[0].ts_event
    return n / ((last - first) / 1e9 + STEP_MS / 1000)


def _env_overrides() -> dict[str, str]:
    return {
        "KITE_ALGO__DATA__START_DATE": DAY,
        "KITE_ALGO__DATA__STEP_MS": str(STEP_MS),
        "KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE": "0",
    }


def _config(speed: float, every_minutes: int) -> dict[str, Any]:
    dev = yaml.safe_load((ROOT / "configs" / "dev.yaml").read_text())
    dev["trading"]["paper_capital"] = 10_000_000
    dev["data"].update(speed=speed, step_ms=STEP_MS, start_date=DAY, option_strikes_each_side=0, days=1)
    dev["strategy_engine"]["engines"] = {
        "fno": [
            {"name": "tick_probe", "timeframe": "1m", "params": {"stop_pct": 0.05, "every_minutes": every_minutes}}
        ],
        "equity": [
            {"name": "tick_probe", "timeframe": "1m", "params": {"stop_pct": 0.5, "every_minutes": every_minutes}}
        ],
    }
    # risk limits that a probe trading every symbol every minute stays inside
    dev["risk"].update(max_daily_loss=10_000_000, max_positions_total=500, max_trades_per_symbol_per_day=10_000,
                       per_symbol_max_loss=10_000_000, max_orders_per_minute=100_000)  # fmt: skip
    dev["portfolio"].update(risk_per_trade_pct=0.0002, max_leverage=5.0)
    dev["paper"] = {"fill_timing": "last_quote", "slippage_ticks": 0}
    dev["services"]["log_level"] = "WARNING"
    return dev


def run_pipeline(
    rate: int, seconds: float, warmup: float, per_sim_second: float, orders_per_s: float
) -> dict[str, Any]:
    speed = rate / per_sim_second
    # ~70 symbols, two orders a round trip: trade each every N minutes for the asked order rate
    every_minutes = max(1, round(per_sim_second * 2 * speed / 60 / orders_per_s))
    with FreshRedis() as srv, tempfile.TemporaryDirectory(prefix="kite-algo-bench-") as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(yaml.safe_dump(_config(speed, every_minutes)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KITE_ALGO")}
        env.update(REDIS_URL=srv.url, KITE_ALGO_CONFIG=str(cfg), KITE_ALGO__SERVICES__ARTIFACTS_DIR=f"{tmp}/artifacts",
                   PYTHONPATH=str(ROOT))  # fmt: skip
        r = redis.Redis.from_url(srv.url)
        procs = []
        try:
            # consumers first, so no tick is published before its groups exist
            for name in ORDER:
                log = open(Path(tmp) / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
                procs.append((subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env,
                                               stdout=log, stderr=subprocess.STDOUT), log))  # fmt: skip
            spies = []
            if os.environ.get("BENCH_PROFILE"):  # py-spy each service (diagnosis: collapsed stacks in /tmp)
                time.sleep(warmup)
                spies = [subprocess.Popen(["py-spy", "record", "-d", str(int(seconds)), "-r", "200", "-f", "raw", "-o",
                                           f"/tmp/pyspy-{n}.txt", "-p", str(p.pid)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                         for n, (p, _) in zip(ORDER, procs, strict=True)]  # fmt: skip
            seen = _observe_fills(r, warmup + seconds)
            for spy in spies:
                spy.wait()
        finally:
            for p, _ in procs:
                p.send_signal(signal.SIGTERM)
            for p, log in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                log.close()
        result = _pipeline_latencies(r, seen, warmup)
        result.update(
            rate=rate, speed=round(speed, 3), every_minutes=every_minutes, ticks_published=_ticks_published(r)
        )
        if result["samples"] == 0:
            logs = {n: (Path(tmp) / f"{n}.log").read_text()[-2000:] for n in SERVICES}
            raise RuntimeError(f"no fills observed at {rate} ticks/s; service logs: {logs}")
        return result


def _observe_fills(r: redis.Redis, seconds: float) -> dict[bytes, int]:
    """Entry id of every fill -> wall time (ns) this reader got it."""
    seen: dict[bytes, int] = {}
    last = b"0-0"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        resp = r.xread({streams.FILLS: last}, count=100, block=200)
        now = wall_ns()
        for _, entries in resp or ():
            for entry_id, _ in entries:
                seen[entry_id] = now
                last = entry_id
    return seen


def _decoded(r: redis.Redis, stream: str) -> list[tuple[bytes, Any]]:
    out = []
    for entry_id, fields in r.xrange(stream):
        out.append((entry_id, codec.decode(fields)))
    return out


def _ticks_published(r: redis.Redis) -> int:
    return sum(int(r.xlen(s)) for s in (streams.ticks("NFO"), streams.ticks("NSE"), streams.ticks("INDICES")))


def _pipeline_latencies(r: redis.Redis, seen: dict[bytes, int], warmup: float) -> dict[str, Any]:
    intents = {m.intent_id: m for _, m in _decoded(r, streams.ORDER_INTENTS) if isinstance(m, OrderIntent)}
    wanted = {(i.symbol, i.ts_event) for i in intents.values()}
    tick_init: dict[tuple[str, int], int] = {}
    first_tick_wall = None
    for stream in (streams.ticks("NFO"), streams.ticks("NSE")):
        for _, t in _decoded(r, stream):
            if isinstance(t, Tick):
                if first_tick_wall is None or t.ts_init < first_tick_wall:
                    first_tick_wall = t.ts_init
                key = (t.symbol, t.ts_event)
                if key in wanted:
                    tick_init[key] = t.ts_init
    lat: list[float] = []
    stages: dict[str, list[float]] = {"engine": [], "risk": [], "execution": [], "observer": []}
    decisions = {}
    for _, m in _decoded(r, streams.RISK_DECISIONS):
        decisions[getattr(m, "intent_id", "")] = m
    done: set[str] = set()
    start = (first_tick_wall or 0) + int(warmup * 1e9)
    for entry_id, fill in _decoded(r, streams.FILLS):
        if not isinstance(fill, Fill) or fill.intent_id in done or entry_id not in seen:
            continue
        intent = intents.get(fill.intent_id)
        if intent is None:
            continue  # a square-off: no intent
        born = tick_init.get((intent.symbol, intent.ts_event))
        if not born or born < start:
            continue
        done.add(fill.intent_id)
        lat.append((seen[entry_id] - born) / 1e6)
        decision = decisions.get(fill.intent_id)
        stages["engine"].append((intent.ts_init - born) / 1e6)
        if decision is not None:
            stages["risk"].append((decision.ts_init - intent.ts_init) / 1e6)
            stages["execution"].append((fill.ts_init - decision.ts_init) / 1e6)
        stages["observer"].append((seen[entry_id] - fill.ts_init) / 1e6)
    if not lat:
        return {"samples": 0}
    return {
        "samples": len(lat),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "stage_p50_ms": {k: percentile(v, 50) for k, v in stages.items() if v},
        "stage_p99_ms": {k: percentile(v, 99) for k, v in stages.items() if v},
    }


# -- the bare redis-py chain -------------------------------------------------------------------
CHAIN = ("chain.0", "chain.1", "chain.2", "chain.3")


def _producer(url: str, rate: int, seconds: float) -> None:
    r = redis.Redis.from_url(url)
    body = codec.encode_body(make_tick(0))
    period = 1.0 / rate
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = start + i * period
        while (now := time.perf_counter()) < due:
            if due - now > 0.0005:
                time.sleep(due - now - 0.0003)
        r.xadd(CHAIN[0], {"type": "tick", "symbol": "NIFTY25NOVFUT", "t": str(wall_ns()), "body": body},
               maxlen=200_000, approximate=True)  # fmt: skip
    r.xadd(CHAIN[0], {"stop": "1", "t": "0"})


def _relay(url: str, src: str, dst: str) -> None:
    r = redis.Redis.from_url(url)
    while True:
        resp = r.xreadgroup("relay", "r", {src: ">"}, count=100, block=1000)
        for _, entries in resp or ():
            pipe = r.pipeline(transaction=False)
            for entry_id, fields in entries:
                pipe.xadd(dst, fields, maxlen=200_000, approximate=True)
                pipe.xack(src, "relay", entry_id)
            pipe.execute()
            if any(b"stop" in f for _, f in entries):
                return


def run_reference(rate: int, seconds: float, warmup: float) -> dict[str, Any]:
    with FreshRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        for s in CHAIN[:-1]:
            r.xgroup_create(s, "relay", id="$", mkstream=True)
        ctx = mp.get_context("spawn")
        relays = [ctx.Process(target=_relay, args=(srv.url, CHAIN[k], CHAIN[k + 1])) for k in range(3)]
        for p in relays:
            p.start()
        time.sleep(1.0)
        producer = ctx.Process(target=_producer, args=(srv.url, rate, warmup + seconds))
        producer.start()
        lat: list[tuple[int, float]] = []
        last, done = b"$", False
        while not done:
            resp = r.xread({CHAIN[-1]: last}, count=100, block=5000)
            now = wall_ns()
            if not resp:
                break
            for _, entries in resp:
                for entry_id, fields in entries:
                    last = entry_id
                    if b"stop" in fields:
                        done = True
                    else:
                        born = int(fields[b"t"])
                        lat.append((born, (now - born) / 1e6))
        producer.join()
        for p in relays:
            p.join(10)
        start = lat[0][0] + int(warmup * 1e9) if lat else 0
        kept = [ms for born, ms in lat if born >= start]
        return {"samples": len(kept), "p50_ms": percentile(kept, 50), "p99_ms": percentile(kept, 99)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="500,2000", help="tick rates (ticks/s), comma-separated")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds dropped at the start of each run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--orders-per-s", type=float, default=4.0, help="order rate the probe aims at")
    args = ap.parse_args()
    per_sim_second = ticks_per_sim_second()
    out: dict[str, Any] = {"runs": args.runs, "seconds": args.seconds, "ticks_per_sim_second": per_sim_second}
    for rate in (int(x) for x in args.rates.split(",")):
        ours, ref = [], []
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits both alike
            ours.append(run_pipeline(rate, args.seconds, args.warmup, per_sim_second, args.orders_per_s))
            ref.append(run_reference(rate, args.seconds, args.warmup))
        p50 = statistics.median(x["p50_ms"] for x in ours)
        p99 = statistics.median(x["p99_ms"] for x in ours)
        rp50 = statistics.median(x["p50_ms"] for x in ref)
        rp99 = statistics.median(x["p99_ms"] for x in ref)
        out[f"rate_{rate}"] = {"p50_ms": p50, "p99_ms": p99, "reference_p50_ms": rp50, "reference_p99_ms": rp99,
                               "p99_ratio": p99 / rp99, "runs": ours, "reference_runs": ref}  # fmt: skip
        samples = sum(x["samples"] for x in ours)
        print(f"tick->fill @{rate}/s: p50 {p50:.3f} ms p99 {p99:.3f} ms ({samples} fills) | bare 3-relay chain "
              f"p50 {rp50:.3f} p99 {rp99:.3f} | p99 x{p99 / rp99:.2f}", flush=True)  # fmt: skip
        for x in ours:
            print(f"   stages p50 {x['stage_p50_ms']}  p99 {x['stage_p99_ms']}", flush=True)
    print("saved", save("pipeline", out))


if __name__ == "__main__":
    main()

"""Bus benchmarks, each beside a bare redis-py reference measured in the same run.

    python -m bench.bus [--runs 5] [--ticks 200000] [--latency-seconds 5]

1. feed publish: ticks/s the feed service publishes from the simulated market at speed=max
   (generation + encoding + XADD), against redis-py pipelined XADD of pre-encoded entries.
2. consumer drain: ticks/s through Consumer.read (XREADGROUP + decode + validation) + ack,
   against bare redis-py XREADGROUP + XACK with no decoding.
3. one-hop latency at 2,000 ticks/s: publish (one XADD per tick) to a blocked consumer
   in another process, p50/p99, against the same with bare redis-py.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

import redis

from bench.common import FreshRedis, median_of, percentile, save
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus, connect
from shared.clock import wall_ns
from shared.runtime.service import tune_gc
from tests.factories import make_tick

NFO = streams.ticks("NFO")


# -- 1. feed publish ------------------------------------------------------------------------
def feed_publish(n_ticks: int) -> float:
    from services.feed.service import FeedService
    from shared.config import load_settings

    with FreshRedis() as srv:
        import os

        os.environ["KITE_ALGO__DATA__SPEED"] = "max"
        os.environ["KITE_ALGO__DATA__START_DATE"] = "2026-11-24"
        os.environ["KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE"] = "20"
        settings = load_settings()
        feed = FeedService(settings, Bus(connect(srv.url)))
        feed.on_start()
        tune_gc()  # as Service.run does after on_start
        t0 = time.perf_counter()
        while feed.counters["ticks"] < n_ticks and not feed.finished:
            feed.run_once()
        elapsed = time.perf_counter() - t0
        return feed.counters["ticks"] / elapsed


def feed_reference(n_ticks: int) -> float:
    entries = [codec.encode(make_tick(i)) for i in range(n_ticks)]
    with FreshRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        cap = streams.maxlen(NFO)
        t0 = time.perf_counter()
        for start in range(0, n_ticks, 500):
            pipe = r.pipeline(transaction=False)
            for fields in entries[start : start + 500]:
                pipe.xadd(NFO, fields, maxlen=cap, approximate=True)
            pipe.execute()
        return n_ticks / (time.perf_counter() - t0)


# -- 2. consumer drain -------------------------------------------------------------------------
def _prefill(url: str, n: int) -> None:
    bus = Bus(connect(url))
    ticks = [make_tick(i) for i in range(n)]
    for start in range(0, n, 5000):
        bus.publish_many([(NFO, t) for t in ticks[start : start + 5000]])


def consumer_drain(n_ticks: int) -> float:
    with FreshRedis() as srv:
        _prefill(srv.url, n_ticks)
        consumer = Bus(connect(srv.url)).consumer("bench", [NFO], start_id="0", read_ahead=True)
        tune_gc()  # as Service.run does after on_start
        got = 0
        t0 = time.perf_counter()
        while got < n_ticks:
            batch = consumer.read(count=1000, block_ms=100)
            consumer.ack(batch)
            got += len(batch)
        return got / (time.perf_counter() - t0)


def consumer_reference(n_ticks: int) -> float:
    with FreshRedis() as srv:
        _prefill(srv.url, n_ticks)
        r = redis.Redis.from_url(srv.url)
        r.xgroup_create(NFO, "bench", id="0")
        got = 0
        t0 = time.perf_counter()
        while got < n_ticks:
            resp = r.xreadgroup("bench", "c", {NFO: ">"}, count=1000, block=100)
            ids = [eid for _, entries in resp for eid, _ in entries]
            r.xack(NFO, "bench", *ids)
            got += len(ids)
        return got / (time.perf_counter() - t0)


# -- 3. one-hop latency --------------------------------------------------------------------------
def _publisher(url: str, rate: int, seconds: float, bare: bool) -> None:
    bus = Bus(connect(url))
    r = bus.redis
    base = make_tick(0)
    period = 1.0 / rate
    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        due = start + i * period
        while (now := time.perf_counter()) < due:
            if due - now > 0.0005:
                time.sleep(due - now - 0.0003)
        if bare:
            r.xadd(NFO, {"t": str(wall_ns()), "body": codec.encode_body(base)})
        else:
            tick = make_tick(i)
            bus.publish(NFO, type(tick)(**{**_fields(tick), "ts_init": wall_ns()}))
    r.xadd(NFO, {"t": "0", "body": b"", "stop": "1"})


def _fields(msg: Any) -> dict[str, Any]:
    return {f: getattr(msg, f) for f in msg.__struct_fields__}


def one_hop_latency(rate: int, seconds: float, bare: bool) -> dict[str, float]:
    with FreshRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        r.xgroup_create(NFO, "bench", id="$", mkstream=True)
        consumer = None if bare else Bus(connect(srv.url)).consumer("bench", [NFO])
        proc = mp.get_context("spawn").Process(target=_publisher, args=(srv.url, rate, seconds, bare))
        proc.start()
        lat: list[float] = []
        done = False
        while not done:
            if bare:
                resp = r.xreadgroup("bench", "c", {NFO: ">"}, count=100, block=2000)
                now = wall_ns()
                ids = []
                for _, entries in resp or ():
                    for eid, fields in entries:
                        ids.append(eid)
                        if b"stop" in fields:
                            done = True
                        else:
                            lat.append((now - int(fields[b"t"])) / 1e6)
                if ids:
                    r.xack(NFO, "bench", *ids)
            else:
                assert consumer is not None
                batch = consumer.read(count=100, block_ms=2000)
                now = wall_ns()
                lat.extend((now - d.message.ts_init) / 1e6 for d in batch)
                consumer.ack(batch)
                done = consumer.dead_lettered > 0  # the stop marker has no valid body
        proc.join()
        warm = lat[len(lat) // 10 :]  # drop the first 10% (connection warm-up)
        return {"p50_ms": percentile(warm, 50), "p99_ms": percentile(warm, 99), "samples": len(warm)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ticks", type=int, default=200_000)
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=2000)
    args = ap.parse_args()

    out: dict[str, Any] = {"runs": args.runs, "ticks": args.ticks}
    for name, ours, ref in (
        ("feed_publish_ticks_per_s", feed_publish, feed_reference),
        ("consumer_drain_ticks_per_s", consumer_drain, consumer_reference),
    ):
        med, vals = median_of(args.runs, lambda f=ours: f(args.ticks))
        rmed, rvals = median_of(args.runs, lambda f=ref: f(args.ticks))
        out[name] = {"median": med, "runs": vals, "reference_median": rmed, "reference_runs": rvals,
                     "ratio_to_reference": med / rmed}
        print(f"{name}: {med:,.0f}/s (bare redis-py {rmed:,.0f}/s, x{med / rmed:.2f})", flush=True)

    lat_runs = [one_hop_latency(args.rate, args.latency_seconds, bare=False) for _ in range(args.runs)]
    ref_runs = [one_hop_latency(args.rate, args.latency_seconds, bare=True) for _ in range(args.runs)]
    import statistics

    p50 = statistics.median(r["p50_ms"] for r in lat_runs)
    p99 = statistics.median(r["p99_ms"] for r in lat_runs)
    rp50 = statistics.median(r["p50_ms"] for r in ref_runs)
    rp99 = statistics.median(r["p99_ms"] for r in ref_runs)
    out["one_hop_latency"] = {"rate": args.rate, "p50_ms": p50, "p99_ms": p99, "reference_p50_ms": rp50,
                              "reference_p99_ms": rp99, "p99_ratio": p99 / rp99, "runs": lat_runs,
                              "reference_runs": ref_runs}
    print(f"one-hop latency @{args.rate}/s: p50 {p50:.3f} ms p99 {p99:.3f} ms "
          f"(bare redis-py p50 {rp50:.3f} p99 {rp99:.3f}; p99 x{p99 / rp99:.2f})", flush=True)
    print("saved", save("bus", out))


if __name__ == "__main__":
    main()

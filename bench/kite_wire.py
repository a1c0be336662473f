"""The Kite wire path: sandbox packet encoding, pykiteconnect's parser, the feed's tick conversion.

``python -m bench.kite_wire [--runs 5] [--ticks 20000]``. Reference in the same run: the bus
codec encoding the same ``Tick`` structs (``shared.bus.codec.encode``), a path measured in
docs/benchmarks.md. Ticks come from the simulated market (full mode: 184-byte packets).
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from kiteconnect import KiteTicker

from bench.common import median_of, save
from sandbox.kite import wire
from services.feed.sources.kite_ticks import to_tick
from shared.bus import codec
from shared.contracts import Tick
from shared.sim.market import SimMarket


def sample_ticks(n: int) -> list[Tick]:
    market = SimMarket(42, date(2026, 11, 25), step_ms=1000)
    out: list[Tick] = []
    while len(out) < n:
        out.extend(t for t in market.step() if t.bid_prices)
    return out[:n]


def rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ticks", type=int, default=20_000)
    args = p.parse_args()
    ticks = sample_ticks(args.ticks)
    n = len(ticks)
    frames = [wire.frame(wire.encode(t, "full") for t in ticks[i : i + 100]) for i in range(0, n, 100)]
    parser = KiteTicker("k", "t")
    parsed = [d for f in frames for d in parser._parse_binary(f)]
    inst_of = {t.instrument_token: t for t in ticks}
    from shared.instruments import Instrument

    insts = {tok: Instrument(tok, tok >> 8, t.symbol, t.symbol, 0.0, None, 0.0, 0.05, 1, "FUT", "NFO-FUT", t.exchange)
             for tok, t in inst_of.items()}  # fmt: skip

    results = {
        "sandbox encode (full packets, framed by 100)": median_of(args.runs, lambda: rate(n, lambda: [
            wire.frame(wire.encode(t, "full") for t in ticks[i : i + 100]) for i in range(0, n, 100)])),
        "pykiteconnect _parse_binary": median_of(args.runs, lambda: rate(n, lambda: [
            parser._parse_binary(f) for f in frames])),
        "feed to_tick (dict -> Tick)": median_of(args.runs, lambda: rate(n, lambda: [
            to_tick(d, insts[d["instrument_token"]], 0) for d in parsed])),
        "reference: bus codec.encode(Tick)": median_of(args.runs, lambda: rate(n, lambda: [
            codec.encode(t) for t in ticks])),
    }  # fmt: skip
    for name, (median, runs) in results.items():
        print(f"{name:48s} {median:12,.0f} ticks/s  runs {[round(r) for r in runs]}")
    save("kite_wire", {name: {"median": m, "runs": r} for name, (m, r) in results.items()})


if __name__ == "__main__":
    main()

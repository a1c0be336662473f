"""Run every benchmark in turn (``make bench``); each saves bench/results/<name>.json."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = (
    "bench.bus",
    "bench.engine_ingest",
    "bench.pipeline",
    "bench.kite_wire",
    "bench.options",
    "bench.backtest",
    "bench.dashboard",
)


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        sys.argv = [name]
        runpy.run_module(name, run_name="__main__")


if __name__ == "__main__":
    main()

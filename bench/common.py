"""Helpers for benchmarks: a private Redis, repeated runs, medians, a results file."""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.redis_server import RedisServer

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import os

    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    return {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "redis_server": redis_version,
        "redis_py": redis.__version__,
    }


def median_of(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    values = [fn() for _ in range(runs)]
    return statistics.median(values), values


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path


class FreshRedis:
    """A private redis-server for one benchmark run."""

    def __enter__(self) -> RedisServer:
        self.server = RedisServer()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

"""Shared fixtures: a private redis-server per test session, flushed per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def bus(redis_client: redis.Redis):  # type: ignore[no-untyped-def]
    from shared.bus.redis_bus import Bus

    return Bus(redis_client)


@pytest.fixture
def service_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a service subprocess: private Redis, artifacts under tmp_path."""
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url
    env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    env["PYTHONPATH"] = str(ROOT)
    env.pop("KITE_ALGO_CONFIG", None)
    return env

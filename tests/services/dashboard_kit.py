"""Helpers for the dashboard tests: settings on the private Redis, the app in-process, polling."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from fastapi.testclient import TestClient

from services.dashboard.app import create_app
from shared.bus.redis_bus import Bus
from shared.config import Settings, load_settings

T = TypeVar("T")
TOKEN = "test-token-0123456789"


def dashboard_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, **env: str) -> Settings:
    for key in list(os.environ):
        if key.startswith("KITE_ALGO") or key == "DASHBOARD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("KITE_ALGO__DASHBOARD__SECRETS_FILE", str(tmp_path / "secrets" / "kite_tokens.env"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


@contextmanager
def dashboard(settings: Settings) -> Iterator[TestClient]:
    """The app with its lifespan (reader thread, history load) on its own Redis connection."""
    bus = Bus(redis.Redis.from_url(settings.redis.url))
    try:
        with TestClient(create_app(settings, bus)) as client:
            yield client
    finally:
        bus.redis.close()


def wait_for(fn: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``fn`` until it returns something truthy (the reader thread works asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def get(client: TestClient, url: str, **params: Any) -> Any:
    r = client.get(url, params=params)
    assert r.status_code == 200, (url, r.status_code, r.text)
    return r.json()

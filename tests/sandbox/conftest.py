"""A Kite sandbox in a background thread, and a real ``KiteConnect`` client logged in to it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import requests
from kiteconnect import KiteConnect

from sandbox.kite.config import SandboxConfig
from sandbox.kite.runner import SandboxThread

SESSION_DAY = date(2026, 11, 25)  # a Wednesday, a trading day


def sandbox_config(**overrides: object) -> SandboxConfig:
    # the shared sandbox serves many quick tests: Kite's order rate limit has its own test
    base: dict[str, object] = {"day": SESSION_DAY, "speed": 20.0, "capital": 1e10, "orders_per_second": 1000,
                               "orders_per_minute": 10_000}
    base.update(overrides)
    return SandboxConfig(**base)  # type: ignore[arg-type]


def login(sb: SandboxThread, **kwargs: object) -> KiteConnect:
    """The real client through the token exchange (request token from the sandbox's admin route)."""
    cfg = sb.sandbox.cfg
    kite = KiteConnect(cfg.api_key, root=sb.root, **kwargs)  # type: ignore[arg-type]
    request_token = requests.post(sb.root + "/_sandbox/session", timeout=5).json()["data"]["request_token"]
    kite.generate_session(request_token, cfg.api_secret)
    return kite


def faults(sb: SandboxThread, **body: object) -> dict[str, object]:
    return requests.post(sb.root + "/_sandbox/faults", json=body, timeout=5).json()["data"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    sb = SandboxThread(sandbox_config()).start()
    yield sb
    sb.stop()


@pytest.fixture
def kite(sandbox: SandboxThread) -> KiteConnect:
    return login(sandbox)

"""Schema-driven fuzzing of the dashboard's OpenAPI spec (schemathesis): no input gives a 5xx.

The app runs under a real uvicorn on the private Redis with a little of everything published
(orders, fills, a position, signals, bars, heartbeats), so the handlers work on real data.
Requests carry the control token, so the control bodies are fuzzed past the auth check too
(their commands land on the test Redis's ``control`` stream, read by nobody). The SSE stream
never ends, so it is left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from services.dashboard.app import create_app
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.contracts import Fill, PositionLine, PositionSnapshot
from shared.enums import Product, Side
from tests.redis_server import free_port
from tests.services.dashboard_kit import TOKEN, dashboard_settings
from tests.services.test_dashboard_api import bar, order_event, signal
from tests.services.test_execution_service import at

pytestmark = pytest.mark.slow


def publish_sample(bus: Bus) -> None:
    fill = Fill(ts_event=at(9, 31), fill_id="F1", order_id="O1", intent_id="I1", symbol="NIFTY25NOVFUT",
                exchange="NFO", side=Side.BUY, quantity=65, price=24_500.0, charges=20.0, strategy="ema")  # fmt: skip
    snap = PositionSnapshot(
        ts_event=at(9, 31), mode="paper", capital=500_000.0, cash=499_980.0, realized_pnl=0.0, unrealized_pnl=65.0,
        charges=20.0, day_pnl=45.0,
        positions=(PositionLine(symbol="NIFTY25NOVFUT", exchange="NFO", product=Product.MIS, quantity=65,
                                avg_price=24_500.0, last_price=24_501.0, realized_pnl=0.0, unrealized_pnl=65.0),),
    )  # fmt: skip
    bus.publish_many(
        [(streams.ORDER_EVENTS, order_event(i)) for i in range(3)]
        + [(streams.FILLS, fill), (streams.POSITIONS, snap)]
        + [(streams.SIGNALS, signal(i)) for i in range(3)]
        + [(streams.BARS, bar(i)) for i in range(30)]
    )


@pytest.fixture(scope="module")
def base_url(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    mp = pytest.MonkeyPatch()
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    settings_ = dashboard_settings(mp, tmp, redis_server.url, DASHBOARD_TOKEN=TOKEN)
    bus = Bus(client)
    publish_sample(bus)
    port = free_port()
    config = uvicorn.Config(create_app(settings_, bus), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    mp.undo()
    client.close()


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json").exclude(path="/api/stream")


#: (method, path) of every documented operation but the endless SSE stream
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in create_app().openapi()["paths"].items()
    if path != "/api/stream"
    for method in item
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_input_makes_the_api_fail_with_a_server_error(
    api_schema: schemathesis.BaseSchema, base_url: str, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        # every default check: no 5xx, responses match their documented schemas, ...
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"})

    fuzz()

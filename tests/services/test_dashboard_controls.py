"""Controls: every endpoint needs the token, publishes one ControlCommand, and is journaled with who and when."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from services.execution.service import ExecutionService
from shared.bus import codec, streams
from shared.bus.redis_bus import Bus
from shared.config import Settings
from shared.contracts import ControlCommand
from shared.enums import ControlAction, OrderStatus, OrderType
from shared.state.journal import read_events
from tests.services.dashboard_kit import TOKEN, dashboard, dashboard_settings, get, wait_for
from tests.services.test_execution_service import MASTER_CSV, drain, intent, send

#: endpoint -> (action it publishes, request body)
CONTROLS: dict[str, tuple[ControlAction, dict[str, Any]]] = {
    "halt": (ControlAction.HALT, {"reason": "news"}),
    "resume": (ControlAction.RESUME, {}),
    "kill": (ControlAction.KILL_SYMBOL, {"symbol": "RELIANCE"}),
    "revive": (ControlAction.REVIVE_SYMBOL, {"symbol": "RELIANCE"}),
    "square-off": (ControlAction.SQUARE_OFF_ALL, {}),
    "cancel-orders": (ControlAction.CANCEL_ALL, {}),
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> Settings:
    return dashboard_settings(monkeypatch, tmp_path, redis_url, DASHBOARD_TOKEN=TOKEN)


def commands(r: redis.Redis) -> list[ControlCommand]:
    return [codec.decode(f) for _, f in r.xrange(streams.CONTROL)]  # type: ignore[misc]


def actions_log(settings: Settings) -> list[dict[str, Any]]:
    return read_events(settings.artifacts / "logs" / "dashboard_actions.jsonl")


def test_every_control_route_is_covered_here(settings: Settings) -> None:
    with dashboard(settings) as client:
        paths = {p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/api/control/")}
    assert paths == {f"/api/control/{name}" for name in CONTROLS}


@pytest.mark.parametrize("endpoint", sorted(CONTROLS))
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer "])
def test_a_control_without_the_right_token_answers_401_and_changes_nothing(
    settings: Settings, redis_client: redis.Redis, endpoint: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    with dashboard(settings) as client:
        r = client.post(f"/api/control/{endpoint}", json=CONTROLS[endpoint][1], headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    assert commands(redis_client) == []
    (refused,) = [e for e in actions_log(settings) if e["event"] == "control_refused"]
    assert refused["action"] == endpoint and refused["client"] and refused["ts_ns"] > 0


@pytest.mark.parametrize("endpoint", sorted(CONTROLS))
def test_a_control_with_the_token_publishes_one_command_and_journals_who_and_when(
    settings: Settings, redis_client: redis.Redis, endpoint: str
) -> None:
    action, body = CONTROLS[endpoint]
    with dashboard(settings) as client:
        r = client.post(f"/api/control/{endpoint}", json={**body, "operator": "asha"},
                        headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert r.status_code == 200, r.text
        result = r.json()
    (cmd,) = commands(redis_client)
    assert (cmd.action, cmd.symbol, cmd.command_id) == (action, body.get("symbol", ""), result["command_id"])
    assert cmd.issued_by.startswith("dashboard:asha@") and cmd.reason == body.get("reason", "")
    assert result["entry_id"] == redis_client.xrange(streams.CONTROL)[0][0].decode()
    log = [e for e in actions_log(settings) if e.get("command_id") == cmd.command_id]
    assert [e["event"] for e in log] == ["control", "control_published"]
    assert log[0]["operator"] == "asha" and log[0]["action"] == action.value and log[0]["client"]
    assert log[0]["ts_ns"] <= cmd.ts_event <= log[1]["ts_ns"]  # when: journaled before it was published


def test_a_symbol_control_needs_a_valid_symbol(settings: Settings, redis_client: redis.Redis) -> None:
    with dashboard(settings) as client:
        for body in ({}, {"symbol": ""}, {"symbol": "BAD SYMBOL;"}):
            r = client.post("/api/control/kill", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 422, body
    assert commands(redis_client) == []


def test_the_token_may_come_from_the_secrets_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url)
    secrets = Path(settings.dashboard.secrets_file)
    secrets.parent.mkdir(parents=True)
    secrets.write_text("KITE_API_KEY=abc\nDASHBOARD_TOKEN=from-file-42\n")
    with dashboard(settings) as client:
        wrong = client.post("/api/control/halt", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert wrong.status_code == 401
        ok = client.post("/api/control/halt", json={}, headers={"Authorization": "Bearer from-file-42"})
        assert ok.status_code == 200
    assert [c.action for c in commands(redis_client)] == [ControlAction.HALT]


def test_without_a_configured_token_every_control_answers_401(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url)  # no env, no secrets file
    with dashboard(settings) as client:
        for endpoint, (_, body) in CONTROLS.items():
            r = client.post(f"/api/control/{endpoint}", json=body, headers={"Authorization": "Bearer anything"})
            assert r.status_code == 401 and "no DASHBOARD_TOKEN" in r.json()["detail"]
    assert commands(redis_client) == []


def test_halt_and_kill_show_in_the_session_state_pushed_back_from_the_control_stream(
    settings: Settings,
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with dashboard(settings) as client:
        client.post("/api/control/halt", json={"reason": "news", "operator": "asha"}, headers=auth)
        client.post("/api/control/kill", json={"symbol": "SBIN"}, headers=auth)
        s = wait_for(lambda: (x := get(client, "/api/portfolio")["session"])["killed_symbols"] and x)
        assert s["halted"] and "asha" in s["halt_reason"] and "news" in s["halt_reason"]
        assert s["killed_symbols"] == ["SBIN"]
        client.post("/api/control/resume", json={}, headers=auth)
        wait_for(lambda: not get(client, "/api/portfolio")["session"]["halted"], what="resume")


def test_cancel_orders_reaches_the_execution_service_which_cancels_the_open_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis, bus: Bus
) -> None:
    redis_client.set(streams.INSTRUMENTS_LATEST, MASTER_CSV)
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url, DASHBOARD_TOKEN=TOKEN)
    execution = ExecutionService(settings, bus)
    execution.on_start()
    try:
        with dashboard(settings) as client:
            send(bus, (streams.ORDERS_APPROVED, intent("lim", order_type=OrderType.LIMIT, price=24_000.0)))
            drain(execution)
            wait_for(lambda: [o for o in get(client, "/api/orders")["items"] if o["status"] == "OPEN"])
            r = client.post("/api/control/cancel-orders", json={"operator": "asha"},
                            headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            assert r.status_code == 200
            drain(execution)
            (order,) = wait_for(
                lambda: [o for o in get(client, "/api/orders")["items"] if o["status"] == OrderStatus.CANCELLED.value]
            )
            assert order["order_id"] == "P-lim" and "CANCEL_ALL by dashboard:asha@" in order["status_message"]
    finally:
        execution.on_stop()

"""The dashboard's API against a real Redis, with the execution service (in-process) publishing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis

from services.execution.service import ExecutionService
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.config import Settings
from shared.contracts import Bar, Heartbeat, OrderEvent, Signal
from shared.enums import OrderStatus, OrderType, Product, ServiceState, Side, SignalKind
from shared.state.formats import PnlRecord
from shared.state.journal import PnlJournal
from shared.state.paths import StatePaths
from tests.services.dashboard_kit import dashboard, dashboard_settings, get, wait_for
from tests.services.test_execution_service import DAY, FUT, MASTER_CSV, at, drain, intent, send, tick


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Settings:
    redis_client.set(streams.INSTRUMENTS_LATEST, MASTER_CSV)
    return dashboard_settings(monkeypatch, tmp_path, redis_url)


@pytest.fixture
def execution(settings: Settings, bus: Bus) -> Iterator[ExecutionService]:
    svc = ExecutionService(settings, bus)
    svc.on_start()
    yield svc
    if svc.journal is not None and not svc.journal.closed:
        svc.on_stop()


def signal(i: int, symbol: str = "NIFTY25NOVFUT", strategy: str = "ema", ts: int | None = None) -> Signal:
    return Signal(
        ts_event=ts or at(9, 30 + i), signal_id=f"s{i}", strategy=strategy, logical="NIFTY", symbol=symbol,
        price=24_500.0 + i, signal=SignalKind.LONG, timeframe="5m", reason=f"cross {i}", confidence=0.5,
        indicators={"ema20": 24_490.0, "rsi14": None, "trend_context": "UPTREND"},
    )  # fmt: skip


def bar(i: int, symbol: str = "NIFTY25NOVFUT", tf: str = "5m") -> Bar:
    ts_open = at(9, 15) + i * 300 * 10**9
    price = 24_500.0 + 10 * (i % 7)
    return Bar(ts_event=ts_open + 300 * 10**9, instrument_token=FUT[0], symbol=symbol, timeframe=tf, ts_open=ts_open,
               open=price, high=price + 5, low=price - 5, close=price + 1, volume=650)  # fmt: skip


def test_orders_fills_portfolio_candles_and_health_follow_the_services_live(
    settings: Settings, execution: ExecutionService, bus: Bus
) -> None:
    with dashboard(settings) as client:
        assert get(client, "/api/orders")["total"] == 0
        # execution turns an approved intent into an order and fills it on the next tick
        send(bus, (streams.ORDERS_APPROVED, intent("i1")))
        drain(execution)
        send(bus, (streams.ticks("NFO"), tick(at(9, 30, 0.25))))
        drain(execution)
        execution.heartbeat(force=True)
        send(bus, *[(streams.BARS, bar(i)) for i in range(60)])

        order = wait_for(
            lambda: [o for o in get(client, "/api/orders")["items"] if o["status"] == "FILLED"], what="the fill"
        )[0]
        assert (order["order_id"], order["symbol"], order["side"], order["filled_quantity"]) == (
            "P-i1", "NIFTY25NOVFUT", "BUY", 65,
        )  # fmt: skip
        assert order["average_price"] == pytest.approx(24_500.05) and order["time"].startswith("2025-11-17 09:30:00")

        pf = wait_for(lambda: (p := get(client, "/api/portfolio"))["positions"] and p, what="the position")
        (pos,) = pf["positions"]
        assert (pos["symbol"], pos["quantity"], pos["avg_price"]) == ("NIFTY25NOVFUT", 65, 24_500.05)
        assert pos["by_strategy"] == {"ema": 65}  # each strategy's units, from the execution's snapshot
        assert pf["source"] == "stream" and pf["charges"] > 0 and pf["equity_curve"]
        assert pf["total_equity"] == pytest.approx(
            pf["capital"] + pf["realized_pnl"] + pf["unrealized_pnl"] - pf["charges"]
        )

        wait_for(lambda: len(get(client, "/api/candles", symbol="NIFTY25NOVFUT", tf="5m")["candles"]) == 60)
        c = get(client, "/api/candles", symbol="NIFTY25NOVFUT", tf="5m", limit=40)
        assert len(c["candles"]) == 40 and c["timeframes"] == ["5m"]
        assert c["candles"][-1]["indicators"]["ema20"] is not None  # warmed up over 60 bars
        assert c["candles"][-1]["indicators"]["ema200"] is None  # not yet
        assert c["trades"] == []  # the fill (09:30) is before the first candle shown (10:55)
        full = get(client, "/api/candles", symbol="NIFTY25NOVFUT", tf="5m")
        assert [(t["side"], t["quantity"], t["price"]) for t in full["trades"]] == [("BUY", 65, 24_500.05)]
        assert get(client, "/api/symbols") == {"traded": ["NIFTY25NOVFUT"], "charted": ["NIFTY25NOVFUT"]}
        assert client.get("/api/candles", params={"symbol": "NOPE", "tf": "5m"}).status_code == 404

        health = wait_for(lambda: (h := get(client, "/api/health"))["services"] and h, what="heartbeats")
        by_name = {s["service"]: s for s in health["services"]}
        assert by_name["execution"]["state"] == execution.state.value and by_name["execution"]["heartbeat_age_s"] < 60
        assert "dashboard" in by_name  # its own heartbeat
        groups = {(g["stream"], g["group"]) for g in health["groups"]}
        assert {(streams.ORDER_EVENTS, "dashboard"), (streams.ORDERS_APPROVED, "execution")} <= groups
        assert health["redis"]["ok"] and health["redis"]["version"]
        assert health["dashboard"]["delivered"] > 0 and health["dashboard"]["memory_rss_bytes"] > 0


def test_signals_are_paginated_and_filtered_by_symbol_strategy_and_day(settings: Settings, bus: Bus) -> None:
    other_day = at(10, 0, day=date(2025, 11, 18))
    with dashboard(settings) as client:
        send(bus, *[(streams.SIGNALS, signal(i)) for i in range(7)])
        send(bus, (streams.SIGNALS, signal(7, symbol="RELIANCE", strategy="trend")))
        send(bus, (streams.SIGNALS, signal(8, ts=other_day)))
        send(bus, (streams.SIGNALS, signal(3)))  # redelivered: counted once
        wait_for(lambda: get(client, "/api/signals")["total"] == 9, what="nine signals")

        page = get(client, "/api/signals", limit=3, offset=1)
        assert (page["total"], page["offset"], page["limit"]) == (9, 1, 3)
        assert [s["signal_id"] for s in page["items"]] == ["s7", "s6", "s5"]  # newest first; s8 is the newest
        assert [s["signal_id"] for s in get(client, "/api/signals", symbol="RELIANCE")["items"]] == ["s7"]
        assert get(client, "/api/signals", strategy="ema")["total"] == 8
        assert get(client, "/api/signals", day="2025-11-18")["items"][0]["signal_id"] == "s8"
        assert get(client, "/api/signals", day=DAY.isoformat(), strategy="ema")["total"] == 7
        first = get(client, "/api/signals", symbol="RELIANCE")["items"][0]
        assert first["indicators"]["rsi14"] is None  # not warmed up
        assert first["indicators"]["trend_context"] == "UPTREND" and first["reason"] == "cross 7"
        assert client.get("/api/signals", params={"limit": 0}).status_code == 422
        assert client.get("/api/signals", params={"day": "yesterday"}).status_code == 422


def test_history_comes_from_the_journals_and_checkpoint_when_the_dashboard_starts_late(
    settings: Settings, execution: ExecutionService, bus: Bus, redis_client: redis.Redis
) -> None:
    send(bus, (streams.ORDERS_APPROVED, intent("i1")), (streams.SIGNALS, signal(1)))
    drain(execution)
    send(bus, (streams.ticks("NFO"), tick(at(9, 30, 0.25))))
    drain(execution)
    execution.on_stop()  # journals and checkpoints written
    redis_client.delete(streams.ORDER_EVENTS, streams.FILLS, streams.POSITIONS, streams.SIGNALS)  # only disk is left

    with dashboard(settings) as client:
        orders = get(client, "/api/orders")
        assert [(o["order_id"], o["status"]) for o in orders["items"]] == [("P-i1", "FILLED")]
        assert [s["signal_id"] for s in get(client, "/api/signals")["items"]] == ["s1"]
        pf = get(client, "/api/portfolio")
        assert pf["source"] == "checkpoint"
        assert [(p["symbol"], p["quantity"]) for p in pf["positions"]] == [("NIFTY25NOVFUT", 65)]
        c = get(client, "/api/candles", symbol="NIFTY25NOVFUT", tf="5m")
        assert c["candles"] == [] and [t["order_id"] for t in c["trades"]] == ["P-i1"]


def order_event(i: int, status: OrderStatus = OrderStatus.OPEN) -> OrderEvent:
    return OrderEvent(
        ts_event=at(9, 30) + i * 10**9, ts_init=wall_ns(), order_id=f"O{i}", intent_id=f"I{i}", symbol="NIFTY25NOVFUT",
        exchange="NFO", side=Side.BUY, order_type=OrderType.MARKET, product=Product.MIS, quantity=65,
        filled_quantity=0, price=0.0, average_price=0.0, status=status, strategy="ema",
    )  # fmt: skip


def test_the_reader_resumes_its_place_after_a_restart_and_keeps_memory_capped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, bus: Bus, redis_client: redis.Redis
) -> None:
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url, KITE_ALGO__DASHBOARD__MAX_ORDERS="100")
    with dashboard(settings) as client:
        send(bus, (streams.ORDER_EVENTS, order_event(0)))
        wait_for(lambda: get(client, "/api/orders")["total"] == 1)
    # published while the dashboard is down: the group delivers them on the next start
    send(bus, *[(streams.ORDER_EVENTS, order_event(i)) for i in range(1, 300)])
    send(bus, (streams.ORDER_EVENTS, order_event(299, OrderStatus.CANCELLED)))
    with dashboard(settings) as client:
        page = wait_for(lambda: (p := get(client, "/api/orders", limit=5))["items"]
                        and p["items"][0]["status"] == "CANCELLED" and p, what="the backlog")  # fmt: skip
        assert page["total"] == 100  # the cap: the oldest orders were let go
        assert [o["order_id"] for o in page["items"]] == ["O299", "O298", "O297", "O296", "O295"]
        assert redis_client.xpending(streams.ORDER_EVENTS, "dashboard")["pending"] == 0
        info = {g["name"].decode(): g for g in redis_client.xinfo_groups(streams.ORDER_EVENTS)}
        assert info["dashboard"]["lag"] == 0


def trade(ts_min: int, strategy: str, net: float, charges: float = 20.0) -> PnlRecord:
    return PnlRecord(
        ts_ns=at(10, ts_min), symbol="RELIANCE", strategy=strategy, side=Side.BUY, quantity=10, entry_price=1000.0,
        exit_price=1000.0 + (net + charges) / 10, gross_pnl=net + charges, charges=charges, net_pnl=net,
        holding_seconds=60.0,
    )  # fmt: skip


def test_performance_per_strategy_from_pnl_csv(settings: Settings) -> None:
    paths = StatePaths.from_settings(settings)
    paths.artifacts.mkdir(parents=True)
    with PnlJournal(paths.pnl_csv) as journal:
        for t in (trade(1, "a", 100.0), trade(2, "a", -40.0), trade(3, "a", -80.0), trade(4, "a", 300.0),
                  trade(5, "b", -10.0)):  # fmt: skip
            journal.append(t)
        with dashboard(settings) as client:
            perf = {s["strategy"]: s for s in get(client, "/api/performance")["strategies"]}
            a = perf["a"]
            assert (a["trades"], a["wins"], a["losses"]) == (4, 2, 2)
            assert a["win_rate"] == 0.5
            assert a["net_pnl"] == pytest.approx(280.0) and a["charges"] == pytest.approx(80.0)
            assert a["gross_pnl"] == pytest.approx(360.0)
            assert (a["largest_win"], a["largest_loss"]) == (300.0, -80.0)
            assert a["profit_factor"] == pytest.approx(400.0 / 120.0)
            assert a["max_drawdown"] == pytest.approx(120.0)  # 100 -> -20
            assert [p["net_pnl"] for p in a["curve"]] == pytest.approx([100.0, 60.0, -20.0, 280.0])
            assert perf["b"]["profit_factor"] is None or perf["b"]["profit_factor"] == 0.0
            # a trade appended later is picked up without a restart
            journal.append(trade(6, "b", 50.0))
            b = wait_for(lambda: (x := get(client, "/api/performance")["strategies"][1])["trades"] == 2 and x)
            assert b["profit_factor"] == pytest.approx(5.0)
            assert get(client, "/api/performance", day="2025-11-18")["trades"] == 0
            assert get(client, "/api/performance", day=DAY.isoformat())["trades"] == 6


def test_config_is_the_effective_one_with_secrets_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url, KITE_ALGO__DATA__SPEED="max")
    url_with_password = redis_url.replace("redis://", "redis://:hunter2@")
    settings = settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": url_with_password})})
    bus = Bus(redis.Redis.from_url(redis_url))
    from fastapi.testclient import TestClient

    from services.dashboard.app import create_app

    with TestClient(create_app(settings, bus)) as client:
        cfg = get(client, "/api/config")
    assert cfg["config"]["data"]["speed"] == "max" and cfg["config"]["dashboard"]["host"] == "127.0.0.1"
    assert "hunter2" not in str(cfg) and ":***@" in cfg["config"]["redis"]["url"]
    assert cfg["source_file"].endswith("dev.yaml")


def test_the_dashboard_heartbeats_like_every_service(settings: Settings, redis_client: redis.Redis) -> None:
    with dashboard(settings):
        def beats() -> list[Heartbeat]:
            from shared.bus import codec

            return [m for _, f in redis_client.xrange(streams.HEALTH) if (m := codec.decode(f)).service == "dashboard"]

        assert wait_for(beats)[0].state == ServiceState.RUNNING
    assert beats()[-1].state == ServiceState.STOPPED


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "code", "says"),
    [
        ({"KITE_ALGO__DASHBOARD__PORT": "0"}, 2, "dashboard.port"),
        ({"KITE_ALGO__DASHBOARD__MAX_ORDERS": "lots"}, 2, "dashboard.max_orders"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, 3, "cannot reach Redis at redis://127.0.0.1:1/0"),
    ],
)
def test_the_service_refuses_to_start_with_a_clear_message(
    service_env: dict[str, str], env: dict[str, str], code: int, says: str
) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "services.dashboard"], env={**service_env, **env},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert says in proc.stderr


# -- backtest reports ------------------------------------------------------------------------------


def test_the_dashboard_lists_backtest_reports_and_opens_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.run_trader import main as run_trader_main
    from tests.unit.test_backtest import CONFIG, GOLDEN_DATA

    reports = tmp_path / "backtests"
    run = reports / "nifty-jan"
    rc = run_trader_main([
        "backtest", "--config", str(CONFIG), "--data", str(GOLDEN_DATA), "--from", "2025-01-06", "--to", "2025-01-08",
        "--symbols", "NIFTY", "--strategies", "ema20_50_intraday", "--out", str(run), "--no-progress",
    ])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    (reports / "half-written").mkdir()  # no summary.json / report.html: not a report
    (reports / "broken").mkdir()
    (reports / "broken" / "report.html").write_text("<html></html>")
    (reports / "broken" / "summary.json").write_text("{not json")
    settings = dashboard_settings(monkeypatch, tmp_path, redis_url, KITE_ALGO__BACKTEST__OUTPUT_DIR=str(reports))
    summary = json.loads((run / "summary.json").read_text())
    with dashboard(settings) as client:
        listing = get(client, "/api/backtests")
        assert listing["folder"] == str(reports.resolve())
        (entry,) = listing["reports"]  # the half-written and the unreadable folders are left out
        assert entry["name"] == "nifty-jan" and entry["url"] == "/backtests/nifty-jan/report.html"
        assert (entry["first_day"], entry["last_day"], entry["days"]) == ("2025-01-06", "2025-01-08", 3)
        assert entry["trades"] == summary["total"]["trades"]
        assert entry["net_pnl"] == pytest.approx(summary["total"]["net_pnl"])
        assert entry["strategies"] == ["ema20_50_intraday"]
        page = client.get(entry["url"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text == (run / "report.html").read_text()
        for bad in ("half-written", "nope", "..", "%2e%2e", "..%2Fbroken", "nifty-jan%2F..%2F..%2Fsecrets"):
            assert client.get(f"/backtests/{bad}/report.html").status_code == 404, bad

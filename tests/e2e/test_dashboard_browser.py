"""The dashboard in headless Chromium during a simulated session (run_trader, every service real).

It opens the page, sees a new order appear without a reload, sees the connection drop and
come back when the dashboard process is killed (supervisord restarts it), halts the session
with the token (and checks that risk applied it), and saves a screenshot of every tab under
``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.bus import codec, streams
from tests.e2e.session import ROOT, TraderRun, session_env
from tests.redis_server import free_port

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TOKEN = "browser-test-token-7f3a"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
TABS = ("portfolio", "orders", "signals", "performance", "health", "chart", "backtests")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.3)


def risk_halted(r: redis.Redis) -> bool:
    for _, fields in r.xrevrange(streams.HEALTH, count=300):
        hb = codec.decode(fields)
        if getattr(hb, "service", "") == "risk":
            return "halted=true" in hb.detail
    return False


@pytest.fixture
def session(redis_url: str, tmp_path: Path) -> Iterator[tuple[TraderRun, str]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (deploy/install-system-deps.sh installs it)")
    port = free_port()
    reports = tmp_path / "backtests"
    write_backtest_report(reports / "golden-week")
    env = session_env(redis_url, tmp_path / "artifacts", DASHBOARD_TOKEN=TOKEN, KITE_ALGO__DASHBOARD__PORT=str(port),
                      KITE_ALGO__BACKTEST__OUTPUT_DIR=str(reports))  # fmt: skip
    run = TraderRun(env)
    try:
        yield run, f"http://127.0.0.1:{port}"
    finally:
        run.stop()


def write_backtest_report(out: Path) -> None:
    """A real report: a three-day backtest of the golden data (about a second)."""
    from scripts.run_trader import main as run_trader_main
    from tests.unit.test_backtest import CONFIG, GOLDEN_DATA

    rc = run_trader_main([
        "backtest", "--config", str(CONFIG), "--data", str(GOLDEN_DATA), "--from", "2025-01-06", "--to", "2025-01-08",
        "--symbols", "NIFTY", "--strategies", "ema20_50_intraday", "--out", str(out), "--no-progress",
    ])  # fmt: skip
    assert rc == 0 and (out / "report.html").is_file()


def test_the_page_follows_a_live_session_survives_a_restart_and_halts_with_the_token(
    session: tuple[TraderRun, str],
) -> None:
    run, url = session
    wait_http(f"{url}/api/health")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: d.accept())
            page.goto(url)
            page.wait_for_selector("#conn[data-state=live]", timeout=20_000)
            page.evaluate("window.__samePage = true")
            # rupees the Indian way, times in IST (the page's own formatters)
            assert page.evaluate("inr(12345678.9)") == "₹1,23,45,678.90"
            assert page.evaluate("inr(-1500)") == "-₹1,500.00" and page.evaluate("inr(999.5)") == "₹999.50"
            assert page.evaluate("istTime(1795578300000000000n)") == "2026-11-25 09:15:00"
            before = set(page.eval_on_selector_all("#orders tbody tr", "rows => rows.map(r => r.dataset.orderId)"))

            # 1. a new order appears without a reload
            page.click("#tabs button[data-tab=orders]")
            new_row = (
                "known => [...document.querySelectorAll('#orders tbody tr')]"
                ".some(r => !known.includes(r.dataset.orderId))"
            )
            page.wait_for_function(new_row, arg=list(before), timeout=240_000)
            assert page.evaluate("window.__samePage === true")  # no reload happened
            assert page.evaluate("window.__dash.orderLatencies.length") > 0  # it came over the live push

            # 2. the connection drops (dashboard killed) and comes back (supervisord restarts it)
            run.kill9("dashboard")
            page.wait_for_selector("#conn[data-state=down]", timeout=15_000)
            assert "lost" in page.inner_text("#banner")
            page.screenshot(path=str(ARTIFACTS / "connection-lost.png"))
            page.wait_for_selector("#conn[data-state=live]", timeout=60_000)
            assert "back" in page.inner_text("#banner")
            assert page.evaluate("window.__samePage === true")

            # 3. halt: refused without the token, applied by risk with it
            page.click("button[data-action=halt]")
            page.wait_for_function("document.querySelector('#ctl-result').textContent.startsWith('refused')")
            assert page.get_attribute("#session", "data-halted") == "false"
            page.fill("#token", TOKEN)
            page.fill("#operator", "browser-test")
            page.click("button[data-action=halt]")
            page.wait_for_selector("#session[data-halted=true]", timeout=20_000)
            assert "browser-test" in page.inner_text("#session")
            deadline = time.monotonic() + 30
            while not risk_halted(run.redis):
                assert time.monotonic() < deadline, "risk did not report the halt in its heartbeat"
                time.sleep(0.3)

            # 4. a backtest report opens from the Backtests tab, in its own tab
            page.click("#tabs button[data-tab=backtests]")
            page.wait_for_selector("#backtests tr[data-report=golden-week] a", timeout=10_000)
            with page.context.expect_page() as opened:
                page.click("#backtests tr[data-report=golden-week] a")
            report = opened.value
            report.wait_for_load_state()
            assert report.url == f"{url}/backtests/golden-week/report.html"
            assert report.locator("svg").count() >= 2 and "ema20_50_intraday" in report.inner_text("body")
            report.close()

            # 5. every tab, as a picture
            for tab in TABS:
                page.click(f"#tabs button[data-tab={tab}]")
                page.wait_for_timeout(1_000)
                page.screenshot(path=str(ARTIFACTS / f"{tab}.png"), full_page=True)
            assert page.eval_on_selector_all("#positions tbody tr", "r => r.length") > 0
            assert page.eval_on_selector_all("#services tbody tr", "r => r.length") >= 5
            assert errors == [], errors
        finally:
            browser.close()
    for tab in TABS:
        assert (ARTIFACTS / f"{tab}.png").stat().st_size > 10_000

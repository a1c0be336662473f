"""The Kite sandbox's REST API driven by the real ``kiteconnect.KiteConnect`` client."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dtime

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from sandbox.kite.runner import SandboxThread
from shared.clock import ns_to_ist
from tests.sandbox.conftest import faults, login, sandbox_config


def step(sb: SandboxThread, n: int = 1) -> None:
    for _ in range(n):
        sb.call(sb.sandbox.account.step)


@pytest.fixture
def paused(sandbox: SandboxThread) -> Iterator[SandboxThread]:
    """The market stops on its own; the test steps it (deterministic matching)."""
    faults(sandbox, paused=True)
    yield sandbox
    faults(sandbox, paused=False)


def nifty_future(kite: KiteConnect) -> dict:
    futs = sorted((i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "FUT"),
                  key=lambda i: i["expiry"])  # fmt: skip
    return futs[0]


# -- sessions --------------------------------------------------------------------------------


def test_token_exchange_checks_the_checksum_and_uses_a_request_token_once(sandbox: SandboxThread) -> None:
    cfg = sandbox.sandbox.cfg
    kite = KiteConnect(cfg.api_key, root=sandbox.root)
    rt = requests.post(sandbox.root + "/_sandbox/session", timeout=5).json()["data"]["request_token"]
    with pytest.raises(kex.TokenException, match="checksum"):
        kite.generate_session(rt, "wrong-secret")
    session = kite.generate_session(rt, cfg.api_secret)
    assert session["user_id"] == cfg.user_id
    assert isinstance(session["login_time"], datetime)  # the client parsed Kite's 19-character time
    assert kite.profile()["user_id"] == cfg.user_id
    with pytest.raises(kex.TokenException):
        KiteConnect(cfg.api_key, root=sandbox.root).generate_session(rt, cfg.api_secret)  # single use


def test_login_page_redirects_with_a_request_token(sandbox: SandboxThread) -> None:
    cfg = sandbox.sandbox.cfg
    r = requests.get(sandbox.root + "/connect/login", params={"api_key": cfg.api_key, "v": 3},
                     allow_redirects=False, timeout=5)  # fmt: skip
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(cfg.redirect_url) and "status=success" in location
    token = location.split("request_token=")[1].split("&")[0]
    checksum = hashlib.sha256((cfg.api_key + token + cfg.api_secret).encode()).hexdigest()
    form = {"api_key": cfg.api_key, "request_token": token, "checksum": checksum}
    body = requests.post(sandbox.root + "/session/token", data=form, timeout=5).json()
    assert body["status"] == "success" and body["data"]["access_token"]


def test_expired_token_is_a_403_token_exception_and_fires_the_session_hook(sandbox: SandboxThread) -> None:
    kite = login(sandbox)
    fired: list[bool] = []
    kite.set_session_expiry_hook(lambda: fired.append(True))
    assert kite.margins("equity")["enabled"] is True
    faults(sandbox, expire_tokens=True)
    with pytest.raises(kex.TokenException, match="expired") as info:
        kite.margins()
    assert info.value.code == 403 and fired == [True]
    assert login(sandbox).profile()  # a new login works again


def test_unknown_route_still_gets_kites_envelope(kite: KiteConnect, sandbox: SandboxThread) -> None:
    body = requests.get(sandbox.root + "/no/such/route", timeout=5).json()
    assert body["status"] == "error" and body["error_type"] and "data" in body


# -- market data -----------------------------------------------------------------------------


def test_instruments_csv_parses_in_the_client_and_matches_the_simulator(kite: KiteConnect, sandbox) -> None:
    rows = kite.instruments()
    master = sandbox.sandbox.account.master
    assert len(rows) == len(master)
    fut = nifty_future(kite)
    inst = master.by_token(fut["instrument_token"])
    assert (fut["lot_size"], fut["tick_size"], fut["tradingsymbol"]) == (inst.lot_size, inst.tick_size,
                                                                          inst.tradingsymbol)  # fmt: skip
    assert all(r["exchange"] == "NFO" for r in kite.instruments("NFO"))


def test_quote_ltp_ohlc_follow_the_last_tick(kite: KiteConnect, paused: SandboxThread) -> None:
    fut = nifty_future(kite)
    key = f"NFO:{fut['tradingsymbol']}"
    step(paused, 3)
    last = paused.sandbox.account.last_tick[fut["instrument_token"]]
    q = kite.quote(key, "NSE:NO SUCH")[key]
    assert q["last_price"] == last.last_price and q["volume"] == last.volume
    assert [lv["price"] for lv in q["depth"]["sell"]] == list(last.ask_prices)
    assert kite.ltp(key)[key]["last_price"] == last.last_price
    assert kite.ohlc(key)[key]["ohlc"]["close"] == last.close
    assert "NSE:NO SUCH" not in kite.quote(key, "NSE:NO SUCH")


def test_historical_minute_candles_come_from_the_simulated_ticks(kite: KiteConnect, paused: SandboxThread) -> None:
    fut = nifty_future(kite)
    acct = paused.sandbox.account
    step(paused, int(180_000 / acct.cfg.step_ms))  # three market minutes
    now = datetime.fromtimestamp(acct.now_ns / 1e9)
    candles = kite.historical_data(fut["instrument_token"], now - timedelta(days=1), now + timedelta(days=1),
                                   "minute", oi=True)  # fmt: skip
    bars = acct.bars[(fut["instrument_token"], "1m")]
    assert len(candles) == len(bars) >= 2
    assert [(c["open"], c["high"], c["low"], c["close"], c["volume"], c["oi"]) for c in candles] == [
        (b.open, b.high, b.low, b.close, b.volume, b.oi) for b in bars
    ]
    assert candles[0]["date"].utcoffset() == timedelta(hours=5, minutes=30)
    with pytest.raises(kex.InputException, match="interval"):
        kite.historical_data(fut["instrument_token"], now, now, "7minute")


# -- orders ----------------------------------------------------------------------------------


def test_market_order_with_protection_fills_against_depth(kite: KiteConnect, paused: SandboxThread) -> None:
    fut = nifty_future(kite)
    step(paused)
    acct = paused.sandbox.account
    oid = kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "MARKET",
                           market_protection=-1, tag="t1mkt")  # fmt: skip
    assert kite.order_history(oid)[-1]["status"] == "OPEN"
    token = fut["instrument_token"]
    before = acct.last_tick[token]
    for _ in range(200):  # the future does not print on every step: fills come with its next tick
        step(paused)
        if acct.last_tick[token] is not before:
            break
    tick = acct.last_tick[token]
    history = kite.order_history(oid)
    assert [h["status"] for h in history] == [
        "PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]  # fmt: skip
    done = history[-1]
    assert done["average_price"] == min(tick.ask_prices)  # one lot never exhausts the best level
    assert done["tag"] == "t1mkt" and done["tags"] == ["t1mkt"] and done["market_protection"] == -1
    trades = kite.order_trades(oid)
    assert sum(t["quantity"] for t in trades) == fut["lot_size"]
    net = {p["tradingsymbol"]: p for p in kite.positions()["net"]}
    assert net[fut["tradingsymbol"]]["quantity"] >= fut["lot_size"]
    assert any(o["order_id"] == oid for o in kite.orders())


def test_big_market_order_fills_partially_and_rests(kite: KiteConnect, paused: SandboxThread) -> None:
    step(paused)
    acct = paused.sandbox.account
    eq = next(i for i in acct.master.equities() if i.instrument_token in acct.last_tick)
    tick = acct.last_tick[eq.instrument_token]
    qty = 50 * (sum(tick.ask_quantities) + 1)  # far more than the book shows
    oid = kite.place_order("regular", "NSE", eq.tradingsymbol, "BUY", qty, "MIS", "MARKET", market_protection=1)
    for _ in range(200):
        step(paused)
        if kite.order_history(oid)[-1]["filled_quantity"]:
            break
    state = kite.order_history(oid)[-1]
    assert state["status"] == "OPEN" and 0 < state["filled_quantity"] < qty
    assert state["pending_quantity"] == qty - state["filled_quantity"]
    assert sum(t["quantity"] for t in kite.order_trades(oid)) == state["filled_quantity"]
    kite.cancel_order("regular", oid)
    final = kite.order_history(oid)[-1]
    assert final["status"] == "CANCELLED" and final["cancelled_quantity"] == qty - state["filled_quantity"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"order_type": "MARKET"}, "market protection"),
        ({"order_type": "SL-M", "trigger_price": 100.0}, "market protection"),
        ({"quantity": 7}, "multiple of lot size"),
        ({"price": 100.03}, "Tick size"),
        ({"tag": "x" * 21}, "tag"),
        ({"tag": "has space"}, "tag"),
        ({"quantity": 65 * 28}, "maximum quantity of 1800"),
        ({"product": "CNC"}, "product"),
        ({"market_protection": 150}, "market_protection"),
    ],
)
def test_kite_validations_answer_input_exception(kite: KiteConnect, change: dict, message: str) -> None:
    fut = nifty_future(kite)
    args = {"variety": "regular", "exchange": "NFO", "tradingsymbol": fut["tradingsymbol"], "transaction_type": "BUY",
            "quantity": fut["lot_size"], "product": "NRML", "order_type": "LIMIT", "price": 100.0}  # fmt: skip
    args.update(change)
    with pytest.raises(kex.InputException, match=message) as info:
        kite.place_order(**args)
    assert info.value.code == 400


def test_limit_order_modifications_are_capped_at_25(kite: KiteConnect, paused: SandboxThread) -> None:
    fut = nifty_future(kite)
    oid = kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "LIMIT",
                           price=100.0)  # fmt: skip
    for i in range(25):
        kite.modify_order("regular", oid, price=100.0 + (i + 1) * 0.05)
    state = kite.order_history(oid)[-1]
    assert state["price"] == pytest.approx(101.25) and state["modified"] is True and state["status"] == "OPEN"
    with pytest.raises(kex.NetworkException, match="modifications"):
        kite.modify_order("regular", oid, price=90.0)
    kite.cancel_order("regular", oid)
    with pytest.raises(kex.InputException):
        kite.cancel_order("regular", oid)


def test_rms_rejection_is_a_status_not_an_http_error(kite: KiteConnect, sandbox: SandboxThread) -> None:
    fut = nifty_future(kite)
    faults(sandbox, reject_next=1, reject_reason="RMS:Margin Exceeds, Required:1, Available:0")
    oid = kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "LIMIT",
                           price=100.0)  # fmt: skip
    state = kite.order_history(oid)[-1]
    assert state["status"] == "REJECTED" and state["exchange_order_id"] is None
    assert state["status_message"].startswith("RMS:Margin Exceeds")


def test_insufficient_funds_reject_with_kites_rms_text() -> None:
    sb = SandboxThread(sandbox_config(capital=10_000.0)).start()
    try:
        kite = login(sb)
        fut = nifty_future(kite)
        oid = kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "MARKET",
                               market_protection=-1)  # fmt: skip
        state = kite.order_history(oid)[-1]
        assert state["status"] == "REJECTED" and "Insufficient funds" in state["status_message"]
    finally:
        sb.stop()


def test_order_rate_limit_answers_429() -> None:
    sb = SandboxThread(sandbox_config(orders_per_second=3, orders_per_minute=400)).start()
    try:
        kite = login(sb)
        fut = nifty_future(kite)
        placed, refused = 0, 0
        start = time.monotonic()
        while time.monotonic() - start < 0.9 and refused == 0:
            try:
                kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "LIMIT",
                                 price=100.0)  # fmt: skip
                placed += 1
            except kex.NetworkException as exc:
                assert exc.code == 429 and "Too many requests" in str(exc)
                refused += 1
        assert refused == 1 and placed >= 3
        assert len(kite.orders()) == placed  # a refused request placed nothing
    finally:
        sb.stop()


def test_order_call_that_hangs_after_placing_leaves_the_order_in_the_book(sandbox: SandboxThread) -> None:
    kite = login(sandbox, timeout=1)
    fut = nifty_future(kite)
    before = len(kite.orders())
    faults(sandbox, hang_after_place=1, hang_seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML", "LIMIT",
                         price=100.0, tag="hangtag1")  # fmt: skip
    orders = kite.orders()
    assert len(orders) == before + 1 and orders[-1]["tag"] == "hangtag1"


def test_mis_orders_that_open_positions_are_refused_after_the_cut_off() -> None:
    sb = SandboxThread(sandbox_config(step_ms=60_000, speed=1e-6)).start()  # minute steps; the test drives them
    try:
        kite = login(sb)
        acct = sb.sandbox.account
        eq = acct.master.equities()[0]
        while ns_to_ist(acct.now_ns).time() < dtime(15, 21):
            step(sb)
        oid = kite.place_order("regular", "NSE", eq.tradingsymbol, "BUY", 1, "MIS", "MARKET", market_protection=-1)
        state = kite.order_history(oid)[-1]
        assert state["status"] == "REJECTED" and "15:20" in state["status_message"]
        cnc = kite.place_order("regular", "NSE", eq.tradingsymbol, "BUY", 1, "CNC", "MARKET", market_protection=-1)
        assert kite.order_history(cnc)[-1]["status"] == "OPEN"
    finally:
        sb.stop()

"""Kite's read-only shapes over the account: positions, margins, quote / ohlc / ltp."""

from __future__ import annotations

from typing import Any

from sandbox.kite.account import KiteAccount
from sandbox.kite.records import kite_time
from shared.brokers.positions import Position
from shared.instruments import Instrument


def _position(acct: KiteAccount, pos: Position) -> dict[str, Any]:
    inst = acct.master.by_symbol(pos.exchange, pos.symbol)
    last = acct.last_tick.get(inst.instrument_token)
    last_price = last.last_price if last else pos.last_price
    unrealised = pos.quantity * (last_price - pos.avg_price) if pos.quantity else 0.0
    buy_price = pos.buy_value / pos.buy_quantity if pos.buy_quantity else 0.0
    sell_price = pos.sell_value / pos.sell_quantity if pos.sell_quantity else 0.0
    pnl = pos.sell_value - pos.buy_value + pos.quantity * last_price
    return {
        "tradingsymbol": pos.symbol, "exchange": pos.exchange, "instrument_token": inst.instrument_token,
        "product": pos.product.value, "quantity": pos.quantity, "overnight_quantity": 0, "multiplier": 1,
        "average_price": round(pos.avg_price, 2), "close_price": inst.last_price, "last_price": last_price,
        "value": round(pos.sell_value - pos.buy_value, 2), "pnl": round(pnl, 2), "m2m": round(pnl, 2),
        "unrealised": round(unrealised, 2), "realised": round(pos.realized_pnl, 2),
        "buy_quantity": pos.buy_quantity, "buy_price": round(buy_price, 2), "buy_value": round(pos.buy_value, 2),
        "buy_m2m": round(pos.buy_value, 2), "sell_quantity": pos.sell_quantity, "sell_price": round(sell_price, 2),
        "sell_value": round(pos.sell_value, 2), "sell_m2m": round(pos.sell_value, 2),
        "day_buy_quantity": pos.buy_quantity, "day_buy_price": round(buy_price, 2),
        "day_buy_value": round(pos.buy_value, 2), "day_sell_quantity": pos.sell_quantity,
        "day_sell_price": round(sell_price, 2), "day_sell_value": round(pos.sell_value, 2),
    }  # fmt: skip


def positions(acct: KiteAccount) -> dict[str, list[dict[str, Any]]]:
    rows = [_position(acct, p) for p in acct.broker.positions()]
    return {"net": rows, "day": [dict(r) for r in rows]}


def margins(acct: KiteAccount, segment: str | None) -> dict[str, Any]:
    net_cash, used = acct.net_cash(), acct.used_margin()
    equity = {
        "enabled": True, "net": round(net_cash - used, 2),
        "available": {"adhoc_margin": 0, "cash": round(net_cash, 2), "opening_balance": acct.cfg.capital,
                      "live_balance": round(net_cash - used, 2), "collateral": 0, "intraday_payin": 0},
        "utilised": {"debits": round(used, 2), "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0,
                     "option_premium": 0, "payout": 0, "span": round(used, 2), "holding_sales": 0, "turnover": 0,
                     "liquid_collateral": 0, "stock_collateral": 0, "delivery": 0},
    }  # fmt: skip
    commodity = {"enabled": False, "net": 0, "available": {k: 0 for k in equity["available"]},
                 "utilised": {k: 0 for k in equity["utilised"]}}  # fmt: skip
    both = {"equity": equity, "commodity": commodity}
    return both if segment is None else both[segment]


def _depth(prices: tuple[float, ...], qtys: tuple[int, ...], orders: tuple[int, ...]) -> list[dict[str, Any]]:
    levels = [{"price": p, "quantity": q, "orders": o} for p, q, o in zip(prices, qtys, orders, strict=False)]
    return (levels + [{"price": 0, "quantity": 0, "orders": 0}] * 5)[:5]


def _ohlc(acct: KiteAccount, inst: Instrument) -> tuple[float, dict[str, float]]:
    tick = acct.last_tick.get(inst.instrument_token)
    if tick is None:
        price = acct.market.model_price(inst.instrument_token)
        return price, {"open": 0.0, "high": 0.0, "low": 0.0, "close": inst.last_price}
    return tick.last_price, {"open": tick.open, "high": tick.high, "low": tick.low, "close": tick.close}


def quotes(acct: KiteAccount, keys: list[str], kind: str) -> dict[str, Any]:
    """``kind``: quote, ohlc or ltp; unknown keys are left out (as Kite does)."""
    out: dict[str, Any] = {}
    for key in keys:
        inst = acct.quote_instrument(key)
        if inst is None:
            continue
        last, ohlc = _ohlc(acct, inst)
        row: dict[str, Any] = {"instrument_token": inst.instrument_token, "last_price": last}
        if kind in ("quote", "ohlc"):
            row["ohlc"] = ohlc
        if kind == "quote":
            row.update(_quote_fields(acct, inst, last, ohlc))
        out[key] = row
    return out


def _quote_fields(acct: KiteAccount, inst: Instrument, last: float, ohlc: dict[str, float]) -> dict[str, Any]:
    tick = acct.last_tick.get(inst.instrument_token)
    ts = kite_time(tick.ts_event if tick else acct.now_ns)
    close = ohlc["close"]
    fields: dict[str, Any] = {
        "timestamp": ts, "last_trade_time": ts, "last_quantity": 0, "buy_quantity": 0, "sell_quantity": 0,
        "volume": 0, "average_price": last, "oi": 0, "oi_day_high": 0, "oi_day_low": 0,
        "net_change": round(last - close, 2) if close else 0,
        "lower_circuit_limit": round(close * 0.8, 2), "upper_circuit_limit": round(close * 1.2, 2),
        "depth": {"buy": _depth((), (), ()), "sell": _depth((), (), ())},
    }  # fmt: skip
    if tick is not None:
        fields.update(
            last_quantity=tick.last_quantity, buy_quantity=sum(tick.bid_quantities),
            sell_quantity=sum(tick.ask_quantities), volume=tick.volume, oi=tick.oi,
            depth={"buy": _depth(tick.bid_prices, tick.bid_quantities, tick.bid_orders),
                   "sell": _depth(tick.ask_prices, tick.ask_quantities, tick.ask_orders)},
        )  # fmt: skip
    return fields

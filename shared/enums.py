"""Enumerations shared by messages, strategies, risk and brokers (Kite's spellings)."""

from __future__ import annotations

from enum import StrEnum


class Exchange(StrEnum):
    NSE = "NSE"
    NFO = "NFO"
    BSE = "BSE"
    BFO = "BFO"
    INDICES = "INDICES"


class InstrumentType(StrEnum):
    EQ = "EQ"
    FUT = "FUT"
    CE = "CE"
    PE = "PE"
    INDEX = "INDEX"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SLM = "SL-M"


class Product(StrEnum):
    MIS = "MIS"
    NRML = "NRML"
    CNC = "CNC"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class Decision(StrEnum):
    ALLOW = "ALLOW"
    REDUCE = "REDUCE"
    BLOCK = "BLOCK"
    HALT_SESSION = "HALT_SESSION"


class SignalKind(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    EXIT = "EXIT"
    FLAT = "FLAT"


class ServiceState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    DEGRADED = "DEGRADED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class ControlAction(StrEnum):
    HALT = "HALT"
    RESUME = "RESUME"
    KILL_SYMBOL = "KILL_SYMBOL"
    REVIVE_SYMBOL = "REVIVE_SYMBOL"
    SQUARE_OFF_ALL = "SQUARE_OFF_ALL"
    CANCEL_ALL = "CANCEL_ALL"


class FeedAction(StrEnum):
    SUBSCRIBE = "SUBSCRIBE"
    UNSUBSCRIBE = "UNSUBSCRIBE"

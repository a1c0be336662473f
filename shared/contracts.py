"""Bus messages: immutable facts, each with a type tag, a schema version and event time.

Every message is a frozen ``msgspec.Struct``. On the wire the body is msgpack with the
``type`` tag inside, so a decoder validates the shape and the types in one native pass;
a body that fails goes to ``deadletter`` (see ``shared.bus.codec``).

Times are UTC epoch nanoseconds: ``ts_event`` is when the fact happened in market time
(a tick's exchange time, a bar's close), ``ts_init`` when this process created the
message. Prices are rupees (float, on the instrument's tick grid); quantities are units,
not lots.

Raise ``SCHEMA`` of a message when its fields change incompatibly; decoders reject a
schema they do not know.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Final

import msgspec

from shared.enums import (
    ControlAction,
    Decision,
    FeedAction,
    OrderStatus,
    OrderType,
    Product,
    ServiceState,
    Side,
    SignalKind,
)

SCHEMA: Final = 1

NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PosInt = Annotated[int, msgspec.Meta(gt=0)]


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=False):
    """Base of every bus message."""

    schema: int = SCHEMA
    ts_event: NonNegInt
    ts_init: NonNegInt = 0

    #: The plain-text ``symbol`` field written beside the body (for redis-cli readers).
    symbol_field: ClassVar[str] = "symbol"

    def label(self) -> str:
        """The symbol shown in the stream entry's plain-text field ("" when none)."""
        return str(getattr(self, self.symbol_field, ""))


class DepthLevel(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One level of the order book: price, quantity, number of orders."""

    price: NonNegFloat
    quantity: NonNegInt
    orders: NonNegInt


class Tick(Message, frozen=True, tag="tick", gc=False):
    """A market data update for one instrument (Kite's "full" mode, plus our symbol)."""

    instrument_token: PosInt
    exchange: str
    symbol: str  # tradingsymbol, e.g. NIFTY26NOVFUT
    last_price: NonNegFloat
    last_quantity: NonNegInt = 0
    volume: NonNegInt = 0  # cumulative for the day
    oi: NonNegInt = 0
    open: NonNegFloat = 0.0
    high: NonNegFloat = 0.0
    low: NonNegFloat = 0.0
    close: NonNegFloat = 0.0  # previous session's close, as Kite sends it
    # Market depth, best first, as parallel arrays: decoding ten small structs per tick cost
    # two thirds of a tick's decode time (docs/benchmarks.md). ``bids``/``asks`` give levels.
    bid_prices: tuple[NonNegFloat, ...] = ()
    bid_quantities: tuple[NonNegInt, ...] = ()
    bid_orders: tuple[NonNegInt, ...] = ()
    ask_prices: tuple[NonNegFloat, ...] = ()
    ask_quantities: tuple[NonNegInt, ...] = ()
    ask_orders: tuple[NonNegInt, ...] = ()

    @property
    def bids(self) -> tuple[DepthLevel, ...]:
        """Bid levels, best first."""
        return tuple(map(DepthLevel, self.bid_prices, self.bid_quantities, self.bid_orders))

    @property
    def asks(self) -> tuple[DepthLevel, ...]:
        """Ask levels, best first."""
        return tuple(map(DepthLevel, self.ask_prices, self.ask_quantities, self.ask_orders))


def depth(bids: Iterable[tuple[float, int, int]] = (), asks: Iterable[tuple[float, int, int]] = ()) -> dict[str, Any]:
    """``Tick`` keyword arguments for depth given as (price, quantity, orders) levels."""
    b, a = list(bids), list(asks)
    return {
        "bid_prices": tuple(x[0] for x in b),
        "bid_quantities": tuple(x[1] for x in b),
        "bid_orders": tuple(x[2] for x in b),
        "ask_prices": tuple(x[0] for x in a),
        "ask_quantities": tuple(x[1] for x in a),
        "ask_orders": tuple(x[2] for x in a),
    }


class Bar(Message, frozen=True, tag="bar", gc=False):
    """A closed candle. ``ts_event`` is the bar's close; ``ts_open`` its start."""

    instrument_token: PosInt
    symbol: str
    timeframe: str  # "1m", "5m", "15m"
    ts_open: NonNegInt
    open: NonNegFloat
    high: NonNegFloat
    low: NonNegFloat
    close: NonNegFloat
    volume: NonNegInt = 0
    oi: NonNegInt = 0


class Signal(Message, frozen=True, tag="signal"):
    """A strategy's view on one symbol (one row of ``signals.csv``)."""

    signal_id: str
    strategy: str
    logical: str  # NIFTY, RELIANCE ...
    symbol: str
    price: NonNegFloat
    signal: SignalKind
    timeframe: str
    reason: str = ""
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    indicators: dict[str, float | str | bool | None] = {}


class OrderIntent(Message, frozen=True, tag="order_intent"):
    """What an engine wants; sized and checked by risk before it becomes an order.

    ``intent_id`` is deterministic (strategy, symbol, bar time) so a redelivered intent is
    recognised and never places a second order.
    """

    intent_id: str
    strategy: str
    engine: str
    exchange: str
    symbol: str
    instrument_token: PosInt
    side: Side
    quantity: NonNegInt = 0  # 0: let the portfolio engine size it
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.MIS
    price: NonNegFloat = 0.0
    trigger_price: NonNegFloat = 0.0
    stop_loss: NonNegFloat = 0.0
    target: NonNegFloat = 0.0
    signal_id: str = ""
    underlying: str = ""
    reason: str = ""
    tag: str = ""
    #: An exit: it only reduces the strategy's own position; sizing and exposure caps never block it.
    reduce_only: bool = False
    #: The price the strategy saw (the bar close); MARKET intents have ``price`` 0, sizing uses this.
    ref_price: NonNegFloat = 0.0
    timeframe: str = ""
    #: The signal's event time, for the ``parent_signal_timestamp`` column of orders.csv.
    signal_ts: NonNegInt = 0
    #: The deciding engine's trading profile (``INTRADAY``), for orders.csv's ``profile`` column.
    #: On the intent, not looked up from its signal: execution may see the two in either order.
    profile: str = ""
    #: Options only (journaled in orders.csv ``extra``): the contract's strike, expiry (ISO) and CE/PE.
    strike: NonNegFloat = 0.0
    expiry: str = ""
    option_type: str = ""


class RiskDecision(Message, frozen=True, tag="risk_decision"):
    """The risk service's verdict on one intent, with the reason a person can read."""

    intent_id: str
    symbol: str
    decision: Decision
    quantity: NonNegInt
    requested_quantity: NonNegInt
    reason: str
    rule: str = ""


class OrderEvent(Message, frozen=True, tag="order_event"):
    """A change of an order's state (placed, open, partially filled, filled, ...)."""

    order_id: str
    intent_id: str
    symbol: str
    exchange: str
    side: Side
    order_type: OrderType
    product: Product
    quantity: NonNegInt
    filled_quantity: NonNegInt
    price: NonNegFloat
    average_price: NonNegFloat
    status: OrderStatus
    strategy: str = ""
    status_message: str = ""


class Fill(Message, frozen=True, tag="fill"):
    """One execution (a trade) against an order. ``fill_id`` is unique per order."""

    fill_id: str
    order_id: str
    intent_id: str
    symbol: str
    exchange: str
    side: Side
    quantity: PosInt
    price: NonNegFloat
    charges: NonNegFloat = 0.0
    strategy: str = ""


class PositionLine(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    exchange: str
    product: Product
    quantity: int
    avg_price: NonNegFloat
    last_price: NonNegFloat
    realized_pnl: float
    unrealized_pnl: float
    strategy: str = ""
    #: Signed units per strategy; they sum to ``quantity`` (key ``""``: units no strategy owns,
    #: e.g. adopted from the broker). The broker nets per (symbol, product); the platform keeps
    #: each strategy's own position so one strategy's exit is sized to, and allowed by, its own
    #: units. Empty with a non-zero ``quantity``: a message from before the split (SCHEMA 1 still
    #: decodes it; a missing field takes the default).
    by_strategy: dict[str, int] = {}
    #: Options only: implied vol (0.15 = 15%) from the last premium, and the line's Greeks
    #: (delta/gamma in units of the underlying, theta in rupees a day, vega in rupees per vol
    #: point, all times the signed quantity). All 0 for other instruments or when IV is unknown.
    iv: float = 0.0
    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0


class PositionSnapshot(Message, frozen=True, tag="position_snapshot"):
    """The execution service's book: every position, cash and day PnL net of charges."""

    mode: str
    positions: tuple[PositionLine, ...]
    capital: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    charges: float
    day_pnl: float
    symbol_field: ClassVar[str] = "mode"


class Heartbeat(Message, frozen=True, tag="heartbeat"):
    """A service says it is alive, what state it is in, and a few counters."""

    service: str
    pid: int
    state: ServiceState
    detail: str = ""
    counters: dict[str, int] = {}
    symbol_field: ClassVar[str] = "service"


class ControlCommand(Message, frozen=True, tag="control"):
    """An operator command for risk/execution: halt, resume, kill a symbol, square off."""

    command_id: str
    action: ControlAction
    symbol: str = ""
    issued_by: str = ""
    reason: str = ""


class FeedSubscription(Message, frozen=True, tag="feed_subscription"):
    """Ask the feed to start or stop streaming instruments (the options engine's ATM strikes)."""

    action: FeedAction
    requester: str
    instrument_tokens: tuple[PosInt, ...] = ()
    symbols: tuple[str, ...] = ()
    symbol_field: ClassVar[str] = "requester"


class InstrumentsPublished(Message, frozen=True, tag="instruments_published"):
    """The feed wrote the day's instruments master to the key named here."""

    day: str
    key: str
    count: NonNegInt
    symbol_field: ClassVar[str] = "day"


class Alert(Message, frozen=True, tag="alert"):
    """Something a person must look at, e.g. the broker's positions drifting from the journal's."""

    source: str  # the service that raised it
    severity: str  # "warning" or "critical"
    code: str  # machine-readable kind, e.g. "position_drift"
    message: str
    details: dict[str, Any] = {}
    symbol_field: ClassVar[str] = "source"


AnyMessage = (
    Tick
    | Bar
    | Signal
    | OrderIntent
    | RiskDecision
    | OrderEvent
    | Fill
    | PositionSnapshot
    | Heartbeat
    | ControlCommand
    | FeedSubscription
    | InstrumentsPublished
    | Alert
)

MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        Tick,
        Bar,
        Signal,
        OrderIntent,
        RiskDecision,
        OrderEvent,
        Fill,
        PositionSnapshot,
        Heartbeat,
        ControlCommand,
        FeedSubscription,
        InstrumentsPublished,
        Alert,
    )
}

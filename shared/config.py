"""Typed settings: a YAML file (``configs/dev.yaml``) plus environment overrides.

Sections follow the seed (``trading``, ``data``, ``strategy_engine``, ``risk``,
``portfolio``) plus ``redis``, ``dashboard`` and ``services``. Every model forbids unknown
keys, so a misspelt setting stops start-up instead of being ignored.

Environment overrides use ``KITE_ALGO__<SECTION>__<KEY>`` (for example
``KITE_ALGO__DATA__SPEED=max``); ``REDIS_URL`` overrides ``redis.url`` and
``KITE_ALGO_CONFIG`` names the YAML file. A bad file, key, type or value raises
``ConfigError`` with the file, the dotted key and what was expected; ``exit_on_config_error``
turns that into exit code 2 for the command-line entry points.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "dev.yaml"
ENV_PREFIX = "KITE_ALGO__"

Pct = Annotated[float, Field(ge=0, le=1)]


def _speed(v: Any) -> float | str:
    if isinstance(v, str) and v.strip().lower() == "max":
        return "max"
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError("expected a positive number or 'max'") from None
    if not f > 0:
        raise ValueError("expected a positive number or 'max'")
    return f


Speed = Annotated[float | str, BeforeValidator(_speed)]
PosFloat = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EquityUniverseConfig(Section):
    path: str = "configs/universe_equity.csv"
    include_indices: list[Literal["NIFTY50", "NIFTY100"]] = ["NIFTY50", "NIFTY100"]
    min_price: Annotated[float, Field(ge=0)] = 100.0
    max_symbols: Annotated[int, Field(gt=0)] = 120


class TradingConfig(Section):
    mode: Literal["paper", "live"] = "paper"
    fno_universe: list[str] = ["NIFTY", "BANKNIFTY", "FINNIFTY"]
    options_underlyings: list[str] = ["NIFTY", "BANKNIFTY", "FINNIFTY"]
    equity_universe_config: EquityUniverseConfig = EquityUniverseConfig()
    paper_capital: PosFloat = 500_000.0


class DataConfig(Section):
    source: Literal["sim", "replay", "kite"] = "sim"
    # 1 = real time, 60 = a session in 6.25 minutes, "max" = as fast as possible.
    speed: Speed = 1.0
    seed: int = 42
    step_ms: Annotated[int, Field(ge=10, le=60_000)] = 250
    # First simulated session; None = today (IST), or the next trading day.
    start_date: date | None = None
    # Sessions to run before the feed stops; 0 = keep rolling day after day.
    days: Annotated[int, Field(ge=0)] = 0
    replay_path: str | None = None
    replay_kind: Literal["ticks", "candles"] = "candles"
    # Options strikes streamed by default around ATM before any engine asks (sim only).
    option_strikes_each_side: Annotated[int, Field(ge=0, le=100)] = 20
    publish_batch: Annotated[int, Field(ge=1, le=10_000)] = 500


class StrategySpec(Section):
    name: str
    timeframe: Literal["1m", "5m", "15m"] = "5m"
    priority: int = 0
    params: dict[str, float | int | str | bool] = {}


class StrategyEngineConfig(Section):
    enabled: bool = True
    conflict_resolution: Literal["highest_confidence", "priority", "net_out"] = "highest_confidence"
    engines: dict[Literal["fno", "options", "equity"], list[StrategySpec]] = {}


class GreeksRiskConfig(Section):
    """Limits on the portfolio's net Greeks per underlying, and the option-selling margin."""

    # |net delta| in units of the underlying (a future counts 1 per unit); absent = no limit.
    max_abs_delta: dict[str, PosFloat] = {}
    # |net vega| in rupees per vol point; absent = no limit.
    max_abs_vega: dict[str, PosFloat] = {}
    # SPAN-like scenarios: the underlying moves +/- this fraction (and 1/3, 2/3 of it)...
    price_scan_pct: Annotated[float, Field(gt=0, le=0.5)] = 0.06
    # ... with implied vols up and down by this many vol points (absolute, 0.04 = 4 points).
    vol_scan: Annotated[float, Field(ge=0, le=1)] = 0.04
    # Plus an exposure margin on short options: this fraction of their notional (units x forward).
    short_option_exposure_pct: Annotated[float, Field(ge=0, le=0.5)] = 0.02
    # Option entries are blocked when the option margin would exceed this fraction of equity.
    max_margin_pct: Annotated[float, Field(gt=0, le=1)] = 1.0


class RiskConfig(Section):
    max_daily_loss: PosFloat = 25_000.0
    max_positions_total: Annotated[int, Field(gt=0)] = 10
    max_trades_per_symbol_per_day: Annotated[int, Field(gt=0)] = 6
    per_symbol_max_loss: PosFloat = 5_000.0
    max_orders_per_minute: Annotated[int, Field(gt=0)] = 60
    stale_data_seconds: PosFloat = 10.0
    greeks: GreeksRiskConfig = GreeksRiskConfig()


class PortfolioConfig(Section):
    risk_per_trade_pct: Pct = 0.01
    max_leverage: PosFloat = 2.0
    max_exposure_pct: Pct = 0.8
    strategy_budgets: dict[str, Pct] = {}
    # A future ties up margin, not its notional: NRML/MIS SPAN + exposure margin of an index
    # future is about 12-15% of the contract value (Zerodha's margin calculator).
    futures_margin_pct: Annotated[float, Field(gt=0, le=1)] = 0.15


class PaperConfig(Section):
    """How the paper broker fills (docs/paper-broker.md)."""

    # next_tick: a MARKET order fills on the first tick of its instrument at or after the
    # order (conservative: the price may have moved). last_quote: it fills on arrival against
    # the freshest quote not older than the intent (what an exchange does within a
    # millisecond; Kite quotes arrive about once a second).
    fill_timing: Literal["next_tick", "last_quote"] = "next_tick"
    # Extra ticks against the trader on every MARKET / SL-M fill.
    slippage_ticks: Annotated[int, Field(ge=0, le=100)] = 0


class RedisConfig(Section):
    url: str = "redis://127.0.0.1:6379/0"

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v


class DashboardConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 8765
    # DASHBOARD_TOKEN in the environment wins; else the DASHBOARD_TOKEN line of this file.
    secrets_file: str = "secrets/kite_tokens.env"
    # What the dashboard keeps in memory (newest first); older history stays in the journals.
    max_orders: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    max_signals: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    max_trades: Annotated[int, Field(ge=100, le=1_000_000)] = 50_000
    max_bars_per_series: Annotated[int, Field(ge=50, le=100_000)] = 1_500
    max_series: Annotated[int, Field(ge=1, le=10_000)] = 400
    equity_points: Annotated[int, Field(ge=100, le=1_000_000)] = 5_000
    # Events waiting for one browser; a client slower than this is dropped (it reconnects and reloads).
    client_queue: Annotated[int, Field(ge=10, le=100_000)] = 2_000


class ServicesConfig(Section):
    artifacts_dir: str = "artifacts"
    heartbeat_seconds: PosFloat = 2.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


TickerMode = Literal["ltp", "quote", "full"]


class KiteConfig(Section):
    """Kite Connect: where the API is (the sandbox's address for tests and demos) and the feed's limits."""

    api_key: str = ""
    api_root: str = "https://api.kite.trade"
    ws_root: str = "wss://ws.kite.trade"
    # Written by ``--login`` (mode 600): KITE_API_KEY, KITE_ACCESS_TOKEN; never logged.
    tokens_file: str = "secrets/kite_tokens.env"
    request_timeout_seconds: PosFloat = 7.0
    # Kite allows 3 ticker connections per api key and 3,000 instruments on each.
    tokens_per_connection: Annotated[int, Field(ge=1, le=3000)] = 3000
    max_connections: Annotated[int, Field(ge=1, le=3)] = 3
    # pykiteconnect sends no pings: a connection silent this long is dropped and reconnected.
    stale_seconds: PosFloat = 10.0
    reconnect_max_delay_seconds: Annotated[int, Field(ge=5, le=300)] = 60
    # After a reconnect, the whole minutes missed are back-filled from historical_data for at
    # most this many instruments of the connection (futures first; 0 = off), paced to Kite's
    # historical limit (3 requests/s). That connection's live ticks wait for it, at most
    # backfill_timeout_seconds (then they flow, the gap is logged and alerted); a gap is
    # planned backfill_settle_seconds after the first tick back, once Kite has the last minute.
    backfill_max_instruments: Annotated[int, Field(ge=0, le=3000)] = 30
    historical_per_second: Annotated[int, Field(ge=1, le=3)] = 3
    backfill_timeout_seconds: PosFloat = 15.0
    backfill_settle_seconds: Annotated[float, Field(ge=0)] = 1.0
    default_mode: TickerMode = "full"
    # Ticker mode by instruments-master segment (NSE, NFO-FUT, NFO-OPT, INDICES), else default_mode.
    segment_modes: dict[str, TickerMode] = {}
    # Futures expiries streamed per underlying of trading.fno_universe (nearest first).
    futures_expiries: Annotated[int, Field(ge=1, le=3)] = 2
    # Live orders: market protection sent on MARKET / SL-M (-1 = Kite's automatic slabs).
    market_protection: Annotated[float, Field(ge=-1, le=100)] = -1
    # Kite allows 10 orders/s and 400/min per account; stay below.
    orders_per_second: Annotated[int, Field(ge=1, le=10)] = 8
    orders_per_minute: Annotated[int, Field(ge=1, le=400)] = 350
    # The order book is polled this often as the fallback to the socket's order updates.
    poll_seconds: PosFloat = 2.0
    order_updates_socket: bool = True
    # After an ambiguous order call, wait this long before looking the tag up in the book.
    lookup_delay_seconds: Annotated[float, Field(ge=0)] = 0.5
    # ``--login``: the page that asks for the password (the sandbox serves its own), and the local
    # port Kite redirects to (the app's registered redirect URL must be http://127.0.0.1:<port>/).
    login_url: str = "https://kite.zerodha.com/connect/login"
    redirect_port: Annotated[int, Field(gt=0, lt=65536)] = 5000
    login_timeout_seconds: PosFloat = 300.0
    # Live: broker positions vs the journal's, at start-up and then this often (wall seconds);
    # drift seen twice in a row is an alert, then ``halt`` (stop trading) or ``adopt`` (take Kite's view).
    reconcile_seconds: PosFloat = 5.0
    drift_policy: Literal["halt", "adopt"] = "halt"


HhMm = Annotated[str, Field(pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")]


class OptionsConfig(Section):
    """The options engine (``services.options``) and the option pricing shared with risk."""

    # Strikes streamed on each side of ATM (CE and PE); the engine asks the feed for them.
    strikes_each_side: Annotated[int, Field(ge=0, le=50)] = 3
    # ATM moves only once spot is this fraction of a strike gap past the midpoint (no flip-flop on noise).
    atm_hysteresis: Annotated[float, Field(ge=0, le=0.5)] = 0.25
    # On an expiry day, from this IST time the next expiry is traded.
    expiry_roll_cutoff: HhMm = "13:00"
    # The index level (ticks.INDICES) is the spot while at most this old in event time; older (or
    # no index ticks) -> the current future's LTP. 0: never the index. Index ticks come about
    # once a second (Kite, the simulator): 10 s is ten missed ticks, not noise.
    spot_max_age_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    # Lots per order by underlying (default_lots for the others); sizes come from the master.
    lots: dict[str, Annotated[int, Field(gt=0)]] = {}
    default_lots: Annotated[int, Field(gt=0)] = 1
    # Units per order (NSE quantity freeze, from 1 Feb 2026); larger orders are split.
    freeze_limits: dict[str, Annotated[int, Field(gt=0)]] = {"NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800}
    # Annual, continuously compounded: Black-76 discounting and the future -> weekly forward carry
    # (the simulator's futures carry at 6%).
    rate: Annotated[float, Field(ge=0, le=0.5)] = 0.06


class BacktestConfig(Section):
    """``python -m scripts.run_trader backtest`` (docs/backtesting.md)."""

    # A folder in the replay layout: instruments.csv + candles/<EXCHANGE>/<SYMBOL>.csv|.parquet
    data_path: str = "data/history"
    output_dir: str = "artifacts/backtest"
    start: date | None = None  # None: from the first candle
    end: date | None = None  # None: to the last candle
    symbols: list[str] = ["NIFTY", "RELIANCE"]  # index names trade their current future; others NSE stocks
    strategies: list[str] = []  # strategy names to keep from strategy_engine.engines; [] = all configured
    # next_tick: an order fills on the tick after the one that decided it (as the services do);
    # same_tick: on the deciding tick (a bar strategy then fills at the next bar's open)
    fill_timing: Literal["next_tick", "same_tick"] = "next_tick"
    # auto: the bar path (shared/backtest/bars.py) for 1-minute candles when every strategy opts in,
    # else every tick; bars / ticks force one (docs/backtesting.md, "Two paths")
    path: Literal["auto", "bars", "ticks"] = "auto"
    progress: bool = True
    # Parameter grid for sweeps: "<strategy>.<param>" -> values (run_trader backtest --sweep)
    sweep: dict[str, list[float | int | str | bool]] = {}
    sweep_rank_by: str = "sharpe"
    sweep_workers: Annotated[int, Field(ge=0)] = 0  # 0 = one per core


class Settings(BaseSettings):
    """The whole configuration. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    trading: TradingConfig = TradingConfig()
    data: DataConfig = DataConfig()
    strategy_engine: StrategyEngineConfig = StrategyEngineConfig()
    risk: RiskConfig = RiskConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    paper: PaperConfig = PaperConfig()
    redis: RedisConfig = RedisConfig()
    dashboard: DashboardConfig = DashboardConfig()
    services: ServicesConfig = ServicesConfig()
    kite: KiteConfig = KiteConfig()
    options: OptionsConfig = OptionsConfig()
    backtest: BacktestConfig = BacktestConfig()

    #: The file these settings came from (not a setting).
    source_file: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file (passed as init kwargs).
        return env_settings, init_settings

    @property
    def artifacts(self) -> Path:
        p = Path(self.services.artifacts_dir)
        return p if p.is_absolute() else Path.cwd() / p


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def _describe(err: dict[str, Any], path: Path) -> str:
    key = ".".join(str(p) for p in err["loc"])
    env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
    where = f"environment variable {env_name}" if env_name in {k.upper() for k in os.environ} else str(path)
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key '{key}' (misspelt? see docs/configuration.md)"
    got = err.get("input")
    got_text = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{where}: key '{key}': {err['msg']}{got_text}"


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from ``path`` (default ``$KITE_ALGO_CONFIG`` or configs/dev.yaml) and the environment."""
    cfg_path = Path(path or os.environ.get("KITE_ALGO_CONFIG") or DEFAULT_CONFIG)
    data = _read_yaml(cfg_path)
    if "source_file" in data:
        raise ConfigError(f"{cfg_path}: unknown key 'source_file'")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        data.setdefault("redis", {})
        if isinstance(data["redis"], dict):
            data["redis"] = {**data["redis"], "url": redis_url}
    try:
        return Settings(**data, source_file=str(cfg_path))
    except ValidationError as exc:
        lines = [_describe(e, cfg_path) for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


T = TypeVar("T")


def exit_on_config_error(fn: Callable[[], T]) -> T:
    """Run ``fn``; on ``ConfigError`` print it to stderr and exit with code 2."""
    try:
        return fn()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(ConfigError.exit_code) from None

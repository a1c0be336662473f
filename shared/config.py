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


class RiskConfig(Section):
    max_daily_loss: PosFloat = 25_000.0
    max_positions_total: Annotated[int, Field(gt=0)] = 10
    max_trades_per_symbol_per_day: Annotated[int, Field(gt=0)] = 6
    per_symbol_max_loss: PosFloat = 5_000.0
    max_orders_per_minute: Annotated[int, Field(gt=0)] = 60
    stale_data_seconds: PosFloat = 10.0


class PortfolioConfig(Section):
    risk_per_trade_pct: Pct = 0.01
    max_leverage: PosFloat = 2.0
    max_exposure_pct: Pct = 0.8
    strategy_budgets: dict[str, Pct] = {}
    # A future ties up margin, not its notional: NRML/MIS SPAN + exposure margin of an index
    # future is about 12-15% of the contract value (Zerodha's margin calculator).
    futures_margin_pct: Annotated[float, Field(gt=0, le=1)] = 0.15


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


class ServicesConfig(Section):
    artifacts_dir: str = "artifacts"
    heartbeat_seconds: PosFloat = 2.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


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
    redis: RedisConfig = RedisConfig()
    dashboard: DashboardConfig = DashboardConfig()
    services: ServicesConfig = ServicesConfig()
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

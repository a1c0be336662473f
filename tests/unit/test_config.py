"""Settings: YAML + environment, and start-up errors that name the file, key and expectation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import DEFAULT_CONFIG, load_settings
from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("KITE_ALGO") or key == "REDIS_URL":
            monkeypatch.delenv(key)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_shipped_configs_load() -> None:
    dev = load_settings(DEFAULT_CONFIG)
    live = load_settings(ROOT / "configs" / "live.yaml")
    assert dev.trading.mode == "paper" and dev.data.source == "sim"
    assert live.trading.mode == "live" and live.data.source == "kite"
    assert dev.dashboard.host == "127.0.0.1"  # localhost by default (DESIGN.md §8)


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "data: {speed: 60, seed: 7}\n")
    monkeypatch.setenv("KITE_ALGO__DATA__SPEED", "max")
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.1:6380/2")
    s = load_settings(path)
    assert s.data.speed == "max" and s.data.seed == 7
    assert s.redis.url == "redis://10.0.0.1:6380/2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {sede: 3}\n", "unknown key 'data.sede'"),
        ("risk: {max_daily_loss: -5}\n", "key 'risk.max_daily_loss': Input should be greater than 0, got -5"),
        ("data: {speed: fast}\n", "key 'data.speed': Value error, expected a positive number or 'max', got 'fast'"),
        ("trading: {mode: yolo}\n", "key 'trading.mode'"),
        ("redis: {url: 'http://x'}\n", "must start with redis://"),
        ("- a list\n", "expected a mapping of sections"),
        ("data: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_bad_environment_override_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITE_ALGO__DATA__SEED", "abc")
    with pytest.raises(ConfigError, match=re.escape("environment variable KITE_ALGO__DATA__SEED: key 'data.seed'")):
        load_settings(_write(tmp_path, ""))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_service_start_up_with_bad_config_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "risk: {max_positions_total: many}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "services.feed", "--config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "risk.max_positions_total" in proc.stderr and str(path) in proc.stderr

"""Kite credentials and clients: the tokens file (mode 600), ``KiteConnect`` pointed at ``kite.api_root``.

The access token is a secret: it lives only in ``kite.tokens_file`` (or ``KITE_ACCESS_TOKEN`` in
the environment) and is never logged or published; ``Credentials`` hides it from ``repr``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kiteconnect import KiteConnect

from shared.config import Settings
from shared.errors import ConfigError

API_KEY_VAR = "KITE_API_KEY"
ACCESS_TOKEN_VAR = "KITE_ACCESS_TOKEN"


@dataclass(frozen=True)
class Credentials:
    api_key: str
    access_token: str = field(repr=False)


def tokens_path(settings: Settings) -> Path:
    p = Path(settings.kite.tokens_file)
    return p if p.is_absolute() else Path.cwd() / p


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{n}: expected KEY=value")
        values[key.strip()] = value.strip()
    return values


def load_credentials(settings: Settings) -> Credentials:
    """The api key and access token: environment first, then the tokens file; ConfigError says what is missing."""
    path = tokens_path(settings)
    values = _read_env_file(path) if path.exists() else {}
    api_key = os.environ.get(API_KEY_VAR) or values.get(API_KEY_VAR) or settings.kite.api_key
    token = os.environ.get(ACCESS_TOKEN_VAR) or values.get(ACCESS_TOKEN_VAR, "")
    if not api_key or not token:
        missing = " and ".join(n for n, v in ((API_KEY_VAR, api_key), (ACCESS_TOKEN_VAR, token)) if not v)
        raise ConfigError(
            f"Kite credentials: {missing} not set (looked in the environment and {path}); "
            "log in first: python -m scripts.run_trader paper --login"
        )
    return Credentials(api_key, token)


def write_tokens(path: Path, api_key: str, access_token: str) -> None:
    """Write the tokens file with mode 600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(f"{API_KEY_VAR}={api_key}\n{ACCESS_TOKEN_VAR}={access_token}\n")
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
    os.replace(tmp, path)


def client(settings: Settings, creds: Credentials) -> KiteConnect:
    return KiteConnect(
        creds.api_key, access_token=creds.access_token, root=settings.kite.api_root,
        timeout=settings.kite.request_timeout_seconds,
    )  # fmt: skip

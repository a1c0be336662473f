"""``run_trader --login`` against the sandbox: URL printed, redirect caught, token file written with mode 600."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox.kite.runner import SandboxThread
from tests.conftest import ROOT
from tests.sandbox.conftest import login, sandbox_config

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_login_flow_writes_the_tokens_file_and_never_prints_the_token(tmp_path: Path) -> None:
    port = free_port()
    sb = SandboxThread(sandbox_config(redirect_url=f"http://127.0.0.1:{port}/")).start()
    try:
        cfg = sb.sandbox.cfg
        tokens = tmp_path / "secrets" / "kite_tokens.env"
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "KITE_API_SECRET": cfg.api_secret,
            "KITE_ALGO__KITE__API_KEY": cfg.api_key, "KITE_ALGO__KITE__API_ROOT": sb.root,
            "KITE_ALGO__KITE__LOGIN_URL": sb.root + "/connect/login", "KITE_ALGO__KITE__REDIRECT_PORT": str(port),
            "KITE_ALGO__KITE__TOKENS_FILE": str(tokens), "KITE_ALGO__KITE__LOGIN_TIMEOUT_SECONDS": "30",
        }  # fmt: skip
        env.pop("KITE_ALGO_CONFIG", None)
        proc = subprocess.Popen([sys.executable, "-m", "scripts.run_trader", "paper", "--login"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "Open this URL" in first, first + (proc.stderr.read() if proc.stderr else "")
        url = first.split(": ", 1)[1].strip()
        assert proc.stdout.readline().startswith("Waiting for the redirect")
        # the "browser": the sandbox's login page redirects to the local catcher with a request token
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "logged in" in page.text
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        values = dict(line.split("=", 1) for line in tokens.read_text().splitlines())
        token = values["KITE_ACCESS_TOKEN"]
        assert values["KITE_API_KEY"] == cfg.api_key and token
        assert token not in first + out + err  # printed nowhere
        sb.call(sb.sandbox.account.check_token, cfg.api_key, token)  # the written token works
        assert login(sb).profile()["user_id"] == cfg.user_id
    finally:
        sb.stop()

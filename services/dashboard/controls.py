"""Operator controls: check the token, journal the action, publish a ``ControlCommand`` on ``control``.

The dashboard never touches an order: risk applies HALT / RESUME / KILL_SYMBOL /
REVIVE_SYMBOL, execution applies SQUARE_OFF_ALL and CANCEL_ALL. The token is
``DASHBOARD_TOKEN`` from the environment, else the ``DASHBOARD_TOKEN=`` line of the
secrets file (``dashboard.secrets_file``). Without a configured token every control answers
401. Each request, granted or refused, is appended to ``logs/dashboard_actions.jsonl`` with
who (operator name, client address) and when (wall time; plus the market time shown).
"""

from __future__ import annotations

import hmac
import logging
import os
import uuid
from pathlib import Path
from typing import Final

from dotenv import dotenv_values

from services.dashboard.schemas import ControlResult
from services.dashboard.store import ist_text
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.config import Settings
from shared.contracts import ControlCommand
from shared.enums import ControlAction
from shared.state.appendfile import JournalLockedError
from shared.state.journal import EventLog

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "DASHBOARD_TOKEN"
ACTIONS_LOG: Final = Path("logs") / "dashboard_actions.jsonl"


def load_token(settings: Settings) -> str | None:
    """The control token: ``$DASHBOARD_TOKEN``, else the secrets file's line; None when neither is set."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    path = Path(settings.dashboard.secrets_file)
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_file():
        try:
            value = dotenv_values(path).get(TOKEN_ENV) or ""
        except (OSError, UnicodeDecodeError) as exc:
            log.error("cannot read %s: %s", path, exc)
            return None
        return value.strip() or None
    return None


class ControlDesk:
    """Authorises, journals and publishes operator commands."""

    def __init__(self, bus: Bus, artifacts: Path, token: str | None) -> None:
        self.bus = bus
        self.token = token
        self.journal: EventLog | None = None
        self.journal_error = ""
        try:
            self.journal = EventLog(artifacts / ACTIONS_LOG, durable=True)
        except (JournalLockedError, OSError) as exc:
            # Unjournaled actions are not allowed: controls answer 503 until this is fixed.
            self.journal_error = f"action journal unavailable: {exc}"
            log.error("%s; controls are disabled", self.journal_error)
        if token is None:
            log.warning("no %s configured (environment or the secrets file): controls answer 401", TOKEN_ENV)

    def authorised(self, presented: str | None) -> bool:
        if not self.token or not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def refuse(self, action: str, client: str, operator: str, why: str) -> None:
        """Journal a refused request (who tried what, and when)."""
        if self.journal is not None:
            self.journal.append("control_refused", wall_ns(), action=action, client=client, operator=operator,
                                why=why)  # fmt: skip

    def issue(
        self, action: ControlAction, *, symbol: str = "", reason: str = "", operator: str = "", client: str = "",
        market_ns: int = 0,
    ) -> ControlResult:  # fmt: skip
        """Journal, then publish; returns what was sent. The journal line comes first: no unrecorded action."""
        assert self.journal is not None
        now = wall_ns()
        command_id = f"dash-{uuid.uuid4().hex[:16]}"
        issued_by = f"dashboard:{operator or 'operator'}@{client or 'unknown'}"
        cmd = ControlCommand(
            ts_event=now, ts_init=now, command_id=command_id, action=action, symbol=symbol, issued_by=issued_by,
            reason=reason,
        )  # fmt: skip
        self.journal.append("control", now, command_id=command_id, action=action.value, symbol=symbol,
                            operator=operator, client=client, reason=reason, market_ns=market_ns)  # fmt: skip
        entry = self.bus.publish(streams.CONTROL, cmd)
        entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
        self.journal.append("control_published", wall_ns(), command_id=command_id, entry_id=entry_id)
        log.warning("control %s %s by %s (%s): entry %s", action.value, symbol, issued_by, reason, entry_id)
        return ControlResult(command_id=command_id, action=action.value, symbol=symbol, issued_by=issued_by,
                             issued_at=ist_text(now), entry_id=entry_id)  # fmt: skip

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

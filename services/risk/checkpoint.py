"""The risk state checkpoint: ``artifacts/checkpoints/risk_state_latest.json``.

One JSON object (``encode_state``), written atomically by ``shared.state.checkpoint.store_checkpoint`` (the
previous good file becomes ``.bak``)::

    {"kind": "risk_state", "schema_version": 1, "event_time": "2026-11-25T04:01:10Z",
     "event_time_ns": ..., "day": "2026-11-25", "halted": false, "halt_reason": "",
     "state": {... RiskState.snapshot() ...}}

The summary keys are for people and the dashboard; ``state`` is what a restart restores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from shared.clock import ns_to_iso_utc
from shared.risk import RiskState
from shared.state.checkpoint import CheckpointError, encode_checkpoint, read_checkpoint_or_backup

FILE_NAME: Final = "risk_state_latest.json"
KIND: Final = "risk_state"
SCHEMA_VERSION: Final = 1


def checkpoint_path(artifacts: Path) -> Path:
    """Where the risk service keeps its checkpoint under ``artifacts``."""
    return artifacts / "checkpoints" / FILE_NAME


def encode_state(path: Path, state: RiskState, now_ns: int) -> bytes:
    """The checkpoint bytes of ``state`` (as of event time ``now_ns``), for ``store_checkpoint``."""
    return encode_checkpoint(
        path,
        {
            "kind": KIND,
            "schema_version": SCHEMA_VERSION,
            "event_time": ns_to_iso_utc(now_ns) if now_ns else "",
            "event_time_ns": now_ns,
            "day": state.day,
            "halted": state.halted,
            "halt_reason": state.halt_reason,
            "state": state.snapshot(),
        },
    )


def load_state(path: Path) -> RiskState | None:
    """The state saved at ``path`` (or its ``.bak`` when the file is corrupt); None when there is none.

    Raises ``CheckpointError`` naming the file when neither is usable: the service must not
    start with a blank memory of today's trades, halts and kills.
    """
    data, used = read_checkpoint_or_backup(path)
    if data is None or used is None:
        return None
    if data.get("kind") != KIND or not isinstance(data.get("state"), dict):
        raise CheckpointError(f"{used}: not a risk state checkpoint (expected kind {KIND!r} and a 'state' object)")
    try:
        return RiskState.restore(data["state"])
    except ValueError as exc:
        raise CheckpointError(f"{used}: key 'state': {exc}") from None

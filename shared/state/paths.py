"""Where the state files live inside an artifacts directory (the seed's layout).

::

    <artifacts>/checkpoints/{paper,live,runtime}_state_latest.json
    <artifacts>/orders.csv  signals.csv  pnl.csv
    <artifacts>/scanner/YYYY-MM-DD/universe.json
    <artifacts>/logs/events.jsonl
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from shared.config import Settings

CheckpointKind = Literal["paper", "live", "runtime"]
CHECKPOINT_KINDS: Final[tuple[CheckpointKind, ...]] = ("paper", "live", "runtime")


@dataclass(frozen=True, slots=True)
class StatePaths:
    """The state files under one artifacts directory. Nothing is created until written."""

    artifacts: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StatePaths:
        """The layout under ``settings.artifacts`` (``services.artifacts_dir``)."""
        return cls(settings.artifacts)

    @property
    def checkpoints_dir(self) -> Path:
        return self.artifacts / "checkpoints"

    def checkpoint(self, kind: str) -> Path:
        """``checkpoints/<kind>_state_latest.json`` for kind ``paper``, ``live`` or ``runtime``."""
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"checkpoint kind {kind!r}; expected one of {', '.join(CHECKPOINT_KINDS)}")
        return self.checkpoints_dir / f"{kind}_state_latest.json"

    @property
    def orders_csv(self) -> Path:
        return self.artifacts / "orders.csv"

    @property
    def signals_csv(self) -> Path:
        return self.artifacts / "signals.csv"

    @property
    def pnl_csv(self) -> Path:
        return self.artifacts / "pnl.csv"

    @property
    def events_log(self) -> Path:
        return self.artifacts / "logs" / "events.jsonl"

    def scanner_dir(self, day: date) -> Path:
        return self.artifacts / "scanner" / day.isoformat()

    def universe_json(self, day: date) -> Path:
        """``scanner/YYYY-MM-DD/universe.json`` of an IST trading day."""
        return self.scanner_dir(day) / "universe.json"

"""Kite's error envelope: every error body carries ``status``, ``message``, ``error_type`` and ``data``.

pykiteconnect raises ``getattr(kiteconnect.exceptions, error_type, GeneralException)``, so the
``error_type`` spelling is the contract; a body without it crashes the client.
"""

from __future__ import annotations

from typing import Any, Final

TOKEN: Final = "TokenException"
INPUT: Final = "InputException"
ORDER: Final = "OrderException"
NETWORK: Final = "NetworkException"
GENERAL: Final = "GeneralException"
DATA: Final = "DataException"


class KiteError(Exception):
    """An API error as Kite reports it: HTTP status, ``error_type`` and the message."""

    def __init__(self, http_status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"status": "error", "message": self.message, "error_type": self.error_type, "data": None}


def input_error(message: str) -> KiteError:
    return KiteError(400, INPUT, message)


def token_error(message: str = "Token is invalid or has expired.") -> KiteError:
    return KiteError(403, TOKEN, message)


def too_many_requests() -> KiteError:
    # Kite answers a rate-limit breach with 429 and error_type NetworkException
    return KiteError(429, NETWORK, "Too many requests")

"""Errors that carry enough context for a person to act on them."""

from __future__ import annotations


class KiteAlgoError(Exception):
    """Base of the project's errors."""


class ConfigError(KiteAlgoError):
    """A configuration file or environment variable is wrong. Start-up exits with code 2."""

    exit_code = 2


class DecodeError(KiteAlgoError):
    """A stream entry could not be decoded or validated; it goes to ``deadletter``."""


class InstrumentError(KiteAlgoError):
    """An instrument could not be found or resolved in the master."""


class DataError(KiteAlgoError):
    """Bad input data (a CSV row, a replay file); the message names file and line."""

"""Exceptions raised by cocalc_api_tests.

Every error this package raises on purpose derives from :class:`CoCalcError`, so a
caller can catch them all at once.  :class:`CoCalcAPIError` is also a
:class:`RuntimeError`, the type CoCalc's own Python client raises for an
``{"error": ...}`` answer.
"""
from typing import Any, Optional


class CoCalcError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(CoCalcError, ValueError):
    """The environment does not describe a usable configuration."""


class CoCalcAPIError(CoCalcError, RuntimeError):
    """The server answered a call with ``{"error": "..."}``.

    ``str(err)`` is the server's text, unchanged; ``err.call`` names the call
    (``"org.get"``) and ``err.args_sent`` holds the arguments that were sent.
    """

    def __init__(self, message: str, call: str = "", args_sent: Optional[list] = None):
        super().__init__(message)
        self.message = message
        self.call = call
        self.args_sent = args_sent if args_sent is not None else []

    def describe(self) -> str:
        """A one-line account of the call and the server's answer."""
        return f"{self.call}({_brief(self.args_sent)}) -> error {self.message!r}"


class CoCalcConnectionError(CoCalcError, ConnectionError):
    """The HTTP request itself failed (no connection, timeout, non-200 status, non-JSON body)."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class DatabaseError(CoCalcError):
    """The cleanup database cannot be reached or does not have the expected tables."""


def _brief(args: Any, limit: int = 300) -> str:
    text = repr(args)[1:-1] if isinstance(args, list) else repr(args)
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Exceptions raised by cocalc_api_tests.

Every error this package raises on purpose derives from :class:`CoCalcError`, so a
caller can catch them all at once.  :class:`CoCalcAPIError` is also a
:class:`RuntimeError`, the type CoCalc's own Python client raises for an
``{"error": ...}`` answer.
"""
import re
from typing import Any, Optional

#: How CoCalc words an answer that did not come in time: the hub's bare ``timeout`` (a
#: cold Jupyter kernel), the bridges' ``timeout - callHub: ... code='408' `` (project
#: endpoint) and ``timeout - Error: operation has timed out - callHub: ...`` (hub
#: endpoint), and ``code='503'`` (nobody listening yet, e.g. a project still starting).
_TRANSIENT = re.compile(r"^timeout$|^timeout - |operation has timed out|code='(408|503)'")


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

    @property
    def transient(self) -> bool:
        """The answer says the call ran out of time (or found nobody yet), not that it was refused."""
        return bool(_TRANSIENT.search(self.message.strip()))


class CoCalcConnectionError(CoCalcError, ConnectionError):
    """The HTTP request itself failed (no connection, timeout, non-200 status, non-JSON body)."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class DatabaseError(CoCalcError):
    """The cleanup database cannot be reached or does not have the expected tables."""


def is_transient(error: BaseException) -> bool:
    """Whether *error* may go away if the call is made again (a timeout, a lost connection).

    A refusal (``Error: ...``, a bad key) is permanent: retrying it only hides it.
    """
    if isinstance(error, CoCalcConnectionError):
        return True
    return isinstance(error, CoCalcAPIError) and error.transient


def redact(text: str, *secrets: Optional[str]) -> str:
    """*text* with every non-empty secret replaced by ``<redacted>``, longest first.

    >>> redact("key sk-abc refused", "sk-abc")
    'key <redacted> refused'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


def _brief(args: Any, limit: int = 300) -> str:
    text = repr(args)[1:-1] if isinstance(args, list) else repr(args)
    return text if len(text) <= limit else text[: limit - 3] + "..."

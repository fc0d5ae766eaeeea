"""Exceptions raised by cocalc_api_tests.

Every error this package raises on purpose derives from :class:`CoCalcError`, so a
caller can catch them all at once.  :class:`CoCalcAPIError` is also a
:class:`RuntimeError`, the type CoCalc's own Python client raises for an
``{"error": ...}`` answer.
"""
import re
from typing import Any, Optional

from .text import brief

#: How CoCalc words an answer that did not come in time, matched where CoCalc puts it: the
#: hub's bare ``timeout`` (a cold Jupyter kernel), and the suffix both bridges append to a
#: conat error (``server/api/hub-bridge.ts``, ``project-bridge.ts``) when its code is 408
#: (``timeout - callHub: subject='…', name='…', code='408' ``) or 503 (nobody listening
#: yet, e.g. a project still starting); and, as a whole answer, the wait of CoCalc's ``once``
#: (``util/async-utils.ts``: ``once: timeout of 30000ms waiting for "ready"``, a document a
#: busy project is slow to open, e.g. ``sync.history``).  Anywhere else in a message (an
#: exec's stderr) the same words mean nothing.
_TRANSIENT = re.compile(
    r"\Atimeout\Z|- callHub: subject='[^']*', name='[^']*', code='(408|503)' \Z"
    r'|\A(Error: )?once: timeout of \d+ms waiting for "[^"]*"\Z'
)


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
        sent = repr(self.args_sent)[1:-1] if isinstance(self.args_sent, list) else repr(self.args_sent)
        return f"{self.call}({brief(sent, 300)}) -> error {self.message!r}"

    @property
    def transient(self) -> bool:
        """The answer says the call ran out of time (or found nobody yet), not that it was refused."""
        return bool(_TRANSIENT.search(self.message))


class KeyRefused(CoCalcAPIError):
    """The server refused ``COCALC_API_KEY``; :attr:`answer` is what it said."""

    def __init__(self, message: str, answer: str):
        super().__init__(message, "system.test")
        self.answer = answer


class ActorError(CoCalcAPIError):
    """Making the authorization tests' actors failed; the message names the step and the server's answer."""


class CoCalcConnectionError(CoCalcError, ConnectionError):
    """The HTTP request itself failed (no connection, timeout, non-200 status, non-JSON body).

    :attr:`transient` is true only for what a busy server causes: a refused, reset or
    timed-out connection, HTTP 502, 503 or 504.  An HTTP 500 or a body that is not JSON
    is a broken server, not a busy one.
    """

    def __init__(self, message: str, url: str, transient: bool = False):
        super().__init__(message)
        self.url = url
        self.transient = transient


class StillTransient(CoCalcError):
    """A retried call ran out of budget while every answer was transient.

    :attr:`attempts` (a :class:`~cocalc_api_tests.poll.Attempts`) names every wait.
    """

    def __init__(self, attempts: Any, last: CoCalcError):
        super().__init__(f"{attempts.what} did not answer within the retry budget ({attempts.describe()}); last answer: {last}")
        self.attempts = attempts
        self.last = last


class NotSettled(StillTransient):
    """A call that changes state answered a timeout, and the change was not seen done in time either.

    :attr:`attempts` names the call's wait and the wait for its state; :attr:`last` is the
    call's answer, or the last state seen.
    """

    def __init__(self, attempts: Any, last: CoCalcError, state: str):
        CoCalcError.__init__(
            self, f"{attempts.what} answered a timeout and its change was not seen done ({attempts.describe()}); "
            f"the call answered: {last}; {state}"
        )
        self.attempts = attempts
        self.last = last


class RunEnding(CoCalcError):
    """A creating call was attempted after the run's cleanup had begun."""


class AdminSignalsDisagree(CoCalcError):
    """The server's two answers to "is this key a site admin's?" contradict each other."""


class DatabaseError(CoCalcError):
    """The cleanup database cannot be reached or does not have the expected tables."""


def is_transient(error: BaseException) -> bool:
    """Whether *error* is what a busy server answers, so that the same call may succeed later.

    A refusal (``Error: ...``, a bad key), an HTTP 500 or a malformed answer is
    permanent: retrying it only hides it.
    """
    return isinstance(error, (CoCalcConnectionError, CoCalcAPIError)) and error.transient

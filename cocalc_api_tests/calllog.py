"""The run's record of slow and retried calls, so a slow server is visible instead of hidden.

The client reports every call it makes (:meth:`CallLog.observe`); a retry loop
reports its attempts (:meth:`CallLog.attempts`).  What needed retries or took
longer than :data:`SLOW` seconds is kept, with the test that made it::

    log = CallLog()
    with log.test("test_jupyter.TestExecuteViaProject.test_sum"):
        ...                      # calls made here are attributed to that test
    for line in log.lines():
        print(line)              # system.jupyterExecute  test_jupyter...test_sum  3 attempts  182.4 s
"""
import contextlib
import contextvars
import threading
from dataclasses import dataclass
from typing import Iterator, List, Optional

from .poll import Attempts
from .text import brief

#: A call that took longer than this many seconds is reported.
SLOW = 10.0

_current_test: contextvars.ContextVar[str] = contextvars.ContextVar("cocalc_api_tests_test", default="(set-up)")
_in_retry: contextvars.ContextVar[bool] = contextvars.ContextVar("cocalc_api_tests_retry", default=False)


@dataclass(frozen=True)
class SlowCall:
    """One reported call: its name, the test that made it, attempts, seconds and how it went."""

    call: str
    test: str
    attempts: int
    seconds: float
    detail: str = ""

    def line(self) -> str:
        tries = f"{self.attempts} attempt{'s' * (self.attempts != 1)}"
        text = f"{self.call}  {self.test}  {tries}  {self.seconds:.1f} s"
        return f"{text}  ({self.detail})" if self.detail else text


class CallLog:
    """Thread-safe list of :class:`SlowCall` entries for one run."""

    def __init__(self, slow: float = SLOW):
        self.slow = slow
        self._lock = threading.Lock()
        self._entries: List[SlowCall] = []

    @staticmethod
    @contextlib.contextmanager
    def test(test_id: str) -> Iterator[None]:
        """Attribute the calls made inside the block (in this thread or context) to *test_id*."""
        token = _current_test.set(test_id)
        try:
            yield
        finally:
            _current_test.reset(token)

    def observe(self, call: str, seconds: float, error: Optional[str]) -> None:
        """The client's hook: one HTTP call ended (retried calls are reported by their loop)."""
        if seconds > self.slow and not _in_retry.get():
            self._add(SlowCall(call, _current_test.get(), 1, seconds, brief(error) if error else "answered"))

    @contextlib.contextmanager
    def retrying(self) -> Iterator[None]:
        """Inside the block, single calls are not reported: the retry loop reports them together."""
        token = _in_retry.set(True)
        try:
            yield
        finally:
            _in_retry.reset(token)

    def attempts(self, call: str, attempts: Attempts) -> None:
        """A retry loop ended: report it if it needed more than one attempt or took long."""
        if len(attempts.tries) > 1 or attempts.seconds > self.slow:
            self._add(SlowCall(call, _current_test.get(), len(attempts.tries), attempts.seconds, attempts.describe()))

    def _add(self, entry: SlowCall) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> List[SlowCall]:
        """Every reported call, in the order they ended."""
        with self._lock:
            return list(self._entries)

    def lines(self) -> List[str]:
        """The report, one line per call; empty when nothing was slow."""
        entries = self.entries()
        if not entries:
            return []
        return [f"slow or retried calls ({len(entries)}; over {self.slow:g} s or retried):"] + [
            "  " + e.line() for e in entries
        ]

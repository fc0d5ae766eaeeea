"""Waiting with a deadline: poll until a condition holds, retry while an error is transient.

>>> poll(lambda: hub.projects.state(pid), accept=lambda s: s["state"] == "opened", timeout=60)
>>> retry_transient(lambda: project.system.jupyter_execute("1+1", "python3"), budget=300, what="...")
>>> settle(lambda: hub.projects.stop(pid), read=lambda: hub.projects.state(pid),
...        accept=lambda s: s["state"] == "opened", timeout=120, what="projects.stop")

None sleeps a fixed time in the caller's stead: each ends as soon as the
condition holds, and each fails with what it saw when the deadline passes.
"""
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple, Type, TypeVar

from .errors import CoCalcError, NotSettled, StillTransient, is_transient
from .text import brief

T = TypeVar("T")

#: Seconds between two attempts of :func:`poll` unless told otherwise.
INTERVAL = 0.25


def poll(
    attempt: Callable[[], T],
    *,
    timeout: float,
    interval: float = INTERVAL,
    retry_on: Tuple[Type[BaseException], ...] = (CoCalcError,),
    accept: Callable[[T], bool] = lambda value: True,
    what: str = "condition",
) -> T:
    """Call *attempt* until it returns a value that *accept* approves, or time runs out.

    Exceptions of the *retry_on* types are retried only while :func:`is_transient`
    holds for them (a refusal is raised at once); when the deadline passes, the
    last exception is re-raised, or :class:`TimeoutError` names *what* and the
    last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = attempt()
            if accept(value):
                return value
            failure: Optional[BaseException] = None
            last = value
        except retry_on as err:
            if isinstance(err, CoCalcError) and not is_transient(err):
                raise
            failure, last = err, None
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            raise TimeoutError(f"{what} not reached within {timeout:g} s; last value: {last!r}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@dataclass
class Attempts:
    """What :func:`retry_transient` saw: one ``(seconds, error text or None)`` per attempt."""

    what: str
    tries: List[Tuple[float, Optional[str]]] = field(default_factory=list)
    #: How :meth:`describe` names a try that did not fail.
    done: str = "answered"

    @property
    def seconds(self) -> float:
        return sum(seconds for seconds, _ in self.tries)

    def describe(self) -> str:
        """``3 attempts in 182.0 s: timeout after 90.0 s, timeout after 90.1 s, answered after 2.0 s``."""
        parts = [f"{self.done if error is None else brief(error, 60)} after {seconds:.1f} s" for seconds, error in self.tries]
        return f"{len(self.tries)} attempt{'s' * (len(self.tries) != 1)} in {self.seconds:.1f} s: " + ", ".join(parts)


def retry_transient(
    attempt: Callable[[], T],
    *,
    budget: float,
    what: str,
    pause: float = 1.0,
    on_done: Optional[Callable[[Attempts], None]] = None,
) -> T:
    """Call *attempt* again while it fails transiently (a timeout), within *budget* seconds in all.

    A permanent failure is raised at once.  When the budget is spent on transient
    failures, :class:`StillTransient` names *what* and every wait.  *on_done*
    receives the :class:`Attempts` in every case (the run's report of slow calls).
    """
    attempts = Attempts(what)
    started = time.monotonic()
    try:
        while True:
            begun = time.monotonic()
            try:
                value = attempt()
            except CoCalcError as err:
                attempts.tries.append((time.monotonic() - begun, str(err)))
                if not is_transient(err):
                    raise
                if time.monotonic() - started + pause >= budget:
                    raise StillTransient(attempts, err) from None
                time.sleep(pause)
                continue
            attempts.tries.append((time.monotonic() - begun, None))
            return value
    finally:
        if on_done is not None:
            on_done(attempts)


class Settled:
    """What :func:`settle` returns for a call that answered a timeout and whose change was then seen done."""

    def __init__(self, answer: CoCalcError):
        #: The call's own (transient) answer.
        self.answer = answer

    def __repr__(self) -> str:
        return f"<no answer ({brief(str(self.answer), 80)}), and the change was seen done>"


def settle(
    change: Callable[[], T],
    *,
    read: Callable[[], Any],
    accept: Callable[[Any], bool],
    timeout: float,
    what: str,
    again: Optional[float] = None,
    interval: float = 1.0,
    on_done: Optional[Callable[[Attempts], None]] = None,
) -> Any:
    """Make *change*, a call that changes the server's state, and see the change through.

    A call CoCalc answers with a timeout (:func:`is_transient`) is a call still in
    progress: under load a project's start or stop outlasts the bridge's wait, and
    goes on.  So such an answer is not a failure: *read* (a read of the state, e.g.
    ``projects.state``) is polled until *accept* approves what it reads, within
    *timeout* seconds of the call.  A busy server may also drop the change it timed
    out on; with *again* (seconds), a change still not seen done after that long is
    made again (for changes that land the same however often they are made: a
    start, a stop, a copy).

    Returns the call's answer (of the first attempt that answered), or a
    :class:`Settled` when every attempt answered a timeout and the change was then
    seen done.  A refusal (of the call or of a read) is raised at once; a change not
    seen done in time raises :class:`NotSettled`, naming every wait and the last
    state read.  *on_done* receives the :class:`Attempts` in every case.
    """
    attempts = Attempts(what)
    deadline = time.monotonic() + timeout
    first: Optional[CoCalcError] = None  # the first attempt's (transient) answer
    try:
        while True:
            begun = time.monotonic()
            try:
                value = change()
            except CoCalcError as err:
                attempts.tries.append((time.monotonic() - begun, str(err)))
                if not is_transient(err):
                    raise
                first = first or err
            else:
                attempts.tries.append((time.monotonic() - begun, None))
                return value
            waited = time.monotonic()
            until = deadline if again is None else min(deadline, waited + again)
            try:
                poll(read, timeout=max(0.0, until - waited), interval=interval, accept=accept,
                     what=f"the state {what} leads to")
            except (TimeoutError, CoCalcError) as failure:
                if isinstance(failure, CoCalcError) and not is_transient(failure):
                    raise
                attempts.tries.append((time.monotonic() - waited, "state not reached"))
                if time.monotonic() < deadline:
                    continue  # made again
                raise NotSettled(attempts, first, str(failure)) from None  # type: ignore[arg-type]
            attempts.done = "state reached"
            attempts.tries.append((time.monotonic() - waited, None))
            return Settled(first)  # type: ignore[arg-type]
    finally:
        if on_done is not None:
            on_done(attempts)

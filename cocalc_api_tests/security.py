"""The run's security verdicts: every missing refusal, listed apart from other failures at the end.

A test that finds a way around one of CoCalc's own checks fails with a message that
starts with :data:`PREFIX` and records it here; the run's summary and the JUnit
report list them apart (``security.lines()``)::

    SECURITY: stranger may projects.start({'project_id': '…'}): answered None; CoCalc's rule: refused with '…'
"""
import threading
from typing import List, Tuple

#: How every security failure's message begins.
PREFIX = "SECURITY:"

_lock = threading.Lock()
_found: List[Tuple[str, str]] = []


def report(where: str, message: str) -> str:
    """Record a security failure of *where* (a test or cell id); the message, starting with :data:`PREFIX`."""
    text = message if message.startswith(PREFIX) else f"{PREFIX} {message}"
    with _lock:
        _found.append((where, text))
    return text


def found() -> List[Tuple[str, str]]:
    """Every ``(where, message)`` recorded so far."""
    with _lock:
        return list(_found)


def lines() -> List[str]:
    """The summary, one line per security failure; empty when there was none."""
    entries = found()
    if not entries:
        return []
    return [f"security failures ({len(entries)}): ways around CoCalc's own checks"] + [f"  {w}: {m}" for w, m in entries]

"""JUnit XML reports of a unittest run, with the standard library only.

>>> runner = unittest.TextTestRunner(resultclass=JUnitResult)
>>> result = runner.run(suite)
>>> write_junit_xml(result, "report.xml", notes=["cleanup: complete"], slow_calls=log.entries())

The file holds one ``<testsuite>`` with a ``<testcase classname name time>`` per
test and ``<failure>``, ``<error>`` or ``<skipped>`` children carrying the message
(and the traceback as text), the shape GitHub Actions, GitLab and Jenkins read.
The run's slow and retried calls are ``<properties>`` of the suite and lines of
its ``<system-out>``, with the run's own notes (an interruption, an incomplete
cleanup).  Text that XML 1.0 cannot carry (control characters) is replaced, so
the file is valid whatever a message holds.
"""
import re
import time
import unittest
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import security
from .text import brief

#: Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """*text* with every character XML 1.0 cannot carry shown as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class JUnitResult(unittest.TextTestResult):
    """A text result that also records each test's time and outcome."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cases: List[Tuple[unittest.TestCase, float, Optional[Tuple[str, str, str]]]] = []
        self.wall = 0.0
        self._started: Dict[str, Tuple[unittest.TestCase, float]] = {}
        self._outcome: Dict[str, Tuple[str, str, str]] = {}

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        self._started[test.id()] = (test, time.perf_counter())
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().stopTest(test)
        _, started = self._started.pop(test.id(), (test, time.perf_counter()))
        self.cases.append((test, time.perf_counter() - started, self._outcome.pop(test.id(), None)))

    def interrupted(self) -> None:
        """Record each test still running as an error: the run was interrupted during it."""
        for test_id, (test, started) in list(self._started.items()):
            del self._started[test_id]
            self.errors.append((test, "KeyboardInterrupt: the run was interrupted during this test\n"))
            self.cases.append((test, time.perf_counter() - started, ("error", "KeyboardInterrupt: the run was interrupted during this test", "")))

    def _note(self, test: unittest.TestCase, kind: str, message: str, detail: str) -> None:
        if test.id() in self._started:
            self._outcome.setdefault(test.id(), (kind, message, detail))
        else:  # a class or module fixture failed: report it as a case of its own
            self.cases.append((test, 0.0, (kind, message, detail)))

    def addFailure(self, test, err) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._note(test, "failure", _message(err[1]), self.failures[-1][1])

    def addError(self, test, err) -> None:  # noqa: N802
        super().addError(test, err)
        self._note(test, "error", f"{err[0].__name__}: {_message(err[1])}", self.errors[-1][1])

    def addSkip(self, test, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self._note(test, "skipped", reason, "")

    def addSubTest(self, test, subtest, err) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            detail = (self.failures if kind == "failure" else self.errors)[-1][1]
            self._note(test, kind, f"{subtest.id()}: {_message(err[1])}", detail)

    def merge(self, other: "JUnitResult") -> None:
        """Add the outcomes of *other* (another class's result, run concurrently) to this one."""
        self.testsRun += other.testsRun
        self.failures += other.failures
        self.errors += other.errors
        self.skipped += other.skipped
        self.expectedFailures += other.expectedFailures
        self.unexpectedSuccesses += other.unexpectedSuccesses
        self.cases += other.cases
        if other.shouldStop:
            self.stop()


def _is_security(message: str) -> bool:
    """Whether a failure's message (a subtest's starts with the subtest's id) is a security verdict."""
    return message.startswith(security.PREFIX) or f"): {security.PREFIX}" in message


def _message(error: BaseException, limit: int = 1000) -> str:
    """The error's text on one line, at most *limit* characters."""
    return brief(str(error), limit) or type(error).__name__


def _split_id(test: unittest.TestCase) -> Tuple[str, str]:
    full = test.id()
    if "." in full and not full.endswith(")"):
        classname, name = full.rsplit(".", 1)
        return classname, name
    return type(test).__module__ + "." + type(test).__name__, str(test)


def write_junit_xml(
    result: JUnitResult,
    path: str,
    suite_name: str = "cocalc_api_tests",
    notes: Sequence[str] = (),
    slow_calls: Iterable[Any] = (),
) -> None:
    """Write *result* to *path* as JUnit XML.

    *notes* (lines about the run as a whole) and *slow_calls* (the run's
    :class:`~cocalc_api_tests.calllog.SlowCall` entries) go into the suite's
    ``<properties>`` and ``<system-out>``.
    """
    suite = ET.Element("testsuite", name=suite_name)
    slow = list(slow_calls)
    if slow or notes:
        properties = ET.SubElement(suite, "properties")
        for number, note in enumerate(notes, 1):
            ET.SubElement(properties, "property", name=f"note.{number}", value=xml_text(note))
        for number, entry in enumerate(slow, 1):
            ET.SubElement(properties, "property", name=f"slow_call.{number}", value=xml_text(entry.line()))
    counts = {"failure": 0, "error": 0, "skipped": 0}
    total = 0.0
    for test, elapsed, outcome in result.cases:
        classname, name = _split_id(test)
        case = ET.SubElement(suite, "testcase", classname=xml_text(classname), name=xml_text(name), time=f"{elapsed:.3f}")
        total += elapsed
        if outcome is not None:
            kind, message, detail = outcome
            counts[kind] += 1
            child = ET.SubElement(case, kind, message=xml_text(message))
            if kind != "skipped":
                # A way around one of CoCalc's checks is marked so that a CI dashboard can tell it apart.
                child.set("type", "SECURITY" if _is_security(message) else kind)
                child.text = xml_text(detail)
    if slow or notes:
        lines = list(notes) + [f"slow or retried call: {entry.line()}" for entry in slow]
        ET.SubElement(suite, "system-out").text = xml_text("\n".join(lines) + "\n")
    suite.set("tests", str(len(result.cases)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{(result.wall or total):.3f}")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)

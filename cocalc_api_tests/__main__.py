"""``python -m cocalc_api_tests [run] [unittest args]``: run the suite.

The configuration, the cleanup database and the key are checked before any test
runs; a problem there is reported as one paragraph with exit status 2.  Extra
arguments go to unittest (``-v``, ``-k PATTERN``, ``-f``, test names such as
``cocalc_api_tests.test_org``); with no test names the whole package runs.
``--junit-xml FILE`` also writes a JUnit XML report of the run.
"""
import signal
import sys
import unittest
from typing import List, Optional

from .errors import CoCalcError
from .junit import JUnitResult, write_junit_xml
from .ledger import leftover_ledgers, ledger_dir
from .session import get_session

PACKAGE = "cocalc_api_tests"


def run(args: List[str], junit_xml: Optional[str] = None) -> int:
    """Build the session (failing early and clearly), then run the suite with unittest."""
    for path in leftover_ledgers(ledger_dir()):
        print(
            f"cocalc-api-tests: WARNING: {path} is the ledger of an interrupted run whose resources "
            f"may still be on the server; finish it with `python -m {PACKAGE} cleanup --ledger {path}`.",
            file=sys.stderr,
        )
    try:
        get_session()
    except CoCalcError as err:
        print(f"cocalc-api-tests: {err}", file=sys.stderr)
        return 2
    has_names = any(not a.startswith("-") and not _is_option_value(args, i) for i, a in enumerate(args))
    argv = [f"python -m {PACKAGE}"] + args + ([] if has_names else [PACKAGE])
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        program = unittest.main(module=None, argv=argv, exit=False, testRunner=_Runner)
    except KeyboardInterrupt:
        print("\ncocalc-api-tests: interrupted; cleaning up what the run created.", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    result = program.result
    if junit_xml:
        write_junit_xml(result, junit_xml)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C does, so the cleaner still runs at exit."""
    raise KeyboardInterrupt


class _Runner(unittest.TextTestRunner):
    resultclass = JUnitResult


def _is_option_value(args: List[str], index: int) -> bool:
    return index > 0 and args[index - 1] in ("-k",)


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        args = args[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    junit_xml = None
    if "--junit-xml" in args:
        at = args.index("--junit-xml")
        if at + 1 >= len(args):
            print("cocalc-api-tests: --junit-xml needs a file name.", file=sys.stderr)
            return 2
        junit_xml = args[at + 1]
        del args[at:at + 2]
    return run(args, junit_xml)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m cocalc_api_tests [command]``: run the suite, check a set-up, finish a cleanup.

Commands:

  run [options] [test names]      (the default) run the suite:
        -v / -q                   more or less output
        -f, --failfast            stop at the first failure
        -k PATTERN                only tests whose name matches (repeatable)
        --parallel N              test classes run at once (default 16; fewer while the server
                                  is slow; 1 runs them in order)
        --junit-xml FILE          also write a JUnit XML report (always written, even
                                  when the run fails, is interrupted or its cleanup is incomplete)
        test names                e.g. cocalc_api_tests.test_org or test_org.TestOrgCRUD
                                  (default: the whole suite)
  doctor                          check key, server, projects, Jupyter, database and
                                  schema; exit 0 only when a run could succeed
  cleanup --ledger FILE [--dry-run] [--force]
                                  finish the cleanup of an interrupted run from its
                                  ledger; --dry-run only prints what would be done

The configuration comes from the environment (see README.md).  A problem with it,
the database or the key is reported as one paragraph with exit status 2.
"""
import argparse
import difflib
import os
import sys
import time
import unittest
from typing import List, Optional

from .errors import CoCalcError
from .junit import write_junit_xml
from .runner import DEFAULT_PARALLEL, ParallelRunner, strain_of

PACKAGE = "cocalc_api_tests"
PROG = f"python -m {PACKAGE}"
COMMANDS = ("run", "doctor", "cleanup")


def _say(text: str) -> None:
    print(f"cocalc-api-tests: {text}", file=sys.stderr, flush=True)


class _Usage(Exception):
    """A bad command line: the message says what and how to fix it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one paragraph, no usage dump
        raise _Usage(f"{self.prog}: {message}. See `{PROG} --help`.")


# ---------------------------------------------------------------------------- run


def _run_parser() -> _Parser:
    parser = _Parser(prog=f"{PROG} run", add_help=False)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-f", "--failfast", action="store_true")
    parser.add_argument("-k", dest="patterns", action="append", default=[])
    parser.add_argument("--parallel", type=_positive, default=DEFAULT_PARALLEL)
    parser.add_argument("--junit-xml", dest="junit_xml")
    parser.add_argument("names", nargs="*")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _check_report_path(path: str) -> None:
    if os.path.isdir(path):
        raise _Usage(f"--junit-xml {path} is a folder; name a file in it, e.g. --junit-xml {os.path.join(path, 'report.xml')}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _Usage(f"--junit-xml {path}: the folder {folder} does not exist; create it or name a file in an existing folder.")
    if not os.access(folder, os.W_OK):
        raise _Usage(f"--junit-xml {path}: the folder {folder} is not writable; name a file in a writable folder.")


def _load(names: List[str], patterns: List[str]) -> unittest.TestSuite:
    """The tests named (default: the whole suite); :class:`_Usage` for a name that is not a test."""
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in patterns]
    suite = unittest.TestSuite()
    for name in names or [PACKAGE]:
        loaded = loader.loadTestsFromName(name)
        if loader.errors or _has_failed_import(loaded):
            loader.errors.clear()
            hint = difflib.get_close_matches(name, COMMANDS, n=1)
            also = f" Did you mean the command `{hint[0]}`?" if hint else ""
            raise _Usage(
                f"{name!r} is neither a command ({', '.join(COMMANDS)}) nor a test this suite can load (e.g. "
                f"{PACKAGE}.test_org or {PACKAGE}.test_org.TestOrgCRUD).{also}"
            )
        suite.addTests(loaded)
    return suite


def _has_failed_import(suite: unittest.TestSuite) -> bool:
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            if _has_failed_import(item):
                return True
        elif type(item).__name__ in ("_FailedTest", "ModuleImportFailure"):
            return True
    return False


def run(argv: List[str]) -> int:
    """Build the session (failing early and clearly), run the suite, clean up, report."""
    from .config import ledger_dir_from_env
    from .ledger import leftover_ledgers
    from .session import get_session

    options = _run_parser().parse_args(argv)
    if options.junit_xml:
        _check_report_path(options.junit_xml)
    suite = _load(options.names, options.patterns)
    for path in leftover_ledgers(ledger_dir_from_env()):
        _say(
            f"WARNING: {path} is the ledger of an interrupted run whose resources may still be on the server; "
            f"finish it with `{PROG} cleanup --ledger {path}`."
        )
    started = time.monotonic()
    try:
        session = get_session()
    except CoCalcError as err:
        _say(str(err))
        return 2
    except KeyboardInterrupt:
        _say("interrupted while checking the server; nothing was created.")
        return 130
    verbosity = 0 if options.quiet else 1 + options.verbose
    runner = ParallelRunner(
        parallel=options.parallel, verbosity=verbosity, failfast=options.failfast, strain=strain_of(session.calls)
    )
    notes: List[str] = []
    status = 1
    try:
        try:
            runner.run(suite)
            status = 0 if runner.result.wasSuccessful() and runner.result.testsRun > 0 else 1
        except KeyboardInterrupt:
            notes.append("the run was interrupted (Ctrl-C or SIGTERM); what it created was cleaned up")
            _say("interrupted; cleaning up what the run created.")
            status = 130
        tests_done = time.monotonic()
        report = session.close()
        _say(
            f"run took {time.monotonic() - started:.1f} s: tests {runner.result.wall:.1f} s (their own durations add up "
            f"to {sum(t for _, t, _ in runner.result.cases):.1f} s), cleanup {time.monotonic() - tests_done:.1f} s."
        )
        if report is not None and not report.complete:
            notes.append("the cleanup did not finish; the ledger is kept for `cleanup --ledger`")
            _say("the cleanup did not finish (see above); the ledger is kept for `cleanup --ledger`.")
            status = status if status == 130 else 1
    finally:
        if options.junit_xml:
            try:
                write_junit_xml(runner.result, options.junit_xml, notes=notes, slow_calls=session.calls.entries())
            except OSError as err:
                _say(f"could not write the JUnit report {options.junit_xml}: {err.strerror or err}.")
    return status


# ------------------------------------------------------------------------ cleanup


def cleanup(argv: List[str]) -> int:
    """``cleanup --ledger FILE [--dry-run] [--force]``: remove what an interrupted run left behind."""
    from .client import Hub
    from .config import Config
    from .custody import Custody
    from .ledger import LedgerContents, owner_alive

    parser = _Parser(prog=f"{PROG} cleanup", description="Finish the cleanup of an interrupted run.")
    parser.add_argument("--ledger", required=True, metavar="FILE", help="the run's ledger (run-*.jsonl)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be stopped and deleted; change nothing")
    parser.add_argument("--force", action="store_true", help="clean up even though the run's process is still alive")
    options = parser.parse_args(argv)
    try:
        config = Config.from_env()
        if not config.cleanup:
            raise CoCalcError("COCALC_TESTS_CLEANUP is false, so there is nothing to clean up with; unset it or set it to true.")
        try:
            contents = LedgerContents(options.ledger)
        except (OSError, ValueError) as err:
            raise CoCalcError(f"cannot read the ledger {options.ledger}: {err}. Name a run-*.jsonl file from {config.ledger_dir}.")
        if owner_alive(options.ledger) and not options.force:
            raise CoCalcError(
                f"the run that writes {options.ledger} (pid {contents.run.get('pid')}) is still going and will clean up "
                "itself; nothing was deleted. Add --force if that process is not the run."
            )
        mismatch = contents.mismatch(config)
        if mismatch:
            raise CoCalcError(
                f"The ledger was written by a run against {mismatch}. Set COCALC_HOST and the PG* variables as they "
                "were for that run; nothing was deleted."
            )
        hub = Hub(config.api_key, config.host)
        custody = Custody.from_ledger(contents, config, hub)
        custody.preflight()
    except CoCalcError as err:
        _say(str(err))
        return 2
    try:
        report = custody.close(dry_run=options.dry_run)
    finally:
        hub.close()
    if options.dry_run:
        return 0
    if report is not None and report.complete:
        os.unlink(options.ledger)
        _say(f"cleanup complete; removed the ledger {options.ledger}.")
        return 0
    _say(f"cleanup incomplete; the ledger {options.ledger} is kept so that you can try again.")
    return 1


# -------------------------------------------------------------------------- main


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"], ["help"]) or (args[:1] == ["run"] and args[1:2] in (["-h"], ["--help"])):
        print(__doc__.strip())
        return 0
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    try:
        if command == "doctor":
            if args:
                raise _Usage(f"doctor takes no arguments (it reads the environment); got {' '.join(args)}.")
            from .doctor import doctor

            return doctor()
        if command == "cleanup":
            return cleanup(args)
        return run(args)
    except _Usage as err:
        _say(str(err))
        return 2
    except KeyboardInterrupt:
        _say("interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``python -m cocalc_api_tests [command]``: run the suite, check a set-up, finish a cleanup.

Commands:

  run [--junit-xml FILE] [unittest args]   (the default) run the suite; extra
        arguments go to unittest: -v, -k PATTERN, -f/--failfast, test names
        such as cocalc_api_tests.test_org (default: the whole suite)
  doctor                                   check key, server, projects, Jupyter,
        database and schema; exit 0 only when a run could succeed
  cleanup --ledger FILE [--dry-run]        finish the cleanup of an interrupted
        run from its ledger; --dry-run only prints what would be done

The configuration comes from the environment (see README.md).  A problem with it,
the database or the key is reported as one paragraph with exit status 2.
"""
import argparse
import os
import sys
import unittest
from typing import List, Optional

from .errors import CoCalcError
from .junit import JUnitResult, write_junit_xml
from .ledger import leftover_ledgers, ledger_dir
from .session import get_session

PACKAGE = "cocalc_api_tests"
PROG = f"python -m {PACKAGE}"
#: unittest options that take a value (so the value is not a test name).
_VALUE_OPTIONS = ("-k",)


def _say(text: str) -> None:
    print(f"cocalc-api-tests: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------- run


def run(args: List[str], junit_xml: Optional[str] = None) -> int:
    """Build the session (failing early and clearly), then run the suite with unittest."""
    for path in leftover_ledgers(ledger_dir()):
        _say(
            f"WARNING: {path} is the ledger of an interrupted run whose resources may still be on "
            f"the server; finish it with `{PROG} cleanup --ledger {path}`."
        )
    try:
        get_session()
    except CoCalcError as err:
        _say(str(err))
        return 2
    argv = [PROG] + args + ([] if _has_test_names(args) else [PACKAGE])
    try:
        program = unittest.main(module=None, argv=argv, exit=False, testRunner=_Runner)
    except KeyboardInterrupt:
        _say("interrupted; cleaning up what the run created.")
        return 130
    result = program.result
    report = get_session().close()  # now, so that an incomplete cleanup fails the run
    if report is not None and not report.complete:
        _say("the cleanup did not finish (see above); the ledger is kept for `cleanup --ledger`.")
        return 1
    if junit_xml:
        try:
            write_junit_xml(result, junit_xml)
        except OSError as err:
            _say(f"could not write the JUnit report {junit_xml}: {err.strerror or err}.")
            return 2
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


class _Runner(unittest.TextTestRunner):
    resultclass = JUnitResult


def _has_test_names(args: List[str]) -> bool:
    previous = ""
    for arg in args:
        if not arg.startswith("-") and previous not in _VALUE_OPTIONS:
            return True
        previous = arg
    return False


# ------------------------------------------------------------------------ cleanup


def cleanup(argv: List[str]) -> int:
    """``cleanup --ledger FILE [--dry-run]``: remove what an interrupted run left behind."""
    from .cleanup import Cleaner
    from .client import Hub
    from .config import Config
    from .ledger import LedgerContents, owner_alive

    parser = argparse.ArgumentParser(prog=f"{PROG} cleanup", description="Finish the cleanup of an interrupted run.")
    parser.add_argument("--ledger", required=True, metavar="FILE", help="the run's ledger (run-*.jsonl)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be stopped and deleted; change nothing")
    parser.add_argument("--force", action="store_true", help="clean up even though the run's process is still alive")
    options = parser.parse_args(argv)
    try:
        contents = LedgerContents(options.ledger)
    except (OSError, ValueError) as err:
        _say(f"cannot read the ledger {options.ledger}: {err}. Name a run-*.jsonl file from {ledger_dir()}.")
        return 2
    if owner_alive(options.ledger) and not options.force:
        _say(
            f"the run that writes {options.ledger} (pid {contents.run.get('pid')}) is still going and will clean up "
            "itself; nothing was deleted. Add --force if that process is not the run."
        )
        return 2
    try:
        config = Config.from_env()
        if not config.cleanup:
            raise CoCalcError("COCALC_TESTS_CLEANUP is false, so there is nothing to clean up with; unset it or set it to true.")
        for field, ours in (("host", config.host), ("database", config.describe_database())):
            theirs = contents.run.get(field)
            if theirs and theirs != ours:
                raise CoCalcError(
                    f"The ledger was written by a run against {field} {theirs!r}, but the environment now names "
                    f"{ours!r}. Set COCALC_HOST and the PG* variables as they were for that run; nothing was deleted."
                )
        hub = Hub(config.api_key, config.host)
        cleaner = Cleaner(config, hub, contents.tracker)
        cleaner.protect(account_ids=contents.protected_accounts, project_ids=contents.protected_projects + [config.project_id])
        cleaner.preflight()
    except CoCalcError as err:
        _say(str(err))
        return 2
    try:
        report = cleaner.run(dry_run=options.dry_run)
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
    command = args.pop(0) if args and args[0] in ("run", "doctor", "cleanup") else "run"
    if command == "run" and args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if command == "doctor":
        from .doctor import doctor

        return doctor()
    if command == "cleanup":
        return cleanup(args)
    junit_xml = None
    if "--junit-xml" in args:
        at = args.index("--junit-xml")
        if at + 1 >= len(args):
            _say("--junit-xml needs a file name.")
            return 2
        junit_xml = args[at + 1]
        del args[at:at + 2]
        folder = os.path.dirname(os.path.abspath(junit_xml))
        if os.path.isdir(junit_xml) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            _say(f"--junit-xml {junit_xml}: the folder {folder} does not exist or is not writable; name a file in a writable folder.")
            return 2
    return run(args, junit_xml)


if __name__ == "__main__":
    sys.exit(main())

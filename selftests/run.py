"""Run the self-tests and end with the plain line `N passed, N failed, N skipped`."""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list) -> int:
    # Sessions built inside the self-tests keep their ledgers away from the user's own.
    ledgers = tempfile.TemporaryDirectory(prefix="selftest-ledgers-")
    os.environ.setdefault("COCALC_TESTS_LEDGER_DIR", ledgers.name)
    loader = unittest.TestLoader()
    names = [a for a in argv if not a.startswith("-")]
    if "-k" in argv:
        loader.testNamePatterns = [f"*{argv[argv.index('-k') + 1]}*"]
        names = [n for n in names if n != argv[argv.index("-k") + 1]]
    sys.path.insert(0, HERE)
    suite = loader.loadTestsFromNames(names) if names else loader.discover(HERE, top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, failfast="--failfast" in argv).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Bad input to the command line: one paragraph on stderr, a non-zero exit, never a traceback.

Each case runs ``python -m cocalc_api_tests`` in a child process, as a user
would, with the suite's variables of the calling shell removed.
"""
import os
import signal
import tempfile
import unittest
from typing import List, Tuple

from helpers import assert_one_paragraph, closed_port
from suite_runner import PY, clean_environ, finish, run, start

KEY = "sk-selftest-cli"


class BadInputTest(unittest.TestCase):
    def cli(self, args: List[str], **environ: str) -> Tuple[int, str, str]:
        return run([PY, "-m", "cocalc_api_tests"] + args, clean_environ(**environ), timeout=120)

    def assertOneParagraph(self, status: int, err: str, *fragments: str, code: int = 2) -> None:
        """Exit status *code*, stderr one non-empty line holding every fragment, no traceback."""
        assert_one_paragraph(self, status, err, *fragments, code=code)

    def test_misspelled_command(self) -> None:
        status, _, err = self.cli(["doctr"], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, "'doctr' is neither a command", "Did you mean the command `doctor`?")

    def test_unknown_test_name(self) -> None:
        status, _, err = self.cli(["cocalc_api_tests.test_nothing_here"], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, "'cocalc_api_tests.test_nothing_here' is neither a command")

    def test_junit_report_path_is_a_folder(self) -> None:
        folder = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, folder)
        status, _, err = self.cli(["run", "--junit-xml", folder], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, f"--junit-xml {folder} is a folder", os.path.join(folder, "report.xml"))

    def test_junit_report_in_a_missing_folder(self) -> None:
        status, _, err = self.cli(["run", "--junit-xml", "/nonexistent-folder/r.xml"], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, "/nonexistent-folder does not exist")

    def test_parallel_must_be_a_positive_number(self) -> None:
        for value in ("0", "many"):
            with self.subTest(value=value):
                status, _, err = self.cli(["run", "--parallel", value], COCALC_API_KEY=KEY)
                self.assertOneParagraph(status, err, "--parallel", "at least 1")

    def test_key_that_cannot_go_into_a_header(self) -> None:
        status, _, err = self.cli(["run"], COCALC_API_KEY="sk-schlüssel", COCALC_TESTS_CLEANUP="false")
        self.assertOneParagraph(status, err, "COCALC_API_KEY holds characters")
        self.assertNotIn("schlüssel", err)

    def test_ledger_folder_that_is_a_file(self) -> None:
        with tempfile.NamedTemporaryFile() as afile:
            status, _, err = self.cli(["run"], COCALC_API_KEY=KEY, COCALC_TESTS_LEDGER_DIR=afile.name)
        self.assertOneParagraph(status, err, "COCALC_TESTS_LEDGER_DIR names", "which is a file")

    def test_missing_key(self) -> None:
        status, _, err = self.cli(["run"])
        self.assertOneParagraph(status, err, "COCALC_API_KEY is not set")

    def test_cleanup_without_a_ledger(self) -> None:
        status, _, err = self.cli(["cleanup"], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, "--ledger")

    def test_cleanup_of_a_missing_ledger(self) -> None:
        status, _, err = self.cli(["cleanup", "--ledger", "/nonexistent/run-x.jsonl"], COCALC_API_KEY=KEY, PGHOST="/tmp")
        self.assertOneParagraph(status, err, "cannot read the ledger /nonexistent/run-x.jsonl")

    def test_doctor_takes_no_arguments(self) -> None:
        status, _, err = self.cli(["doctor", "--fix"], COCALC_API_KEY=KEY)
        self.assertOneParagraph(status, err, "doctor takes no arguments")

    def test_ctrl_c_while_waiting_for_the_server(self) -> None:
        environ = clean_environ(
            COCALC_API_KEY=KEY, COCALC_HOST=f"http://127.0.0.1:{closed_port()}", COCALC_TESTS_CLEANUP="false"
        )
        child = start([PY, "-m", "cocalc_api_tests", "run"], environ)
        self.addCleanup(lambda: child.poll() is None and child.kill())
        warning = child.stderr.readline()  # printed just before the server wait (which lasts 30 s) begins
        self.assertIn("COCALC_TESTS_CLEANUP is false", warning)
        child.send_signal(signal.SIGINT)
        _, err = finish(child, timeout=30)
        self.assertOneParagraph(child.returncode, err, "interrupted while checking the server; nothing was created", code=130)


if __name__ == "__main__":
    unittest.main()

"""The JUnit XML report carries failures, errors and skips with their messages."""
import io
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

from cocalc_api_tests.junit import JUnitResult, write_junit_xml


def _sample_case() -> type:
    """A TestCase with one outcome of each kind (made here, so discovery does not collect it)."""

    class _Sample(unittest.TestCase):
        def test_passes(self):
            self.assertEqual(1 + 1, 2)

        def test_fails(self):
            self.assertEqual("left", "right", "values differ")

        def test_errors(self):
            raise KeyError("missing-key")

        @unittest.skip("not on this server")
        def test_skipped(self):
            pass

        def test_control_characters(self):
            self.fail("server said \x1b[31mred\x1b[0m and \x00 and \x08")

        def test_subtest_fails(self):
            for n in (1, 2):
                with self.subTest(n=n):
                    self.assertEqual(n, 1)

    return _Sample


class JUnitXmlTest(unittest.TestCase):
    def setUp(self):
        suite = unittest.TestLoader().loadTestsFromTestCase(_sample_case())
        runner = unittest.TextTestRunner(stream=io.StringIO(), resultclass=JUnitResult)
        self.result = runner.run(suite)
        fd, self.path = tempfile.mkstemp(suffix=".xml")
        os.close(fd)
        self.addCleanup(os.unlink, self.path)
        write_junit_xml(self.result, self.path)
        self.root = ET.parse(self.path).getroot()
        self.cases = {c.get("name"): c for c in self.root.iter("testcase")}

    def test_counts_on_the_suite(self):
        self.assertEqual(self.root.tag, "testsuite")
        self.assertEqual(
            {k: self.root.get(k) for k in ("tests", "failures", "errors", "skipped")},
            {"tests": "6", "failures": "3", "errors": "1", "skipped": "1"},
        )

    def test_each_case_has_classname_name_and_time(self):
        self.assertEqual(
            set(self.cases),
            {"test_passes", "test_fails", "test_errors", "test_skipped", "test_subtest_fails", "test_control_characters"},
        )
        for name, case in self.cases.items():
            with self.subTest(name=name):
                self.assertTrue(case.get("classname").endswith("_Sample"))
                self.assertGreaterEqual(float(case.get("time")), 0.0)
        self.assertEqual(list(self.cases["test_passes"]), [])

    def test_failure_error_and_skip_carry_their_messages(self):
        failure = self.cases["test_fails"].find("failure")
        self.assertIn("values differ", failure.get("message"))
        self.assertIn("AssertionError", failure.text)
        error = self.cases["test_errors"].find("error")
        self.assertEqual(error.get("message"), "KeyError: 'missing-key'")
        self.assertEqual(self.cases["test_skipped"].find("skipped").get("message"), "not on this server")
        self.assertIn("n=2", self.cases["test_subtest_fails"].find("failure").get("message"))


    def test_control_characters_become_visible_escapes(self):
        failure = self.cases["test_control_characters"].find("failure")
        self.assertIn("\\x1b[31mred\\x1b[0m and \\x00 and \\x08", failure.get("message"))
        self.assertIn("\\x1b[31m", failure.text)


class RunNotesTest(unittest.TestCase):
    def test_notes_and_slow_calls_go_to_properties_and_system_out(self):
        from cocalc_api_tests.calllog import SlowCall

        result = unittest.TextTestRunner(stream=io.StringIO(), resultclass=JUnitResult).run(unittest.TestSuite())
        fd, path = tempfile.mkstemp(suffix=".xml")
        os.close(fd)
        self.addCleanup(os.unlink, path)
        slow = SlowCall("system.jupyterExecute", "test_jupyter.T.test_sum", 3, 182.4, "timeout \x07 after 90 s")
        write_junit_xml(result, path, notes=["the cleanup did not finish"], slow_calls=[slow])
        root = ET.parse(path).getroot()
        properties = {p.get("name"): p.get("value") for p in root.iter("property")}
        self.assertEqual(properties["note.1"], "the cleanup did not finish")
        self.assertIn("system.jupyterExecute  test_jupyter.T.test_sum  3 attempts  182.4 s", properties["slow_call.1"])
        out = root.find("system-out").text
        self.assertIn("the cleanup did not finish", out)
        self.assertIn("slow or retried call: system.jupyterExecute", out)
        self.assertIn("\\x07", out)


if __name__ == "__main__":
    unittest.main()


class SecurityTypeTest(unittest.TestCase):
    """A security verdict's failure is marked ``type="SECURITY"``, in a test and in a subtest; others keep ``failure``."""

    def report(self, case: type) -> ET.Element:
        result = JUnitResult(io.StringIO(), True, 1)
        unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
        path = os.path.join(tempfile.mkdtemp(), "report.xml")
        write_junit_xml(result, path)
        return ET.parse(path).getroot()

    def test_security_failures_are_typed(self) -> None:
        class Case(unittest.TestCase):
            def test_cell(self) -> None:
                with self.subTest(cell="projects.start × stranger"):
                    self.fail("SECURITY: stranger calling projects.start answered None")

            def test_plain(self) -> None:
                self.fail("SECURITY: stranger calling org.get answered {}")

            def test_other(self) -> None:
                self.fail("answered 3, expected 4")

        types = {c.get("name"): c.find("failure").get("type") for c in self.report(Case).iter("testcase")}
        self.assertEqual(types, {"test_cell": "SECURITY", "test_plain": "SECURITY", "test_other": "failure"})

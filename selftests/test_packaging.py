"""What `pip install .` brings: exactly requests and pg8000 at run time, the rest in extras; the Pythons it supports."""
import configparser
import os
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Imported by the suite and its command line, in a fresh interpreter.
SUITE_MODULES = [
    "cocalc_api_tests", "cocalc_api_tests.__main__", "cocalc_api_tests.doctor", "cocalc_api_tests.cleanup",
    "cocalc_api_tests.test_hub", "cocalc_api_tests.test_project", "cocalc_api_tests.test_jupyter",
    "cocalc_api_tests.test_org", "cocalc_api_tests.test_org_basic",
]


def _requirements(text: str) -> set:
    return {line.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for line in text.splitlines() if line.strip()}


class TestPackaging(unittest.TestCase):
    def setUp(self) -> None:
        self.cfg = configparser.ConfigParser()
        self.assertTrue(self.cfg.read(os.path.join(ROOT, "setup.cfg")))

    def test_runtime_requirements_are_requests_and_pg8000(self) -> None:
        self.assertEqual(_requirements(self.cfg["options"]["install_requires"]), {"requests", "pg8000"})

    def test_stand_in_and_self_test_needs_are_extras(self) -> None:
        extras = self.cfg["options.extras_require"]
        self.assertTrue({"jupyter_client", "ipykernel"} <= _requirements(extras["standin"]))
        self.assertIn("pytest", _requirements(extras["selftest"]))

    def test_the_classifiers_name_every_supported_python(self) -> None:
        """``python_requires`` and the classifiers agree: 3.9 to 3.13, the Pythons scripts/selftest.sh is run on."""
        self.assertEqual(self.cfg["options"]["python_requires"], ">=3.9")
        listed = [line.strip().rpartition(" :: ")[2] for line in self.cfg["metadata"]["classifiers"].splitlines()
                  if line.strip().startswith("Programming Language :: Python :: 3.")]
        self.assertEqual(listed, [f"3.{minor}" for minor in range(9, 14)])

    def test_the_suite_imports_nothing_beyond_its_runtime_requirements(self) -> None:
        code = (
            "import sys\n"
            f"for name in {SUITE_MODULES!r}: __import__(name)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
        )
        env = dict(os.environ, PYTHONPATH=ROOT)
        loaded = set(subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout.split())
        self.assertFalse(loaded & {"jupyter_client", "ipykernel", "pytest", "zmq", "IPython"}, sorted(loaded))
        self.assertTrue({"requests", "pg8000"} <= loaded)


if __name__ == "__main__":
    unittest.main()

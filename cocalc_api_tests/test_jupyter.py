"""Jupyter in the shared project: kernel set-up, execution through the hub and the project.

Every test here is skipped when ``CI`` is true (see :data:`support.JUPYTER_SKIP_REASON`).
"""
import unittest

from .session import get_session
from .support import KERNEL, JupyterTestCase, skip_on_ci

#: Seconds pip may take to install ipykernel.
INSTALL_TIMEOUT = 600
#: Installs ipykernel unless it is there: into ~/.local first (a distribution's Python refuses
#: system-wide installs), else into the environment (a virtualenv refuses --user).
INSTALL_IPYKERNEL = (
    "python3 -c 'import ipykernel' 2>/dev/null || python3 -m pip install --quiet --user ipykernel "
    "|| python3 -m pip install --quiet ipykernel"
)
#: Prints the names of the kernel specs Jupyter finds, one per line.
FIND_KERNELSPECS = "from jupyter_client.kernelspec import find_kernel_specs; print(*sorted(find_kernel_specs()), sep='\\n')"


def setUpModule() -> None:
    get_session()


def load_tests(loader, tests, pattern):  # type: ignore[no-untyped-def]
    """Run the classes in the order written: the kernel set-up comes before its use."""
    suite = unittest.TestSuite()
    for case in (TestKernelSetup, TestKernelSpecs, TestExecuteViaHub, TestExecuteViaProject, TestKernelProcesses):
        suite.addTests(loader.loadTestsFromTestCase(case))
    return suite


@skip_on_ci
class TestKernelSetup(JupyterTestCase):
    """Make sure the project can run Python kernels."""

    def test_install_ipykernel(self) -> None:
        self.exec_ok(INSTALL_IPYKERNEL, bash=True, timeout=INSTALL_TIMEOUT)
        version = self.exec_ok("python3", args=["-c", "import ipykernel; print(ipykernel.__version__)"])
        self.assertRegex(version["stdout"].strip(), r"^\d+\.\d+")

    def test_register_kernelspec(self) -> None:
        self.exec_ok(
            "python3",
            args=["-m", "ipykernel", "install", "--user", "--name", KERNEL, "--display-name", "Python 3 (ipykernel)"],
            timeout=120,
        )
        listing = self.exec_ok("python3", args=["-c", FIND_KERNELSPECS])
        self.assertIn(KERNEL, listing["stdout"].split(), f"kernel specs found in the project: {listing['stdout']!r}")


@skip_on_ci
class TestKernelSpecs(JupyterTestCase):
    """``jupyter.kernels`` for the shared project."""

    def test_specs_not_empty(self) -> None:
        specs = self.call(self.hub.jupyter.kernels, project_id=self.project_id)
        self.assertIsInstance(specs, list)
        self.assertTrue(specs, "jupyter.kernels listed no kernel specs")

    def test_python3_available(self) -> None:
        specs = self.call(self.hub.jupyter.kernels, project_id=self.project_id)
        python3 = [s for s in specs if s.get("name") == KERNEL]
        self.assertEqual(len(python3), 1, f"jupyter.kernels answered {specs!r}")
        self.assertEqual(python3[0].get("language"), "python")


@skip_on_ci
class TestExecuteViaHub(JupyterTestCase):
    """``jupyter.execute`` on the hub answers ``{"output": [...]}``."""

    def test_sum(self) -> None:
        self.assertTextPlain(self.execute_via_hub("sum(range(100))"), "4950")

    def test_history(self) -> None:
        outputs = self.execute_via_hub("sum(range(a + 1))", history=["a = 100"])
        self.assertTextPlain(outputs, "5050")
        self.assertEqual(len(outputs), 1, f"the history's own output leaked in: {outputs!r}")

    def test_print(self) -> None:
        outputs = self.execute_via_hub("print('Hello from the hub')")
        streams = [o for o in outputs if o.get("name") == "stdout"]
        self.assertEqual([s.get("text") for s in streams], ["Hello from the hub\n"], f"outputs: {outputs!r}")


@skip_on_ci
class TestExecuteViaProject(JupyterTestCase):
    """``system.jupyterExecute`` on the project answers the bare output list."""

    def test_sum(self) -> None:
        self.assertTextPlain(self.execute_via_project("sum(range(100))"), "4950")

    def test_history(self) -> None:
        outputs = self.execute_via_project("b * 2", history=["b = 50"])
        self.assertTextPlain(outputs, "100")
        self.assertEqual(len(outputs), 1, f"the history's own output leaked in: {outputs!r}")

    def test_list_comprehension(self) -> None:
        self.assertTextPlain(self.execute_via_project("[x**2 for x in range(5)]"), "[0, 1, 4, 9, 16]")


@skip_on_ci
class TestKernelProcesses(JupyterTestCase):
    """Running kernels: listing and stopping them."""

    def test_running_kernels(self) -> None:
        self.execute_via_project("2 + 2")
        self.assertTrue(self.running_kernels(), "a kernel just ran, yet none is listed")

    def test_stop_kernel(self) -> None:
        self.stop_a_kernel()

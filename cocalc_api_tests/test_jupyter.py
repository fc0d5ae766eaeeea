"""Jupyter in the shared project: kernel set-up, execution through the hub and the project.

Every test here is skipped when ``CI`` is true (see :data:`support.JUPYTER_SKIP_REASON`).
The kernel set-up (ipykernel installed, the ``python3`` spec registered) and the
first, cold execution run in the background from the start of the run
(:func:`support.warm_up_kernel`); the set-up tests check what those steps answered.
"""
from .errors import CoCalcError
from .support import KERNEL, WARM_UP_CODE, JupyterTestCase, prepare, skip_on_ci

#: Prints the names of the kernel specs Jupyter finds, one per line.
FIND_KERNELSPECS = "from jupyter_client.kernelspec import find_kernel_specs; print(*sorted(find_kernel_specs()), sep='\\n')"
#: Seconds CoCalc may go on listing kernel specs from before a registration (its cache keeps them 30 s).
SPEC_CACHE_WAIT = 60.0


def setUpModule() -> None:
    prepare()


@skip_on_ci
class TestKernelSetup(JupyterTestCase):
    """The project can run Python kernels (set up by the background warm-up)."""

    def step(self, name: str) -> dict:
        """The warm-up's answer to set-up step *name*, which must have exited 0."""
        answer = self.warm_up().get(name)
        if isinstance(answer, CoCalcError):
            self.fail(f"the kernel set-up step {name!r} failed: {answer}")
        self.assertIsInstance(answer, dict, f"the kernel set-up step {name!r} answered {answer!r}")
        self.assertEqual(answer.get("exit_code"), 0, f"the kernel set-up step {name!r} answered {answer!r}")
        return answer

    def test_install_ipykernel(self) -> None:
        self.step("install")
        version = self.exec_ok("python3", args=["-c", "import ipykernel; print(ipykernel.__version__)"])
        self.assertRegex(version["stdout"].strip(), r"^\d+\.\d+")

    def test_register_kernelspec(self) -> None:
        self.step("register")
        listing = self.exec_ok("python3", args=["-c", FIND_KERNELSPECS])
        self.assertIn(KERNEL, listing["stdout"].split(), f"kernel specs found in the project: {listing['stdout']!r}")


@skip_on_ci
class TestKernelSpecs(JupyterTestCase):
    """``jupyter.kernels`` for the shared project."""

    def specs(self) -> list:
        """The project's kernel specs once they include :data:`KERNEL` (CoCalc caches the list for 30 s)."""
        self.warm_up()
        return self.poll_call(
            self.hub.jupyter.kernels,
            project_id=self.project_id,
            accept=lambda specs: isinstance(specs, list) and KERNEL in [s.get("name") for s in specs],
            timeout=SPEC_CACHE_WAIT,
            what=f"jupyter.kernels listing {KERNEL}",
        )

    def test_specs_not_empty(self) -> None:
        for spec in self.specs():
            with self.subTest(spec=spec.get("name")):
                for field in ("name", "display_name", "language"):
                    self.assertIsInstance(spec.get(field), str, f"kernel spec {spec!r}")
                    self.assertTrue(spec[field], f"kernel spec {spec!r} has an empty {field}")

    def test_python3_available(self) -> None:
        python3 = [s for s in self.specs() if s.get("name") == KERNEL]
        self.assertEqual(len(python3), 1, f"jupyter.kernels lists {KERNEL} {len(python3)} times")
        self.assertEqual(python3[0].get("language"), "python")


@skip_on_ci
class TestExecuteViaHub(JupyterTestCase):
    """``jupyter.execute`` on the hub answers ``{"output": [...], "created"}``, never from an old cache."""

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
        first = self.warm_up().get("first")
        if isinstance(first, CoCalcError):
            self.fail(f"the first, cold execution of {WARM_UP_CODE!r} failed: {first}")
        self.assertTextPlain(first, "4950")
        self.assertTextPlain(self.execute_via_project("sum(range(100))"), "4950")

    def test_history(self) -> None:
        outputs = self.execute_via_project("print('b is', b)\nb * 2", history=["b = 50"])
        self.assertTextPlain(outputs, "100")
        streams = [o.get("text") for o in outputs if isinstance(o, dict) and o.get("name") == "stdout"]
        self.assertEqual(streams, ["b is 50\n"], f"outputs: {outputs!r}")
        self.assertEqual(len(outputs), 2, f"the history's own output leaked in: {outputs!r}")

    def test_list_comprehension(self) -> None:
        self.assertTextPlain(self.execute_via_project("[x**2 for x in range(5)]"), "[0, 1, 4, 9, 16]")


@skip_on_ci
class TestKernelProcesses(JupyterTestCase):
    """Running kernels: listing and stopping them."""

    def test_running_kernels(self) -> None:
        with self.kernel():
            self.assertTextPlain(self.execute_via_project("2 + 2"), "4")
            self.assertTrue(self.running_kernels(), "a kernel just ran, yet none is listed")

    def test_stop_kernel(self) -> None:
        self.stop_a_kernel()

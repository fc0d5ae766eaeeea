"""Running code on CoCalc's Jupyter kernels: the kernel set-up, its warm-up, retried executions.

Kernels are slow and stall on a real CoCalc, so every execution is retried while the
server answers a timeout (within :data:`JUPYTER_BUDGET`), executions of many tests share
the kernels while a kernel stop holds them alone (:data:`KERNELS`), and the run stops
only kernels it started itself.
"""
import contextlib
import threading
import unittest
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, TypeVar

from ..config import ci_from_env
from ..errors import CoCalcAPIError, CoCalcError, StillTransient
from ..poll import retry_transient
from ..session import Session
from .core import APITestCase, parse_time

T = TypeVar("T")

#: Why the Jupyter tests do not run when ``CI`` is true.
JUPYTER_SKIP_REASON = "CI=true: Jupyter kernels are skipped on CI machines (unset CI to run them)"
#: Decorator for the Jupyter tests.
skip_on_ci = unittest.skipIf(ci_from_env(), JUPYTER_SKIP_REASON)

#: Seconds one Jupyter execution may take in all, retries of timed-out attempts included
#: (CoCalc's own suite survives stalls of up to three 90 s timeouts).
JUPYTER_BUDGET = 300.0
#: The kernel the Jupyter tests use.
KERNEL = "python3"

#: Installs ipykernel unless it is there: into ~/.local first (a distribution's Python refuses
#: system-wide installs), else into the environment (a virtualenv refuses --user).
INSTALL_IPYKERNEL = (
    "python3 -c 'import ipykernel' 2>/dev/null || python3 -m pip install --quiet --user ipykernel "
    "|| python3 -m pip install --quiet ipykernel"
)
#: Seconds pip may take to install ipykernel.
INSTALL_TIMEOUT = 600
#: Registers the kernel spec the tests use.
REGISTER_KERNEL = ["-m", "ipykernel", "install", "--user", "--name", KERNEL, "--display-name", "Python 3 (ipykernel)"]
#: What each set-up step leaves in a user's own project (``COCALC_PROJECT_ID``), as the run's end says it.
LEFT_BEHIND = {
    "install": "ipykernel, if it was missing, installed with pip (--user first)",
    "register": f"the Jupyter kernel spec {KERNEL!r} (ipykernel install --user), registered again",
}
#: What the background warm-up runs first on a fresh kernel; its answer is checked by a test.
WARM_UP_CODE = "sum(range(100))"


class KernelGate:
    """A lock held shared by many (kernel executions) or alone by one (a kernel stop).

    The thread that holds it alone may also take it shared (it runs an execution of its own).
    """

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._shared = 0
        self._owner: Optional[int] = None
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Held together with other shared holders; waits while someone holds (or waits for) it alone."""
        me = threading.get_ident()
        with self._state:
            if self._owner != me:
                self._state.wait_for(lambda: self._owner is None and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._state:
                self._shared -= 1
                self._state.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Held by this thread only, once every shared holder has let go."""
        with self._state:
            self._waiting += 1
            self._state.wait_for(lambda: self._owner is None and self._shared == 0)
            self._waiting -= 1
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            with self._state:
                self._owner = None
                self._state.notify_all()


#: The one gate of this process's kernel executions: they hold it shared, a kernel stop alone.
KERNELS = KernelGate()
#: Background job of the kernel set-up and first execution.
WARM_UP_JOB = "jupyter warm-up"


def start_warm_up(session: Session) -> Any:
    """Begin :func:`warm_up_kernel` in the background (once); its job."""
    return session.background.submit(WARM_UP_JOB, lambda: warm_up_kernel(session))


def warm_up_kernel(session: Session) -> Dict[str, Any]:
    """Make sure the shared project can run Python kernels, then run :data:`WARM_UP_CODE` once.

    Returns every step's answer (``install``, ``register``, ``first``) for the tests to check,
    and ``theirs``: the pids of kernels that ran before this run started one (a user's own,
    in a project named by ``COCALC_PROJECT_ID``), which the run never stops.  A step's error
    is returned in its place, so each test reports its own step.
    """
    project = session.project
    steps: Dict[str, Any] = {"theirs": running_pids(project)}
    for step, command, kwargs in (
        ("install", INSTALL_IPYKERNEL, {"bash": True, "timeout": INSTALL_TIMEOUT}),
        ("register", "python3", {"args": REGISTER_KERNEL, "timeout": 120}),
    ):
        try:
            steps[step] = project.system.exec(command, **kwargs)
        except CoCalcError as err:
            steps[step] = err
            return steps
        if session.config.project_id:  # the user's own project: say what stays there (removing it could break their work)
            session.left_in_user_project.append(LEFT_BEHIND[step])
    with KERNELS.shared(), session.calls.retrying():
        try:
            steps["first"] = retry_transient(
                lambda: project.system.jupyter_execute(WARM_UP_CODE, KERNEL),
                budget=JUPYTER_BUDGET,
                what=f"system.jupyterExecute({WARM_UP_CODE!r})",
                on_done=lambda attempts: session.calls.attempts("system.jupyterExecute", attempts),
            )
        except CoCalcError as err:
            steps["first"] = err
    return steps


def running_pids(project: Any) -> Set[int]:
    """The pids of the kernels *project* runs now (none if it cannot say)."""
    try:
        kernels = project.system.list_jupyter_kernels()
    except CoCalcError:
        return set()
    return {k.get("pid") for k in kernels if isinstance(k, dict)} if isinstance(kernels, list) else set()


class JupyterMixin:
    """Running code on CoCalc's Jupyter kernels, through the hub or the project (mix into an :class:`APITestCase`).

    Every execution is retried while CoCalc answers a timeout (a cold or stalled
    kernel), within :data:`JUPYTER_BUDGET` seconds; a refusal fails at once.
    Hub executions carry the run's nonce, so CoCalc's answer cache
    (``jupyter_api_cache``) cannot answer them from an earlier run.
    """

    @property
    def nonce(self) -> str:
        """This run's id: put into every hub execution."""
        return self.session.run_id

    def warm_up(self) -> Dict[str, Any]:
        """The steps of the background kernel warm-up (started by :func:`prepare`)."""
        return self.prepared(WARM_UP_JOB, lambda: start_warm_up(self.session))

    @contextlib.contextmanager
    def kernel(self) -> Iterator[None]:
        """Use the project's kernels (with other tests, never during a kernel stop), once the warm-up is done."""
        self.warm_up()
        with KERNELS.shared():
            yield

    def execute_via_hub(self, code: str, history: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        """``jupyter.execute`` in the shared project; the output list of ``{"output": [...], "created"}``.

        The run's nonce is appended to the code as a comment; ``created``, when
        present, must be of this run (not a cached answer of an earlier one).  Each
        attempt's log row carries a tracked tag, so the cleaner removes it (and its
        cache row) even from a project named by ``COCALC_PROJECT_ID``.
        """
        tagged = f"{code}  # cocalc-api-tests {self.nonce}"
        answer = self._retrying(
            "jupyter.execute",
            code,
            lambda: self.hub.jupyter.execute(
                tagged, KERNEL, history=history, project_id=self.project_id, tag=self.tracked_event("jupyter")
            ),
        )
        self.assertIsInstance(answer, dict, f"jupyter.execute({code!r}) answered {answer!r}")
        self.assertIn("output", answer, f"jupyter.execute({code!r}) answered {answer!r}")
        if "created" in answer:
            self.assertRecent(parse_time(answer["created"]), f"jupyter.execute({code!r})'s created", self.session.started)
        return answer["output"]

    def execute_via_project(self, code: str, history: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        """``system.jupyterExecute`` on the shared project: the bare output list."""
        answer = self._retrying(
            "system.jupyterExecute", code, lambda: self.project.system.jupyter_execute(code, KERNEL, history=history)
        )
        self.assertIsInstance(answer, list, f"system.jupyterExecute({code!r}) answered {answer!r}")
        return answer

    def assertTextPlain(self, outputs: List[Dict[str, Any]], expected: str) -> None:
        """The outputs hold *expected* as ``text/plain`` and no error or stderr output."""
        values = [o.get("data", {}).get("text/plain") for o in outputs if isinstance(o, dict)]
        self.assertIn(expected, values, f"no text/plain {expected!r} in outputs {outputs!r}")
        troubles = [o for o in outputs if isinstance(o, dict) and (o.get("name") == "stderr" or "ename" in o)]
        self.assertEqual(troubles, [], f"error or stderr output beside the result: {outputs!r}")

    def running_kernels(self) -> List[Dict[str, Any]]:
        """``system.listJupyterKernels`` of the shared project, with each entry's shape checked.

        ``connectionFile`` is a path ending in ``.json``, or ``"unknown"`` when CoCalc lost track of it.
        """
        kernels = self.call(self.project.system.list_jupyter_kernels)
        self.assertIsInstance(kernels, list, f"system.listJupyterKernels answered {kernels!r}")
        for kernel in kernels:
            with self.subTest(kernel=kernel):
                self.assertIsInstance(kernel.get("pid"), int)
                self.assertGreater(kernel["pid"], 0)
                connection = kernel.get("connectionFile")
                self.assertIsInstance(connection, str)
                self.assertTrue(connection == "unknown" or connection.endswith(".json"), f"kernel entry {kernel!r}")
        return kernels

    def stop_a_kernel(self) -> None:
        """Stop a kernel this run started (one is started if none runs) and see it leave the running kernels.

        Kernels that ran before the run started one (a user's own) are never stopped.  The
        stop holds the kernels alone: no other test's execution is in flight or begins meanwhile.
        """
        theirs = self.warm_up().get("theirs", set())
        with KERNELS.alone():
            ours = [k for k in self.running_kernels() if k.get("pid") not in theirs]
            if not ours:
                self.assertTextPlain(self.execute_via_project("1 + 1"), "2")
                ours = [k for k in self.running_kernels() if k.get("pid") not in theirs]
            self.assertTrue(ours, "a kernel just ran, yet system.listJupyterKernels lists none of this run's")
            pid = ours[0]["pid"]
            answer = self.call(self.project.system.stop_jupyter_kernel, pid)
            self.assertEqual(answer, {"success": True}, f"system.stopJupyterKernel({pid}) answered {answer!r}")
            self.poll_call(
                self.project.system.list_jupyter_kernels,
                accept=lambda running: pid not in [k.get("pid") for k in running],
                what=f"kernel {pid} gone from system.listJupyterKernels",
            )

    def _retrying(self, call: str, code: str, attempt: Callable[[], T]) -> T:
        what = f"{call}({code!r})"
        with self.kernel(), self.session.calls.retrying():
            try:
                return retry_transient(
                    attempt,
                    budget=JUPYTER_BUDGET,
                    what=what,
                    on_done=lambda attempts: self.session.calls.attempts(call, attempts),
                )
            except StillTransient as err:
                self.fail(str(err))
            except CoCalcAPIError as err:
                self.fail(err.describe())


class JupyterTestCase(JupyterMixin, APITestCase):
    """An :class:`APITestCase` with the Jupyter helpers."""

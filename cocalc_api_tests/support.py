"""What the API test modules share: a base TestCase, the CI skip, polling and Jupyter helpers.

Every test module starts the same way::

    from .session import get_session
    from .support import APITestCase

    def setUpModule():
        get_session()

    class TestSomething(APITestCase):
        def test_it(self):
            answer = self.call(self.hub.system.ping)

:meth:`APITestCase.call` turns a server error into a test failure that names
the call, its arguments and the server's answer.
"""
import unittest
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from .config import ci_from_env
from .errors import CoCalcAPIError
from .session import poll
from .mixin import TrackedResourcesMixin

T = TypeVar("T")

#: Why the Jupyter tests do not run when ``CI`` is true.
JUPYTER_SKIP_REASON = "CI=true: Jupyter kernels are skipped on CI machines (unset CI to run them)"
#: Decorator for the Jupyter tests.
skip_on_ci = unittest.skipIf(ci_from_env(), JUPYTER_SKIP_REASON)

#: Seconds to wait for something the server does eventually (a project start, a kernel).
EVENTUAL_WAIT = 120.0
#: Seconds to wait for a Jupyter answer, cold kernels included.
JUPYTER_WAIT = 180.0
#: The kernel the Jupyter tests use.
KERNEL = "python3"

#: The 13 calls of CoCalc's ``org`` API.
ORG_CALLS = (
    "org.getAll", "org.create", "org.get", "org.set", "org.addAdmin", "org.addUser", "org.createUser",
    "org.createToken", "org.expireToken", "org.getUsers", "org.removeUser", "org.removeAdmin", "org.message",
)
#: The bridge's answer to a key it does not accept (a bogus key, an org token).
BAD_KEY_ERROR = "must be signed in and MUST provide an api key"


def remote_name(method: Callable) -> str:
    """The remote call a client method makes (``"org.get"``), or its Python name."""
    return getattr(method, "remote_name", getattr(method, "__name__", repr(method)))


def _brief_args(args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts)


class APITestCase(TrackedResourcesMixin, unittest.TestCase):
    """Base class of the API tests: the session's clients and error-aware call helpers."""

    @property
    def hub(self):  # -> cocalc_api_tests.client.Hub
        """The session's hub client."""
        return self.session.hub

    @property
    def project(self):  # -> cocalc_api_tests.client.Project
        """The Project client of the shared project (started on first use)."""
        return self.session.project

    @property
    def project_id(self) -> str:
        """The shared project's id."""
        return self.session.project_id

    def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``method(*args, **kwargs)``; a server error fails the test, naming call and answer."""
        try:
            return method(*args, **kwargs)
        except CoCalcAPIError as err:
            self.fail(f"{err.describe()} [client call {remote_name(method)}({_brief_args(args, kwargs)})]")

    def assertCallFails(self, method: Callable, *args: Any, contains: str, **kwargs: Any) -> CoCalcAPIError:
        """Assert that the call is answered with an error whose text contains *contains*."""
        try:
            answer = method(*args, **kwargs)
        except CoCalcAPIError as err:
            self.assertIn(contains, err.message, f"{err.describe()}; expected an error containing {contains!r}")
            return err
        self.fail(f"{remote_name(method)}({_brief_args(args, kwargs)}) answered {answer!r}; expected an error containing {contains!r}")

    def poll_call(
        self,
        method: Callable[..., T],
        *args: Any,
        accept: Callable[[T], bool] = lambda value: True,
        timeout: float = EVENTUAL_WAIT,
        what: str = "",
        **kwargs: Any,
    ) -> T:
        """Repeat the call until *accept* approves its answer; fail with the last answer at the deadline."""
        description = what or f"{remote_name(method)}({_brief_args(args, kwargs)})"
        try:
            return poll(lambda: method(*args, **kwargs), timeout=timeout, accept=accept, what=description)
        except CoCalcAPIError as err:
            self.fail(f"{description} kept failing for {timeout:g} s: {err.describe()}")
        except TimeoutError as err:
            self.fail(str(err))

    def exec_ok(self, command: str, *, project: Any = None, **kwargs: Any) -> Dict[str, Any]:
        """Run *command* in *project* (default: the shared one); fail unless it exits 0."""
        client = project or self.project
        result = self.call(client.system.exec, command, **kwargs)
        self.assertEqual(result.get("exit_code"), 0, f"system.exec({command!r}) answered {result!r}")
        return result

    def unique_name(self, prefix: str) -> str:
        """A name unique to this run and call (at most 39 characters)."""
        return self.session.unique_name(prefix)

    def unique_email(self, prefix: str = "user") -> str:
        """An e-mail address no other account has."""
        return f"{self.unique_name(prefix)}@test.local"

    def create_other_account(self, **kwargs: Any) -> str:
        """Another account, made inside a new organization (both tracked); its id.

        *kwargs* go to ``org.createUser`` (``firstName``, ``lastName``, ``email``).
        """
        org_name = self.unique_name("org")
        self.call(self.create_tracked_org, org_name)
        return self.call(self.create_tracked_user, org_name, **kwargs)

    def sent_message(self, match: Callable[[Dict[str, Any]], bool], what: str) -> Dict[str, Any]:
        """Wait for a message that *match* approves among the caller's sent messages; track and return it."""
        sent = self.poll_call(
            self.hub.messages.get,
            type="sent",
            limit=50,
            accept=lambda rows: any(match(m) for m in rows),
            what=f"{what} among the sender's sent messages",
        )
        message = next(m for m in sent if match(m))
        self.track_message(message["id"])
        return message

    def project_row(self, project_id: str, *fields: str, all: bool = True) -> Dict[str, Any]:
        """The row of *project_id* read through ``db.userQuery`` (``projects_all`` by default)."""
        rows = self.call(self.hub.projects.get, fields=("project_id",) + fields, all=all, project_id=project_id)
        self.assertEqual(len(rows), 1, f"db.userQuery for project {project_id} answered {rows!r}")
        return rows[0]


class JupyterTestCase(APITestCase):
    """Helpers for running code on CoCalc's Jupyter kernels, through the hub or the project."""

    def execute_via_hub(self, code: str, history: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        """``jupyter.execute`` in the shared project; the output list of ``{"output": [...]}``.

        CoCalc may answer ``timeout`` while a kernel starts cold; that is retried.
        """
        answer = self._retry_cold(
            lambda: self.hub.jupyter.execute(code, KERNEL, history=history, project_id=self.project_id),
            f"jupyter.execute({code!r})",
        )
        self.assertIsInstance(answer, dict, f"jupyter.execute({code!r}) answered {answer!r}")
        self.assertIn("output", answer, f"jupyter.execute({code!r}) answered {answer!r}")
        return answer["output"]

    def execute_via_project(self, code: str, history: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        """``system.jupyterExecute`` on the shared project: the bare output list."""
        answer = self._retry_cold(
            lambda: self.project.system.jupyter_execute(code, KERNEL, history=history),
            f"system.jupyterExecute({code!r})",
        )
        self.assertIsInstance(answer, list, f"system.jupyterExecute({code!r}) answered {answer!r}")
        return answer

    def assertTextPlain(self, outputs: List[Dict[str, Any]], expected: str) -> None:
        """Some output's ``data["text/plain"]`` equals *expected*."""
        values = [o.get("data", {}).get("text/plain") for o in outputs if isinstance(o, dict)]
        self.assertIn(expected, values, f"no text/plain {expected!r} in outputs {outputs!r}")

    def running_kernels(self) -> List[Dict[str, Any]]:
        """``system.listJupyterKernels`` of the shared project, with each entry's shape checked."""
        kernels = self.call(self.project.system.list_jupyter_kernels)
        self.assertIsInstance(kernels, list, f"system.listJupyterKernels answered {kernels!r}")
        for kernel in kernels:
            with self.subTest(kernel=kernel):
                self.assertIsInstance(kernel.get("pid"), int)
                self.assertGreater(kernel["pid"], 0)
                self.assertIsInstance(kernel.get("connectionFile"), str)
                self.assertTrue(kernel["connectionFile"].endswith(".json"), f"kernel entry {kernel!r}")
        return kernels

    def stop_a_kernel(self) -> None:
        """Make sure a kernel runs, stop it, and see it leave the list of running kernels."""
        self.execute_via_project("1 + 1")
        kernels = self.running_kernels()
        self.assertTrue(kernels, "a kernel just ran, yet system.listJupyterKernels lists none")
        pid = kernels[0]["pid"]
        answer = self.call(self.project.system.stop_jupyter_kernel, pid)
        self.assertEqual(answer, {"success": True}, f"system.stopJupyterKernel({pid}) answered {answer!r}")
        self.poll_call(
            self.project.system.list_jupyter_kernels,
            accept=lambda running: pid not in [k.get("pid") for k in running],
            what=f"kernel {pid} gone from system.listJupyterKernels",
        )

    def _retry_cold(self, attempt: Callable[[], T], what: str) -> T:
        def once() -> T:
            try:
                return attempt()
            except CoCalcAPIError as err:
                if err.message.strip() == "timeout":
                    raise _ColdKernel(err) from None
                raise

        try:
            return poll(once, timeout=JUPYTER_WAIT, interval=1.0, retry_on=(_ColdKernel,), what=what)
        except _ColdKernel as err:
            self.fail(f"{what} still answered 'timeout' after {JUPYTER_WAIT:g} s: {err.error.describe()}")
        except CoCalcAPIError as err:
            self.fail(err.describe())


class _ColdKernel(Exception):
    """CoCalc answered ``timeout`` while a kernel was starting."""

    def __init__(self, error: CoCalcAPIError):
        super().__init__(error.message)
        self.error = error

"""What the API test modules share: a base TestCase, the CI skip, polling, background work and Jupyter.

Every test module starts the same way::

    from .support import APITestCase, prepare

    def setUpModule():
        prepare()            # the session, and the shared project starting in the background

    class TestSomething(APITestCase):
        def test_it(self):
            answer = self.call(self.hub.system.ping)

:meth:`APITestCase.call` turns a server error into a test failure that names
the call, its arguments and the server's answer.  Modules that never use the
shared project call ``get_session()`` instead of :func:`prepare`.
"""
import contextlib
import datetime
import functools
import unittest
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import requests

from .calllog import CallLog
from .client import Hub, Project
from .config import ci_from_env
from .errors import CoCalcAPIError, CoCalcError
from .mixin import TrackedResourcesMixin
from .poll import StillTransient, poll, retry_transient
from .session import Session, get_session, start_and_ping

T = TypeVar("T")

#: Why the Jupyter tests do not run when ``CI`` is true.
JUPYTER_SKIP_REASON = "CI=true: Jupyter kernels are skipped on CI machines (unset CI to run them)"
#: Decorator for the Jupyter tests.
skip_on_ci = unittest.skipIf(ci_from_env(), JUPYTER_SKIP_REASON)

#: Seconds to wait for something the server does eventually (a project start, a stop).
EVENTUAL_WAIT = 120.0
#: Seconds one Jupyter execution may take in all, retries of timed-out attempts included
#: (CoCalc's own suite survives stalls of up to three 90 s timeouts).
JUPYTER_BUDGET = 300.0
#: Seconds a background job may still take when a test waits for it.
BACKGROUND_WAIT = 600.0
#: How far the server's clock may be from ours.
CLOCK_SKEW = 60.0
#: Seconds a signalled process may take to disappear.
PROCESS_EXIT_WAIT = 30.0
#: Seconds a plain page of the server (not the API) may take to answer.
HTTP_GET_TIMEOUT = 60.0
#: The kernel the Jupyter tests use.
KERNEL = "python3"

#: The 13 calls of CoCalc's ``org`` API.
ORG_CALLS = (
    "org.getAll", "org.create", "org.get", "org.set", "org.addAdmin", "org.addUser", "org.createUser",
    "org.createToken", "org.expireToken", "org.getUsers", "org.removeUser", "org.removeAdmin", "org.message",
)
#: The bridge's answer to a key it does not accept (a bogus key, an org token).
BAD_KEY_ERROR = "must be signed in and MUST provide an api key"

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
#: What the background warm-up runs first on a fresh kernel; its answer is checked by a test.
WARM_UP_CODE = "sum(range(100))"


def prepare(jupyter: bool = True) -> Session:
    """The session, with the shared project (and, unless ``CI`` or *jupyter* is false, a kernel) starting.

    Call it from ``setUpModule``: whichever module runs first starts the work,
    so a cold project or kernel overlaps the tests that do not need them.
    """
    session = get_session()
    session.start_shared_project()
    if jupyter and not session.config.ci:
        session.background.submit("jupyter warm-up", lambda: warm_up_kernel(session))
    return session


def warm_up_kernel(session: Session) -> Dict[str, Any]:
    """Make sure the shared project can run Python kernels, then run :data:`WARM_UP_CODE` once.

    Returns every step's answer (``install``, ``register``, ``first``) for the tests to check;
    a step's error is returned in its place, so each test reports its own step.
    """
    project = session.project
    steps: Dict[str, Any] = {}
    for step, command, kwargs in (
        ("install", INSTALL_IPYKERNEL, {"bash": True, "timeout": INSTALL_TIMEOUT}),
        ("register", "python3", {"args": REGISTER_KERNEL, "timeout": 120}),
    ):
        try:
            steps[step] = project.system.exec(command, **kwargs)
        except CoCalcError as err:
            steps[step] = err
            return steps
    with session.kernels.shared(), session.calls.retrying():
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


def background_project(session: Session, job: str, *, start: bool = False, **create: Any) -> Any:
    """Create a tracked project (and start it, until it answers a ping) in the background, as job *job*.

    The job's result is ``{"project_id", "title", "start"}``: ``start`` is what
    ``projects.start`` answered (absent unless *start*).  A test waits for it with
    :meth:`APITestCase.prepared`; a failing step fails that test, naming the call.
    """

    def work() -> Dict[str, Any]:
        create.setdefault("title", session.unique_name(job.split()[-1][:12]))
        made: Dict[str, Any] = {"project_id": session.create_project(**create), "title": create["title"]}
        if start:
            made["start"] = session.hub.projects.start(made["project_id"])
            start_and_ping(session.hub, made["project_id"], start=False).close()
        return made

    return session.background.submit(job, work)


def remote_name(method: Callable) -> str:
    """The remote call a client method makes (``"org.get"``), or its Python name."""
    return getattr(method, "remote_name", getattr(method, "__name__", repr(method)))


def _brief_args(args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts)


def parse_time(text: str) -> datetime.datetime:
    """An ISO time as CoCalc sends it (``2026-11-24T21:36:52.685Z``), timezone-aware."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class APITestCase(TrackedResourcesMixin, unittest.TestCase):
    """Base class of the API tests: the session's clients and error-aware call helpers."""

    def setUp(self) -> None:
        super().setUp()
        token = CallLog.test(self.id())
        token.__enter__()
        self.addCleanup(token.__exit__, None, None, None)

    @property
    def hub(self):  # -> cocalc_api_tests.client.Hub
        """The session's hub client."""
        return self.session.hub

    @property
    def project(self):  # -> cocalc_api_tests.client.Project
        """The Project client of the shared project (once it answers)."""
        return self.prepared("shared project", self.session.start_shared_project)

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
        """Repeat the call until *accept* approves its answer; fail with the last answer at the deadline.

        Only transient errors (timeouts) are retried: a refusal fails the test at once.
        """
        description = what or f"{remote_name(method)}({_brief_args(args, kwargs)})"
        try:
            return poll(lambda: method(*args, **kwargs), timeout=timeout, accept=accept, what=description)
        except CoCalcAPIError as err:
            verb = "kept timing out" if err.transient else "failed"
            self.fail(f"{description} {verb} ({timeout:g} s at most): {err.describe()}")
        except TimeoutError as err:
            self.fail(str(err))

    def prepared(self, name: str, start: Callable[[], Any]) -> Any:
        """The result of background job *name* (started by *start* if nobody did); its failure fails the test."""
        job = self.session.background.get(name) or start()
        try:
            return job.result(timeout=BACKGROUND_WAIT)
        except CoCalcAPIError as err:
            self.fail(f"background work {name!r} failed: {err.describe()}")
        except CoCalcError as err:
            self.fail(f"background work {name!r} failed: {err}")
        except TimeoutError:
            self.fail(f"background work {name!r} did not finish within {BACKGROUND_WAIT:g} s")

    def exec_ok(self, command: str, *, project: Any = None, **kwargs: Any) -> Dict[str, Any]:
        """Run *command* in *project* (default: the shared one); fail unless it exits 0."""
        client = project or self.project
        result = self.call(client.system.exec, command, **kwargs)
        self.assertEqual(result.get("exit_code"), 0, f"system.exec({command!r}) answered {result!r}")
        return result

    def unique_name(self, prefix: str) -> str:
        """A name unique to this run and call (at most 39 characters)."""
        return self.session.unique_name(prefix)

    def scratch_path(self, name: str) -> str:
        """A path, relative to the shared project's home, for a file this test writes there.

        Every such path lies in the run's own scratch folder, which exists and is
        removed at exit (also from a project named by ``COCALC_PROJECT_ID``).
        """
        return f"{self.call(lambda: self.session.scratch_dir)}/{name}"

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

    def assertRecent(self, moment: datetime.datetime, what: str, since: Optional[float] = None) -> None:
        """*moment* lies within :data:`CLOCK_SKEW` of now (and not before *since*, a ``time.time()``, if given)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((moment - now).total_seconds()), CLOCK_SKEW, f"{what} is {moment}, but now is {now}")
        if since is not None:
            self.assertGreaterEqual(moment.timestamp(), since - CLOCK_SKEW, f"{what} is {moment}, before this run began")

    def assertRecentMs(self, value: Any, what: str, since: Optional[float] = None) -> None:
        """*value* is a time in milliseconds since the epoch (an int) within :data:`CLOCK_SKEW` of now."""
        self.assertIsInstance(value, int, f"{what} is {value!r}, not milliseconds since the epoch")
        self.assertRecent(datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc), what, since)

    def http_get(self, path: str, **params: str) -> requests.Response:
        """``GET {host}{path}?params`` as a browser makes it: no API key, no cookies."""
        return requests.get(self.session.config.host + path, params=params, timeout=HTTP_GET_TIMEOUT)

    def assertSignInRefused(self, token: str) -> None:
        """CoCalc's sign-in link ``/auth/impersonate`` refuses *token* as unknown or expired.

        Never call it with a live token: opening the link with one signs in (a ``remember_me`` row).
        """
        page = self.http_get("/auth/impersonate", auth_token=token)
        expected = f"ERROR: impersonate error -- Error: unknown or expired token: '{token}'"
        self.assertEqual((page.status_code, page.text), (200, expected), f"GET /auth/impersonate?auth_token={token}")

    def assertProbesPass(self, probes: Dict[str, Callable[[Any], None]], names: Sequence[str] = ()) -> None:
        """Run the probes of :mod:`cocalc_api_tests.probes` named *names* (default: all), each as a subtest."""
        for name in sorted(names or probes):
            with self.subTest(call=name):
                probes[name](self)


# ------------------------------------------------------- site admins, keys and refusals

#: Why the tests of admin-only calls do not run for other keys.
NOT_ADMIN_REASON = "the API key is not a site admin's ('admin' is not in its accounts.groups); admin-only calls untested"
#: Seconds CoCalc may go on accepting a deleted or expired API key (its key lookup is cached for 15 s).
KEY_CACHE_WAIT = 45.0


@functools.lru_cache(maxsize=None)
def key_is_site_admin(session: Session) -> bool:
    """Whether the session's key is a site admin's: one ``db.userQuery`` of ``accounts.groups``, asked once."""
    if not session.account_id:
        return False
    answer = session.hub.db.query({"accounts": {"groups": None}})
    return "admin" in ((answer.get("accounts") or {}).get("groups") or [])


class ScopedProject(Project):
    """A client of ``/api/conat/project`` that sends ``project_id`` only when it has one.

    A project-scoped key names its project itself, so its calls may leave ``project_id`` out.
    """

    def __init__(self, api_key: str, host: str, project_id: Optional[str] = None, **kwargs: Any):
        super().__init__(api_key, host, project_id, **kwargs)  # type: ignore[arg-type]

    def _body(self, name: str, args: List[Any], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body = super()._body(name, args, timeout_ms)
        if self.project_id is None:
            del body["project_id"]
        return body


class KeyTestCase(APITestCase):
    """Helpers for tests that call the bridges with other keys and wait for refusals."""

    def hub_with_key(self, api_key: str) -> Hub:
        """A hub client using *api_key* (closed after the test)."""
        client = Hub(api_key, self.session.config.host)
        self.addCleanup(client.close)
        return client

    def project_with_key(self, api_key: str, project_id: Optional[str] = None) -> ScopedProject:
        """A project-endpoint client using *api_key*, naming *project_id* only if given (closed after the test)."""
        client = ScopedProject(api_key, self.session.config.host, project_id)
        self.addCleanup(client.close)
        return client

    def assertRefusedWithin(self, method: Callable, *args: Any, contains: str, timeout: float, **kwargs: Any) -> str:
        """Repeat the call until it is refused with an error containing *contains*; the error text."""
        description = f"{remote_name(method)}({_brief_args(args, kwargs)})"

        def attempt() -> Optional[str]:
            try:
                method(*args, **kwargs)
            except CoCalcAPIError as err:
                if err.transient:
                    raise
                return err.message
            return None

        try:
            text = poll(attempt, timeout=timeout, interval=1.0, accept=lambda t: t is not None, what=f"refusal of {description}")
        except (TimeoutError, CoCalcError) as err:
            self.fail(f"{description} was still not refused after {timeout:g} s: {err}")
        self.assertIn(contains, text, f"{description} was refused with {text!r}; expected {contains!r}")
        return text


class SiteAdminTestCase(APITestCase):
    """Tests of calls that only site admins may make; skipped, with the reason, for any other key."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if not key_is_site_admin(get_session()):
            raise unittest.SkipTest(NOT_ADMIN_REASON)


class JupyterTestCase(APITestCase):
    """Running code on CoCalc's Jupyter kernels, through the hub or the project.

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
        session = self.session
        return self.prepared("jupyter warm-up", lambda: session.background.submit("jupyter warm-up", lambda: warm_up_kernel(session)))

    @contextlib.contextmanager
    def kernel(self) -> Iterator[None]:
        """Use the project's kernels (with other tests, never during a kernel stop), once the warm-up is done."""
        self.warm_up()
        with self.session.kernels.shared():
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
        """Stop a running kernel (started first if none runs) and see it leave the list of running kernels.

        The stop holds the kernels alone: no other test's execution is in flight or begins meanwhile.
        """
        self.warm_up()
        with self.session.kernels.alone():
            kernels = self.running_kernels()
            if not kernels:
                self.assertTextPlain(self.execute_via_project("1 + 1"), "2")
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


class ProjectTestCase(APITestCase):
    """Working inside the shared project: its home folder, a folder per test, its processes."""

    def project_home(self, physical: bool = False) -> str:
        """The shared project's home folder as ``$HOME`` names it (symlinks resolved if *physical*)."""
        command = 'cd "$HOME" && pwd -P' if physical else 'printf "%s\\n" "$HOME"'
        return self.exec_ok(command, bash=True)["stdout"].rstrip("\n")

    def new_folder_name(self, prefix: str) -> str:
        """A new folder name (not yet made) for this test, inside the run's scratch folder."""
        return self.scratch_path(self.unique_name(prefix))

    def write_file(self, path: str, content: str) -> str:
        """Write *content* to *path* with ``system.writeTextFileToProject`` (which answers null); *path*."""
        answer = self.call(self.project.system.write_text_file_to_project, path, content)
        self.assertIsNone(answer, f"system.writeTextFileToProject({path!r}) answered {answer!r}")
        return path

    def read_file(self, path: str) -> str:
        """The text of *path* through ``system.readTextFileFromProject``."""
        return self.call(self.project.system.read_text_file_from_project, path)

    def listing_by_name(self, folder: str, hidden: Optional[bool] = None) -> Dict[str, Dict[str, Any]]:
        """``system.listing`` of *folder* as ``{name: entry}`` (each name listed once)."""
        listing = self.call(self.project.system.listing, folder, hidden=hidden)
        self.assertIsInstance(listing, list, f"system.listing({folder!r}) answered {listing!r}")
        names = [entry.get("name") for entry in listing]
        self.assertEqual(len(names), len(set(names)), f"system.listing({folder!r}) lists a name twice: {names}")
        return {entry["name"]: entry for entry in listing}

    def process_alive(self, pid: int) -> bool:
        """Whether process *pid* exists in the shared project (``kill -0``)."""
        return self.call(self.project.system.exec, f"kill -0 {int(pid)}", bash=True, err_on_exit=False)["exit_code"] == 0

    def wait_process_gone(self, pid: int, what: str, timeout: float = PROCESS_EXIT_WAIT) -> None:
        """Wait until process *pid* (*what*) no longer exists in the shared project."""
        self.poll_call(
            self.project.system.exec,
            f"kill -0 {int(pid)}",
            bash=True,
            err_on_exit=False,
            accept=lambda result: result.get("exit_code") != 0,
            timeout=timeout,
            what=f"{what} (pid {pid}) gone from the project",
        )

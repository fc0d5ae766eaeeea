"""The shared temporary project and the project API: ping, exec, Jupyter kernel processes."""
import datetime
import time
import uuid

from .client import Project
from .session import TEMP_PROJECT_PREFIX
from .wordings import NOT_PROJECT_COLLABORATOR
from .support import EVENTUAL_WAIT, KERNELS, JupyterTestCase, background_project, parse_time, prepare, skip_on_ci

#: A project made (not started) for the ping test, so that its ping is the first call to reach it.
PING_PROJECT = "test_project ping"
#: Why the kernel list is not checked with ``CI=true`` in a project named by ``COCALC_PROJECT_ID``.
THEIR_KERNELS_REASON = (
    "CI=true and COCALC_PROJECT_ID: no test of this run starts a kernel, and the kernels that project runs are its own, "
    "so no list of running kernels is known to check"
)


def setUpModule() -> None:
    background_project(prepare(), PING_PROJECT)


class TestSharedProject(JupyterTestCase):
    """The project the whole run shares."""

    def test_shared_project(self) -> None:
        project_id = self.project_id
        self.assertEqual(str(uuid.UUID(project_id)), project_id)
        row = self.project_row(project_id, "title", "description")
        if self.session.config.project_id is None:
            self.assertTrue(row.get("title", "").startswith(TEMP_PROJECT_PREFIX), f"shared project row: {row!r}")
            self.assertIn("cocalc-api-tests", row.get("description", ""), f"shared project row: {row!r}")
        else:
            self.assertEqual(project_id, self.session.config.project_id)

    def test_in_full_project_list(self) -> None:
        project_id = self.project_id  # first: the shared project may still be in the making
        projects = self.call(self.hub.projects.get, all=True)
        self.assertIn(project_id, [p.get("project_id") for p in projects])


class TestProjectSystem(JupyterTestCase):
    """``/api/conat/project`` calls on the shared project."""

    def test_ping(self) -> None:
        """The project's clock is ours, and the bridge records the caller's activity on the project.

        The activity is seen on a new project that no call has reached before this ping (CoCalc
        records a caller's activity on a project at most once a minute, so the shared project's
        ``last_active`` may be any earlier call's); the ping also starts it.
        """
        answer = self.call(self.project.system.ping)
        self.assertRecentMs(answer.get("now"), "project system.ping's now")
        project_id = self.prepared(PING_PROJECT, lambda: background_project(self.session, PING_PROJECT))["project_id"]
        me = self.session.account_id
        last_active = lambda: self.project_row(project_id, "last_active").get("last_active") or {}
        self.assertNotIn(me, last_active(), f"last_active of project {project_id}, which no call has reached yet")
        before = time.time()
        client = self.session.client(self.session.config.api_key, project_id)
        first = self.poll_call(client.system.ping, timeout=EVENTUAL_WAIT, what=f"the first ping of project {project_id}")
        self.assertIsInstance(first, dict, f"the first ping of project {project_id} answered {first!r}")
        self.assertRecentMs(first.get("now"), "the first ping's now")
        seen = last_active()
        self.assertIn(me, seen, f"last_active of project {project_id} after its first ping: {seen!r}")
        self.assertRecent(parse_time(seen[me]), f"last_active[{me}] after the first ping", before)

    def test_client_keeps_id_key_and_host(self) -> None:
        """A new Project client reaches its own project (and a stranger's is refused); hub calls are unknown there."""
        config = self.session.config
        client = Project(config.api_key, config.host, self.project_id)  # built by hand: the class is the point
        self.addCleanup(client.close)
        scope = self.call(client.system.test)
        self.assertEqual(scope.get("project_id"), self.project_id, f"project system.test answered {scope!r}")
        self.assertRecentMs(scope.get("server_time"), "project system.test's server_time")
        stranger = self.session.client(config.api_key, str(uuid.uuid4()))
        self.assertCallFails(stranger.system.ping, contains=NOT_PROJECT_COLLABORATOR)
        self.assertCallFails(
            client.call, "projects.state", [{"project_id": self.project_id}], contains="Error: unknown function 'projects.state'"
        )

    def test_shared_client_answers(self) -> None:
        self.assertEqual(self.project.project_id, self.project_id)
        self.assertIn("now", self.call(self.project.system.ping))
        scope = self.call(self.project.system.test)
        self.assertEqual(scope.get("project_id"), self.project_id, f"project system.test answered {scope!r}")

    def test_exec_date(self) -> None:
        result = self.exec_ok("date", args=["-Is"])
        self.assertEqual(result["stderr"], "")
        self.assertRecent(datetime.datetime.fromisoformat(result["stdout"].strip()), "the project's clock (date -Is)")

    def test_exec_error_carries_code_and_stderr(self) -> None:
        marker = f"stderr-{uuid.uuid4().hex[:8]}"
        error = self.assertCallFails(
            self.project.system.exec, f"echo '{marker}' >&2; exit 42", bash=True, contains="exited with nonzero code 42"
        )
        self.assertIn(f"stderr='{marker}", error.message)

    def test_list_jupyter_kernels(self) -> None:
        """The running kernels: none where no test ran one (CI=true), else at least the one an execution just used."""
        config = self.session.config
        if config.ci:
            if config.project_id:
                self.skipTest(THEIR_KERNELS_REASON)
            self.assertEqual(self.running_kernels(), [], "with CI=true no test runs a kernel, so the run's new project runs none")
            return
        self.warm_up()  # before the kernels are held alone: the warm-up's own execution needs them
        with KERNELS.alone():  # no kernel stop between the execution and the list (as in stop_a_kernel)
            self.assertTextPlain(self.execute_via_project("1 + 1"), "2")
            kernels = self.running_kernels()
        self.assertTrue(kernels, "a kernel just ran, yet system.listJupyterKernels lists none")
        pids = [kernel["pid"] for kernel in kernels]
        self.assertEqual(len(pids), len(set(pids)), f"a pid is listed twice: {pids}")

    @skip_on_ci
    def test_stop_jupyter_kernel(self) -> None:
        self.stop_a_kernel()

"""The shared temporary project and the project API: ping, exec, Jupyter kernel processes."""
import datetime
import uuid

from .client import Project
from .session import TEMP_PROJECT_PREFIX
from .wordings import NOT_PROJECT_COLLABORATOR
from .support import CLOCK_SKEW, JupyterTestCase, parse_time, prepare, skip_on_ci

#: Seconds CoCalc lets pass before it records an account's activity on a project again.
TOUCH_THROTTLE = 60.0


def setUpModule() -> None:
    prepare()


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
        """The project's clock is ours, and the bridge records the caller's activity on the project."""
        answer = self.call(self.project.system.ping)
        self.assertRecentMs(answer.get("now"), "project system.ping's now")
        me = self.session.account_id
        last_active = self.project_row(self.project_id, "last_active").get("last_active") or {}
        self.assertIn(me, last_active, f"last_active after a project call: {last_active!r}")
        age = (datetime.datetime.now(datetime.timezone.utc) - parse_time(last_active[me])).total_seconds()
        self.assertTrue(
            -CLOCK_SKEW < age < TOUCH_THROTTLE + CLOCK_SKEW, f"last_active[{me}] is {last_active[me]}, {age:.0f} s ago"
        )

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
        pids = [kernel["pid"] for kernel in self.running_kernels()]
        self.assertEqual(len(pids), len(set(pids)), f"a pid is listed twice: {pids}")

    @skip_on_ci
    def test_stop_jupyter_kernel(self) -> None:
        self.stop_a_kernel()

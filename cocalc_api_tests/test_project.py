"""The shared temporary project and the project API: ping, exec, Jupyter kernel processes."""
import datetime
import uuid

from .client import Project
from .session import TEMP_PROJECT_PREFIX, get_session
from .support import JupyterTestCase, skip_on_ci

#: How far the project's clock may be from ours.
CLOCK_SKEW = 60.0


def setUpModule() -> None:
    get_session()


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
        projects = self.call(self.hub.projects.get, all=True)
        self.assertIn(self.project_id, [p.get("project_id") for p in projects])


class TestProjectSystem(JupyterTestCase):
    """``/api/conat/project`` calls on the shared project."""

    def test_ping(self) -> None:
        answer = self.call(self.project.system.ping)
        self.assertIsInstance(answer.get("now"), int, f"project system.ping answered {answer!r}")

    def test_client_keeps_id_key_and_host(self) -> None:
        config = self.session.config
        client = Project(config.api_key, config.host, self.project_id)
        self.addCleanup(client.close)
        self.assertEqual((client.project_id, client.host), (self.project_id, config.host))
        self.assertTrue(client.api_key == config.api_key, "the Project client did not keep its API key")
        self.assertEqual(client.url, config.host + "/api/conat/project")
        self.assertFalse(config.api_key in repr(client), "repr(Project) shows the API key")

    def test_shared_client_answers(self) -> None:
        self.assertEqual(self.project.project_id, self.project_id)
        self.assertIn("now", self.call(self.project.system.ping))
        scope = self.call(self.project.system.test)
        self.assertEqual(scope.get("project_id"), self.project_id, f"project system.test answered {scope!r}")

    def test_exec_date(self) -> None:
        result = self.exec_ok("date", args=["-Is"])
        self.assertEqual(result["stderr"], "")
        moment = datetime.datetime.fromisoformat(result["stdout"].strip())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((moment - now).total_seconds()), CLOCK_SKEW, f"project clock says {result['stdout']!r}")

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

"""A user's own project (``COCALC_PROJECT_ID``): what the Jupyter set-up leaves there is named at the end of the run.

The kernel set-up installs ipykernel (if missing) and registers the ``python3`` kernel
spec in the project; both stay, and the run's end must say so, one line each, naming
the project (``left in project … (COCALC_PROJECT_ID): …``).  The kernel spec the line
names must really be there afterwards (it was not before).  Nothing is named when the set-up did not run (``CI=true``) or the project was
the run's own.  Runs only ``test_jupyter.TestKernelSetup``, the set-up's own tests.
"""
import re
import tempfile
import unittest
from typing import Any, List, Optional, Tuple

from cocalc_api_tests.client import Project
from cocalc_api_tests.support.jupyter import LEFT_BEHIND

from helpers import needs_jupyter, start_standin, user_project
from suite_runner import PY, run, suite_environ, summary

ENV: Any = None
#: The tests of the kernel set-up: the smallest run that does it.
SET_UP_TESTS = "cocalc_api_tests.test_jupyter.TestKernelSetup"
#: Where ``ipykernel install --user`` registers the spec, relative to the project's home.
KERNEL_SPEC = ".local/share/jupyter/kernels/python3/kernel.json"
#: Each line the end of a run says about a project it does not own.
LEFT_LINE = re.compile(r"^cocalc-api-tests: left in project .*$", re.M)


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


@needs_jupyter
class TestLeftInUserProject(unittest.TestCase):
    def run_set_up(self, key: str, project_id: Optional[str], **extra: str) -> Tuple[str, List[str]]:
        """Run :data:`SET_UP_TESTS` (CI unset unless *extra* sets it); its stderr and its "left in project" lines."""
        with tempfile.TemporaryDirectory() as ledgers:
            environ = suite_environ(ENV.environ, ledgers, COCALC_API_KEY=key, **extra)
            if project_id:
                environ["COCALC_PROJECT_ID"] = project_id
            status, out, err = run([PY, "-m", "cocalc_api_tests", "run", "-v", SET_UP_TESTS], environ)
        self.assertEqual(status, 0, summary(out, err))
        return err, LEFT_LINE.findall(err)

    def in_home(self, key: str, project_id: str, command: str) -> str:
        """The stdout of *command* (bash) in the home of *project_id*."""
        project = Project(key, ENV.environ["COCALC_HOST"], project_id)
        self.addCleanup(project.close)
        return project.system.exec(command, bash=True, err_on_exit=False)["stdout"]

    def test_the_set_up_in_a_users_project_is_named_at_the_end(self) -> None:
        key, project_id = user_project(ENV)
        spec = f'test -f "$HOME/{KERNEL_SPEC}" && echo there || echo absent'
        self.assertEqual(self.in_home(key, project_id, spec), "absent\n", "a new project with a kernel spec of its own")
        err, lines = self.run_set_up(key, project_id)
        self.assertIn("test_register_kernelspec", err)
        expected = [f"cocalc-api-tests: left in project {project_id} (COCALC_PROJECT_ID): {LEFT_BEHIND[step]}"
                    for step in ("install", "register")]
        self.assertEqual(lines, expected, summary("", err))
        self.assertEqual(self.in_home(key, project_id, spec), "there\n", f"the line names {KERNEL_SPEC}, which is not there")

    def test_nothing_is_named_when_the_set_up_did_not_run(self) -> None:
        key, project_id = user_project(ENV)
        _, lines = self.run_set_up(key, project_id, CI="true")
        self.assertEqual(lines, [], "CI=true: no kernel set-up, so nothing left to name")

    def test_nothing_is_named_for_the_runs_own_project(self) -> None:
        key, _ = user_project(ENV)
        _, lines = self.run_set_up(key, None)
        self.assertEqual(lines, [], "a temporary project is the run's own and removed")

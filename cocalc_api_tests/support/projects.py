"""Projects for the tests: made (and started) in the background, and worked in through the project API."""
from typing import Any, Dict, Optional

from ..changes import start_project
from ..session import PROJECT_START_WAIT, Session, start_and_ping
from .core import APITestCase

#: Seconds a signalled process may take to disappear.
PROCESS_EXIT_WAIT = 30.0


def background_project(session: Session, job: str, *, start: bool = False, **create: Any) -> Any:
    """Create a tracked project (and start it, until it answers a ping) in the background, as job *job*.

    The job's result is ``{"project_id", "title", "start"}``: ``start`` is what
    ``projects.start`` answered (absent unless *start*), or a :class:`~cocalc_api_tests.poll.Settled`
    when it answered a timeout and the project was then seen running
    (:func:`~cocalc_api_tests.changes.start_project`).  A test waits for it with
    :meth:`APITestCase.prepared`; a failing step fails that test, naming the call.
    """

    def work() -> Dict[str, Any]:
        create.setdefault("title", session.unique_name(job.split()[-1][:12]))
        made: Dict[str, Any] = {"project_id": session.create_project(**create), "title": create["title"]}
        if start:
            made["start"] = start_project(session.hub, made["project_id"], wait=PROJECT_START_WAIT, log=session.calls)
            start_and_ping(session.hub, made["project_id"], start=False).close()
        return made

    return session.background.submit(job, work)


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

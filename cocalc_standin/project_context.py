"""What a project call of the stand-in works with: the running project's home, environment and state."""
from typing import Any, Callable, Dict, TypeVar

T = TypeVar("T")


class ProjectContext:
    """One running project as its API calls see it (the project is started first if needed).

    What CoCalc's project process keeps in memory while it runs (cached
    configuration, kernel data, logos, terminals) is :meth:`kept` in the run's
    ``state``; it goes when the project stops (what has a ``shutdown()`` is shut down).
    """

    def __init__(self, projects: Any, project_id: str):
        self.project_id = project_id
        self.home: str = projects.home(project_id)
        self.runtime = projects.runtime(project_id)
        self._projects = projects

    @property
    def env(self) -> Dict[str, str]:
        """The environment of the project's processes."""
        return self.runtime.env

    @property
    def jobs(self) -> Any:
        """The project's asynchronous ``exec`` jobs (:class:`~.execute.AsyncJobs`)."""
        return self.runtime.jobs

    def kernels(self) -> Any:
        """The project's Jupyter ``KernelManager``."""
        return self._projects.kernels(self.project_id)

    def terminals(self) -> Any:
        """The project's terminal sessions (:class:`~.terminals.Terminals`)."""
        from .terminals import Terminals

        return self.kept("terminals", lambda: Terminals(self.home, self.env))

    def kept(self, key: str, make: Callable[[], T]) -> T:
        """The object the running project keeps under *key*, made by *make* the first time."""
        runtime = self.runtime
        with runtime.lock:
            if key not in runtime.state:
                runtime.state[key] = make()
            return runtime.state[key]


"""Server work started early and waited for later: named jobs on daemon threads.

A test module starts what its tests will need (a project created and started,
a kernel warmed up) in ``setUpModule`` or ``setUpClass``; the test then waits
only for what is left::

    jobs = Background()
    jobs.submit("lifecycle project", lambda: make_and_start_project())   # returns at once
    ...
    project_id = jobs.result("lifecycle project", timeout=300)          # re-raises the job's error

Submitting a name twice returns the first job, so every module may ask for the
same shared work.  Jobs run on daemon threads (never joined at exit, unlike
``concurrent.futures``' pools), and the calls they make are attributed to
``background: <name>`` in the run's report of slow calls.
"""
import concurrent.futures
import threading
from typing import Any, Callable, Dict, Optional

from .calllog import CallLog


class Background:
    """Named background jobs of one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: Dict[str, "concurrent.futures.Future[Any]"] = {}

    def submit(self, name: str, work: Callable[[], Any]) -> "concurrent.futures.Future[Any]":
        """Start *work* under *name* unless a job of that name exists; the job's future."""
        with self._lock:
            if name in self._jobs:
                return self._jobs[name]
            future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
            self._jobs[name] = future
        future.set_running_or_notify_cancel()

        def run() -> None:
            with CallLog.test(f"background: {name}"):
                try:
                    future.set_result(work())
                except BaseException as err:  # handed to whoever waits for the job
                    future.set_exception(err)

        threading.Thread(target=run, name=f"background {name}", daemon=True).start()
        return future

    def get(self, name: str) -> Optional["concurrent.futures.Future[Any]"]:
        """The job called *name*, if it was submitted."""
        with self._lock:
            return self._jobs.get(name)

    def result(self, name: str, timeout: Optional[float] = None) -> Any:
        """Wait for job *name* and return its result, or raise its error (``KeyError`` if never submitted)."""
        job = self.get(name)
        if job is None:
            raise KeyError(f"no background job {name!r} was started")
        return job.result(timeout=timeout)

"""A project's start and stop, seen through to their end, however loaded the server is.

CoCalc's bridge waits 15 s for a call; under load a project's start or stop takes
longer, and the bridge answers a timeout while the change goes on.  These helpers
treat that answer as what it is, a change still in progress, and follow
``projects.state`` until the project is running (or stopped), within the wait,
making the change again when it is still not seen done after :data:`AGAIN` seconds
(a busy hub may drop it) (:func:`~cocalc_api_tests.poll.settle`)::

    start_project(hub, project_id, wait=120, log=session.calls)   # None, or a Settled
    stop_project(hub, project_id, wait=120)

A refusal is raised at once; a change not seen done in time raises
:class:`~cocalc_api_tests.errors.NotSettled`.  With *log* (the run's
:class:`~cocalc_api_tests.calllog.CallLog`), a change that needed the wait is
reported with the slow calls, as one entry.
"""
import contextlib
from typing import Any, Callable, Optional, Sequence

from .calllog import CallLog
from .client import Hub
from .poll import settle

#: Remote calls that may be asked again when CoCalc answers a timeout: they read, or they land
#: the same however often they are made.  (A call that changes state otherwise is seen through
#: by reading its state, as :func:`change_project` does; one that creates is the custody's.)
REPEATABLE = frozenset({
    # the hub
    "system.ping", "system.test", "system.getNames", "system.userSearch", "system.getCustomize",
    "projects.state", "projects.status", "projects.touch",
    "db.userQuery", "db.touch", "db.fileUseTimes", "db.getLegacyTimeTravelInfo", "db.getLegacyTimeTravelPatches",
    "db.removeBlobTtls", "messages.get", "purchases.getBalance", "purchases.getMinBalance", "sync.history",
    "jupyter.kernels", "org.get", "org.getAll", "org.getUsers",
    # a project
    "system.version", "system.configuration", "system.listing", "system.realpath", "system.canonicalPaths",
    "system.readTextFileFromProject", "system.writeTextFileToProject", "system.listJupyterKernels",
    "editor.jupyterKernels", "editor.jupyterKernelLogo", "editor.formatterString",
})
#: Seconds after which a start or stop still not seen done is made again (a busy hub may drop
#: the change it answered a timeout for; both land the same however often they are made).
AGAIN = 30.0
#: The state of a started project.
RUNNING = ("running",)
#: The states of a project that is not running (CoCalc's stop ends in "opened").
STOPPED = ("opened", "closed", "archived")


def in_state(states: Sequence[str]) -> Callable[[Any], bool]:
    """A check of a ``projects.state`` answer: is the project in one of *states*?"""
    return lambda answer: isinstance(answer, dict) and answer.get("state") in states


def change_project(
    hub: Hub, call: Callable[[str], Any], project_id: str, states: Sequence[str], *, wait: float,
    log: Optional[CallLog] = None,
) -> Any:
    """``call(project_id)`` (``hub.projects.start`` or ``.stop``), followed until the project is in *states*.

    Returns the call's answer, or a :class:`~cocalc_api_tests.poll.Settled` when it answered a timeout.
    """
    name = getattr(call, "remote_name", getattr(call, "__name__", "change"))
    with log.retrying() if log is not None else contextlib.nullcontext():
        return settle(
            lambda: call(project_id),
            read=lambda: hub.projects.state(project_id),
            accept=in_state(states),
            timeout=wait,
            what=f"{name}({project_id})",
            again=AGAIN,
            on_done=(lambda attempts: log.attempts(name, attempts)) if log is not None else None,
        )


def start_project(hub: Hub, project_id: str, *, wait: float, log: Optional[CallLog] = None) -> Any:
    """``projects.start``, seen through until the project is running; its answer (or a ``Settled``)."""
    return change_project(hub, hub.projects.start, project_id, RUNNING, wait=wait, log=log)


def stop_project(hub: Hub, project_id: str, *, wait: float, log: Optional[CallLog] = None) -> Any:
    """``projects.stop``, seen through until the project is stopped; its answer (or a ``Settled``)."""
    return change_project(hub, hub.projects.stop, project_id, STOPPED, wait=wait, log=log)

"""The project API (``/api/conat/project``): CoCalc's ``system``, ``editor`` and ``sync`` groups in one project.

CoCalc's project answers any export of its ``system``, ``editor`` and ``sync``
modules (``project/conat/api/index.ts``); an error is ``{"error": `${err}`}``,
so a JavaScript ``Error`` reads ``Error: ...`` while ``exec``'s own failures are
bare strings.  The bare name ``ping`` answers ``"pong"``.  Every call runs in
the started project (:class:`~.project_context.ProjectContext`); the calls
live in modules by area: :mod:`.project_files`, :mod:`.project_system`,
:mod:`.project_editor`, :mod:`.execute` and :mod:`.jupyter`.
"""
import time
from typing import Any, Callable, Dict, List

from . import project_editor, project_files, project_system
from .api_common import JsError, PlainError, answer, check_args, split_name, type_error
from .project_context import ProjectContext

#: The project API's ``system`` functions (``conat/project/api/system.ts``).
PROJECT_SYSTEM_NAMES = {
    "terminate", "version", "listing", "deleteFiles", "moveFiles", "renameFile", "realpath", "canonicalPaths",
    "writeTextFileToProject", "readTextFileFromProject", "configuration", "ping", "test", "exec", "signal",
    "jupyterExecute", "listJupyterKernels", "stopJupyterKernel",
}
#: Its ``editor`` and ``sync`` functions.
PROJECT_EDITOR_NAMES = set(project_editor.FUNCTIONS)
PROJECT_SYNC_NAMES = {"close"}

Function = Callable[[ProjectContext, List[Any]], Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ping(ctx: ProjectContext, args: List[Any]) -> Dict[str, int]:
    return {"now": _now_ms()}


def _test(ctx: ProjectContext, args: List[Any]) -> Dict[str, Any]:
    first = args[0] if args and isinstance(args[0], dict) else {}
    return {"project_id": first.get("project_id") or "", "server_time": _now_ms()}


def _exec(ctx: ProjectContext, args: List[Any]) -> Dict[str, Any]:
    from .execute import ExecError, run_command

    first = args[0] if args else None
    if first is None:
        raise type_error("Cannot read properties of undefined (reading 'compute_server_id')")
    try:
        return run_command(ctx.home, first if isinstance(first, dict) else {}, ctx.env, ctx.jobs)
    except ExecError as err:
        raise PlainError(str(err)) from None


def _kernel_call(run: Callable[[Any, Dict[str, Any]], Any], undefined_error: str = "") -> Function:
    """A ``system`` Jupyter call on the project's kernel manager; kernel errors keep their text."""

    def call(ctx: ProjectContext, args: List[Any]) -> Any:
        from .jupyter import KernelError

        first = args[0] if args else None
        if first is None and undefined_error:
            raise type_error(undefined_error)
        try:
            return run(ctx.kernels(), first if isinstance(first, dict) else {})
        except KernelError as err:
            raise PlainError(str(err)) from None

    return call


def _in_home(function: Callable[[str, List[Any]], Any]) -> Function:
    return lambda ctx, args: function(ctx.home, args)


def _close(ctx: ProjectContext, args: List[Any]) -> None:
    """``sync.close(path)``: a stub in CoCalc's project; nothing happens."""
    return None


FUNCTIONS: Dict[str, Dict[str, Function]] = {
    "system": dict(
        {name: _in_home(function) for name, function in project_files.FUNCTIONS.items()},
        **project_system.FUNCTIONS,
        ping=_ping,
        test=_test,
        exec=_exec,
        jupyterExecute=_kernel_call(
            lambda kernels, o: kernels.execute(o.get("kernel"), o.get("input"), o.get("history") or [], path=o.get("path")),
            "Cannot read properties of undefined (reading 'kernel')",
        ),
        listJupyterKernels=_kernel_call(lambda kernels, o: kernels.list_kernels()),
        stopJupyterKernel=_kernel_call(
            lambda kernels, o: {"success": kernels.stop_kernel(o.get("pid"))},
            "Cannot destructure property 'pid' of 'undefined' as it is undefined.",
        ),
    ),
    "editor": dict(project_editor.FUNCTIONS),
    "sync": {"close": _close},
}

_KNOWN = {"system": PROJECT_SYSTEM_NAMES, "editor": PROJECT_EDITOR_NAMES, "sync": PROJECT_SYNC_NAMES}


def call_project(app: Any, project_id: str, name: Any, args: Any) -> Any:
    """Run project API call *name* inside *project_id*; its result or ``{"error": ...}``."""
    if name == "ping":
        return "pong"

    def work() -> Any:
        group, function = split_name(name)
        if function not in _KNOWN.get(group, ()):
            raise JsError(f"unknown function '{name}'")
        implementation = FUNCTIONS[group].get(function)
        if implementation is None:
            raise JsError(f"the stand-in does not implement '{name}' in projects")
        return implementation(ProjectContext(app.projects, project_id), check_args(args))

    return answer(name, work)

"""Hub ``jupyter.*`` calls: kernel specs and stateless execution in a project.

As in CoCalc, both need a project the caller collaborates on (the server-wide
Jupyter pool is not enabled), start the project if it is not running, and cache
a project's kernel list for 30 seconds.  Outputs are not cached.
"""
import threading
import time
from typing import Any, Dict, List, Tuple

from .api_common import JsError, is_collaborator, opts_of
from .store import iso, utcnow

KERNELS_CACHE_SECONDS = 30.0
#: CoCalc's per-cell time limit, in seconds, for code run in a user's project.
CELL_TIMEOUT = 30.0

_cache: Dict[str, Tuple[float, List[Dict[str, Any]]]] = {}
_cache_lock = threading.Lock()


def _check(app: Any, account_id: Any, project_id: Any) -> None:
    if project_id is None:
        raise JsError("Jupyter API is not enabled on this server.")
    if account_id is None:
        raise JsError("account_id must be specified -- make sure you are signed in")
    if not is_collaborator(app.store, account_id, project_id):
        raise JsError("permission denied -- user must be collaborator on project")


def _kernel_error(err: Exception) -> JsError:
    """The project's error text, wrapped once more by the hub (``Error: <project's text>``)."""
    return JsError(str(err))


def kernels(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """Kernel specs available in the project."""
    from .jupyter import KernelError

    opts = opts_of(args)
    project_id = opts.get("project_id")
    if project_id is not None:
        _check(app, opts.get("account_id"), project_id)
    key = project_id or "global"
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < KERNELS_CACHE_SECONDS:
        return hit[1]
    _check(app, opts.get("account_id"), project_id)
    try:
        specs = app.projects.kernels(project_id).kernelspecs()
    except KernelError as err:
        raise _kernel_error(err) from None
    with _cache_lock:
        _cache[key] = (time.monotonic(), specs)
    return specs


def execute(app: Any, args: List[Any]) -> Any:
    """Run ``input`` after ``history`` on a fresh kernel; ``{"output", "created"}``."""
    from .jupyter import KernelError

    opts = opts_of(args)
    if opts.get("hash") is not None and not opts.get("noCache"):
        return None  # no saved outputs: the stand-in keeps no execution cache
    if opts.get("input") is None:
        raise JsError("input or hash must not be null")
    if opts.get("kernel") is None:
        raise JsError("kernel must be specified in hash is not specified")
    created = iso(utcnow())
    _check(app, opts.get("account_id"), opts.get("project_id"))
    manager = app.projects.kernels(opts["project_id"])
    try:
        output = manager.execute(
            opts["kernel"], opts["input"], opts.get("history") or [], CELL_TIMEOUT, path=opts.get("path")
        )
    except KernelError as err:
        raise _kernel_error(err) from None
    return {"output": output, "created": created}


FUNCTIONS = {"kernels": kernels, "execute": execute}

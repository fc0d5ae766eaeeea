"""Hub ``jupyter.*`` calls: kernel specs, and execution in a project with CoCalc's cache and log.

As in CoCalc (``server/jupyter/execute.ts``, ``server/jupyter/kernels.ts``):

* both calls need a project the caller collaborates on (the server-wide
  Jupyter pool is not enabled), start the project if it is not running, and
  the kernel list of a project is cached for 30 seconds;
* ``execute`` hashes (history, input, kernel, project_id, path); when
  ``jupyter_api_cache`` holds that hash it answers the saved row
  (``{"id", "output", "created"}``, ``created`` being when that execution
  began) without running anything; otherwise it runs the code, answers
  ``{"output", "created"}`` and then, without making the caller wait, saves
  the output in ``jupyter_api_cache`` and logs the execution in
  ``jupyter_api_log``.  ``noCache`` skips the lookup and replaces the saved row;
  a ``hash`` alone only looks up the cache (``null`` when nothing is saved);
* unlike CoCalc, which answers a saved output before its membership check (and
  to a bare ``hash`` with none at all), a saved output is answered only to
  members of the projects the log names for its hash (check
  ``jupyter.execute:cache-collaborator``);
* the hub waits 60 s for the project's answer, then answers a bare
  ``timeout`` (and saves nothing).
"""
import datetime
import hashlib
import json
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import checks
from .api_common import JS_SPACE, JsError, PlainError, is_collaborator, js_str, js_truthy, opts_of, type_error
from .profile import Call, serving
from .store import iso, utcnow

KERNELS_CACHE_SECONDS = 30.0
#: CoCalc's per-cell time limit, in seconds, for code run in a user's project.
CELL_TIMEOUT = 30.0
#: Seconds the hub waits for a project's answer to an execution (CoCalc's ``callProjectMessage``).
PROJECT_ANSWER_TIMEOUT_S = 60.0
#: How long saved outputs and log entries are kept.
EXPIRE = datetime.timedelta(days=30)

_cache: Dict[str, Tuple[float, List[Dict[str, Any]]]] = {}
_cache_lock = threading.Lock()


def _check(app: Any, call: str, account_id: Any, project_id: Any) -> None:
    """Who may use a project's kernels (*call*: ``kernels`` or ``execute``); no project: the disabled global pool."""
    if project_id is None:
        raise JsError("Jupyter API is not enabled on this server.")
    signed_in, collaborator = ("jupyter.kernels:signed-in", "jupyter.kernels:collaborator") if call == "kernels" \
        else ("jupyter.execute:signed-in", "jupyter.execute:collaborator")
    checks.require(app, signed_in, account_id is not None,
                   JsError("account_id must be specified -- make sure you are signed in"))
    checks.require(app, collaborator, lambda: is_collaborator(app.store, account_id, project_id),
                   JsError("permission denied -- user must be collaborator on project"))


def _kernel_error(err: Exception) -> JsError:
    """The project's error text, wrapped once more by the hub (``Error: <project's text>``)."""
    return JsError(str(err))


def kernels(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """Kernel specs available in the project."""
    from .jupyter import KernelError

    opts = opts_of(args)
    project_id = opts.get("project_id")
    if project_id is not None:
        _check(app, "kernels", opts.get("account_id"), project_id)
    key = project_id or "global"
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < KERNELS_CACHE_SECONDS:
        return hit[1]
    if project_id is None:
        raise JsError("Jupyter API is not enabled on this server.")
    try:
        specs = app.projects.kernels(project_id).kernelspecs()
    except KernelError as err:
        raise _kernel_error(err) from None
    with _cache_lock:
        _cache[key] = (time.monotonic(), specs)
    return specs


# ----------------------------------------------------------------------- the hash


def _js_json(value: Any) -> Any:
    """*value* with whole floats as ints, so ``json.dumps`` writes numbers as ``JSON.stringify`` does."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_js_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _js_json(v) for k, v in value.items()}
    return value


def _trimmed(value: Any, expression: str) -> str:
    if isinstance(value, str):
        return value.strip(JS_SPACE)
    if value is None:
        raise type_error(f"Cannot read properties of {js_str(value)} (reading 'trim')")
    raise type_error(f"{expression}.trim is not a function")


def compute_hash(history: Any, input: Any, kernel: Any, project_id: Any, path: Any) -> str:
    """CoCalc's ``computeHash``: sha1 of the JSON of trimmed history and input, lower-case kernel, project, path."""
    if history is not None and not isinstance(history, list):
        raise type_error("(history ?? []).map is not a function")
    lines = [_trimmed(x, "x") for x in history or []]
    code = _trimmed(input, "input")
    if not isinstance(kernel, str):
        raise type_error("kernel.toLowerCase is not a function")
    text = json.dumps(
        _js_json([lines, code, kernel.lower().strip(JS_SPACE), project_id, path]),
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- cache and log


def _text(value: Any) -> Optional[str]:
    """How a JSON value lands in a TEXT column (as node-postgres sends it)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return js_str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _cached(app: Any, digest: Any) -> Optional[Dict[str, Any]]:
    """The saved execution with hash *digest* (and mark it used), or None."""
    row = app.store.one(
        "SELECT id, to_jsonb(output) AS output, created FROM jupyter_api_cache WHERE hash=:h LIMIT 1", h=_text(digest)
    )
    if row is None:
        return None
    app.store.query(
        "UPDATE jupyter_api_cache SET last_active=NOW(), expire=NOW() + '1 month'::INTERVAL WHERE id=:i", i=row["id"]
    )
    return {"id": row["id"], "output": row["output"], "created": iso(row["created"])}


def _save(app: Any, opts: Dict[str, Any], digest: str, output: List[Any], created: datetime.datetime) -> None:
    """Replace (with ``noCache``) or add the saved output and log the execution; failures are only reported."""
    total_time_s = (utcnow() - created).total_seconds()
    expire = utcnow() + EXPIRE
    try:
        if js_truthy(opts.get("noCache")):
            app.store.query("DELETE FROM jupyter_api_cache WHERE hash=:h", h=digest)
        app.store.query(
            "INSERT INTO jupyter_api_log(created, account_id, project_id, path, analytics_cookie, tag, hash, "
            "total_time_s, kernel, history, input, expire) VALUES(:c, :a::UUID, :p::UUID, :path, :cookie, :tag, :h, "
            ":t, :k, CAST(:history AS TEXT[]), :input, :e)",
            c=created,
            a=opts.get("account_id"),
            p=opts.get("project_id"),
            path=_text(opts.get("path")),
            cookie=_text(opts.get("anonymous_id")),
            tag=_text(opts.get("tag")),
            h=digest,
            t=total_time_s,
            k=opts["kernel"],
            history=opts.get("history"),
            input=opts["input"],
            e=expire,
        )
        app.store.query(
            "INSERT INTO jupyter_api_cache(created, hash, output, last_active, expire) "
            "VALUES(:c, :h, ARRAY(SELECT jsonb_array_elements(CAST(:o AS JSONB))), :c, :e)",
            c=created,
            h=digest,
            o=json.dumps(output, ensure_ascii=False),
            e=expire,
        )
    except Exception as err:  # CoCalc only warns when the log or cache cannot be written
        print(f"cocalc-standin: failed to save a Jupyter execution: {err}", file=sys.stderr)


# -------------------------------------------------------------------- execution


def _run_in_project(app: Any, opts: Dict[str, Any]) -> List[Any]:
    """The project's outputs for the execution, waiting at most 60 s for them (then a bare ``timeout``)."""
    from .jupyter import KernelError

    manager = app.projects.kernels(opts["project_id"])
    call = Call(PROJECT_ANSWER_TIMEOUT_S, app.profile.scale)
    outcome: Dict[str, Any] = {}

    def run() -> None:
        with serving(call):
            try:
                outcome["output"] = manager.execute(
                    opts["kernel"], opts["input"], opts.get("history") or [], CELL_TIMEOUT, path=opts.get("path")
                )
            except KernelError as err:
                outcome["error"] = _kernel_error(err)
            except Exception as err:  # a bug of the stand-in: reported by the bridge
                outcome["error"] = err

    worker = threading.Thread(target=run, name="jupyter.execute in the project", daemon=True)
    worker.start()
    worker.join(PROJECT_ANSWER_TIMEOUT_S)
    if call.abandoned or worker.is_alive():
        raise PlainError("timeout")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["output"]


def _saved_for(app: Any, account_id: Any, digest: Any) -> Optional[Dict[str, Any]]:
    """The saved execution with hash *digest*, for a member of every project it was run in (``None``: none saved)."""
    def allowed() -> bool:
        rows = app.store.query("SELECT DISTINCT project_id::TEXT AS p FROM jupyter_api_log WHERE hash=:h "
                               "AND project_id IS NOT NULL", h=_text(digest))
        return all(account_id and is_collaborator(app.store, account_id, row["p"]) for row in rows)

    checks.require(app, "jupyter.execute:cache-collaborator", allowed,
                   JsError("permission denied -- user must be collaborator on project"))
    return _cached(app, digest)


def execute(app: Any, args: List[Any]) -> Any:
    """Answer from the cache, or run ``input`` after ``history`` on a fresh kernel; ``{"output", "created"}``."""
    opts = opts_of(args)
    no_cache = js_truthy(opts.get("noCache"))
    if opts.get("hash") is not None and not no_cache:
        return _saved_for(app, opts.get("account_id"), opts["hash"])
    if opts.get("input") is None:
        raise JsError("input or hash must not be null")
    if opts.get("kernel") is None:
        raise JsError("kernel must be specified in hash is not specified")
    now = utcnow()
    created = now.replace(microsecond=now.microsecond // 1000 * 1000)  # a JavaScript Date
    digest = compute_hash(opts.get("history"), opts["input"], opts["kernel"], opts.get("project_id"), opts.get("path"))
    if not no_cache:
        saved = _saved_for(app, opts.get("account_id"), digest)
        if saved is not None:
            return saved
    _check(app, "execute", opts.get("account_id"), opts.get("project_id"))
    output = _run_in_project(app, opts)
    threading.Thread(target=_save, args=(app, opts, digest, output, created), name="save jupyter execution").start()
    return {"output": output, "created": iso(created)}


FUNCTIONS = {"kernels": kernels, "execute": execute}

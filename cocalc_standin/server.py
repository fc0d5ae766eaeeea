"""The stand-in's HTTP server: CoCalc's conat bridge endpoints on loopback.

``POST /api/conat/hub`` and ``POST /api/conat/project`` take CoCalc's body
(``{"name", "args", "timeout"?, "project_id"?}``) with an API key as HTTP basic
(or bearer) auth and answer HTTP 200 with the call's result or
``{"error": "..."}``, following CoCalc's bridge (``next/pages/api/conat``,
``server/api/*-bridge.ts``), hub API dispatcher (``server/conat/api``) and
project API (``project/conat/api``):

* the hub bridge wants an account key; the project bridge an account key of a
  collaborator or a key scoped to that project, and it starts the project
  before passing the call on;
* the request's ``timeout`` (ms, default 15000) bounds the call as CoCalc's
  conat client does (:func:`_with_timeout`): a call that takes longer is
  answered with ``timeout - callHub: ...`` while it goes on running;
* latencies and stalls follow the stand-in's :mod:`.profile`;
* errors of the hub API read ``Error: ...`` (JavaScript's ``${err}``), bridge
  errors are bare messages.

Every permission check goes through :mod:`.checks` (some may be switched off
for self-tests), and membership, admin and key lookups through CoCalc's caches
(:mod:`.cached`).

``GET /healthcheck`` answers as CoCalc's hub does; ``GET /auth/impersonate``
signs in with a sign-in token as CoCalc does (:mod:`.impersonate`), and
``/api/v2/api-keys`` manages keys for that sign-in cookie (:mod:`.api_v2`); the
bridges ignore cookies.
"""
import base64
import http.server
import json
import math
import re
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from . import (
    api_db, api_jupyter, api_messages, api_org, api_projects, api_purchases, api_system, api_v2, cached, checks, faults,
    impersonate,
)
from .api_auth import account_from_key
from .api_common import (
    JS_SPACE, JsError, answer, check_args, is_collaborator, js_str, js_type, split_name, type_error,
)
from .api_project import call_project
from .profile import Call, serving
from .projects import Projects
from .store import Store, dumps

DEFAULT_TIMEOUT_MS = 15000
#: Milliseconds within which the conat server acknowledges a request; a shorter ``timeout`` fails at once.
PUBLISH_ACK_MS = 3
#: Node's longest timer; a longer (or non-numeric, or sub-millisecond) delay fires after 1 ms.
NODE_TIMER_MAX_MS = 2 ** 31 - 1
#: Milliseconds the conat client waits at most for a subscriber to appear.
MAX_INTEREST_TIMEOUT_MS = 90000
MUST_SIGN_IN = "must be signed in and MUST provide an api key (cookies are not allowed)"

HUB_API: Dict[str, Dict[str, Callable]] = {
    "system": api_system.FUNCTIONS,
    "projects": api_projects.FUNCTIONS,
    "db": api_db.FUNCTIONS,
    "jupyter": api_jupyter.FUNCTIONS,
    "sync": api_projects.SYNC_FUNCTIONS,
    "org": api_org.FUNCTIONS,
    "messages": api_messages.FUNCTIONS,
    "purchases": api_purchases.FUNCTIONS,
}

#: How CoCalc prepares each hub call's arguments (``conat/hub/api/*.ts``); names not here are unknown to CoCalc.
_AUTH_FIRST, _NO_AUTH, _REQUIRE_ACCOUNT = "authFirst", "noAuth", "requireAccount"
HUB_ARGS: Dict[str, Dict[str, str]] = {
    "system": dict(
        {n: _AUTH_FIRST for n in ("test", "terminate", "userTracking", "logClientError", "webappError",
                                   "manageApiKeys", "generateUserAuthToken", "userSearch", "adminResetPasswordLink",
                                   "sendEmailVerification", "deletePassport", "adminSalesloftSync",
                                   "userSalesloftSync")},
        getCustomize=_NO_AUTH, ping=_NO_AUTH, revokeUserAuthToken=_NO_AUTH, getNames=_REQUIRE_ACCOUNT,
    ),
    "projects": {n: _AUTH_FIRST for n in ("createProject", "copyPathBetweenProjects", "removeCollaborator",
                                           "addCollaborator", "inviteCollaborator",
                                           "inviteCollaboratorWithoutAccount", "changeUserType", "setQuotas",
                                           "start", "stop", "deleteProject", "touch", "state", "status")},
    "db": dict({n: _AUTH_FIRST for n in ("userQuery", "touch", "getLegacyTimeTravelInfo",
                                          "getLegacyTimeTravelPatches", "fileUseTimes")},
               removeBlobTtls=_REQUIRE_ACCOUNT),
    "purchases": {n: _AUTH_FIRST for n in ("getBalance", "getMinBalance")},
    "jupyter": {n: _AUTH_FIRST for n in ("kernels", "execute")},
    "sync": {"history": _AUTH_FIRST},
    "org": {n: _AUTH_FIRST for n in api_org.FUNCTIONS},
    "messages": {n: _AUTH_FIRST for n in ("send", "get")},
}

#: Exports of CoCalc's hub API modules that its API structure lacks: found, then refused while preparing arguments.
SERVER_ONLY_EXPORTS = {"org.getAccount", "projects.OwnershipError"}


class BridgeError(Exception):
    """An error of the HTTP bridge itself; answered as its bare message."""


class App:
    """Everything a call needs: the database, the projects and the site's address."""

    def __init__(self, store: Store, projects: Projects, site_url: str = "", broken_checks: Iterable[str] = ()):
        self.store = store
        self.projects = projects
        self.profile = projects.profile
        self._site = _site_base(site_url)
        #: The permission checks applied (all but *broken_checks*) and CoCalc's caches, reachable from the store too.
        self.checks = store.checks = checks.Checks(broken_checks)
        self.caches = store.caches = cached.Caches(self.profile)
        #: Every ``(endpoint, call name)`` asked of the bridges, for self-tests of what a suite run calls.
        self.calls_seen: Set[Tuple[str, str]] = set()

    def prepare(self, endpoint: str) -> None:
        """The profile's latency of a call to *endpoint* (``hub`` or ``project``)."""
        self.profile.pause(self.profile.hub_latency if endpoint == "hub" else self.profile.project_latency)

    def site_url(self, path: str = "") -> str:
        """CoCalc's ``siteUrl``: the configured address (``https:`` when none) joined with *path*."""
        if not path:
            return self._site
        return self._site + ("" if path.startswith("/") else "/") + path


def _site_base(dns: str) -> str:
    base = dns if dns.startswith("http") else f"https://{dns}"
    return base.rstrip("/") or base


# ----------------------------------------------------------------------------- hub


def _auth_first(args: List[Any], account_id: Optional[str]) -> List[Any]:
    args = list(args)
    if not args:
        args.append(None)
    first = args[0]
    if first is None:
        first = {}
    elif not isinstance(first, (dict, list)):
        raise type_error(f"Cannot create property 'account_id' on {js_type(first)} '{js_str(first)}'")
    if isinstance(first, dict):
        first = dict(first, account_id=account_id)
    args[0] = first
    return args


def call_hub(app: App, account_id: str, name: Any, args: Any) -> Any:
    """Run hub call *name* for *account_id*; its result or ``{"error": ...}``."""

    def work() -> Any:
        group, function = split_name(name)
        how = HUB_ARGS.get(group, {}).get(function)
        if how is None and name in SERVER_ONLY_EXPORTS:
            raise type_error("HubApiStructure[group]?.[functionName] is not a function")
        if how is None:
            raise JsError(f"unknown function '{name}'")
        implementation = HUB_API.get(group, {}).get(function)
        if implementation is None:
            raise JsError(f"the stand-in does not implement '{name}'")
        checked = check_args(args)
        return implementation(app, _auth_first(checked, account_id) if how == _AUTH_FIRST else checked)

    return answer(name, work)


# -------------------------------------------------------------------------- bridge


_JS_NUMBER = re.compile(r"[+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")


def _js_number(value: Any) -> float:
    """JavaScript's ``Number(value)`` of a decoded JSON value."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, list):
        value = js_str(value)
    if not isinstance(value, str):
        return math.nan
    text = value.strip(JS_SPACE)
    if not text:
        return 0.0
    if _JS_NUMBER.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if text[:2].lower() == prefix:
            try:
                return float(int(text[2:], base))
            except ValueError:
                return math.nan
    return math.nan


def _timer_ms(timeout: Any) -> Optional[float]:
    """How long CoCalc's conat client waits for a request with *timeout*; None when it refuses it (<= 0)."""
    if timeout is None:
        return DEFAULT_TIMEOUT_MS
    number = _js_number(timeout)
    if number <= 0:
        return None
    return number if 1 <= number <= NODE_TIMER_MAX_MS else 1.0  # Node's timers


def _with_timeout(work: Optional[Callable[[], Any]], timeout: Any, subject: str, name: Any, scale: float = 1.0) -> Any:
    """*work()* bounded by the request's *timeout* (ms) as CoCalc's conat client bounds it, else CoCalc's error.

    A *timeout* <= 0 is refused; one shorter than the server's acknowledgement (or that Node's timers
    cannot hold) fails at once with "operation has timed out", and so does waiting for a subscriber
    that never comes (no *work*; at most 90 s).  Otherwise a call that has not answered in time, or
    that will never answer (its code marks the :class:`~.profile.Call` abandoned, after the timeout
    times *scale*), gets ``timeout``; the work goes on running.
    """

    def error(text: str, code: str = "408") -> BridgeError:
        return BridgeError(f"{text} - callHub: subject='{subject}', name='{js_str(name)}', code='{code}' ")

    ms = _timer_ms(timeout)
    if ms is None:
        raise error("timeout must be positive", "undefined")
    if ms < PUBLISH_ACK_MS:
        raise error("timeout - Error: operation has timed out")
    if work is None:
        time.sleep(min(ms, MAX_INTEREST_TIMEOUT_MS) / 1000)
        raise error("timeout - Error: operation has timed out")
    call = Call(ms / 1000, scale)
    deadline = call.started + ms / 1000
    outcome: Dict[str, Any] = {}

    def run() -> None:
        with serving(call):
            outcome["value"] = work()
        outcome["finished"] = time.monotonic()

    worker = threading.Thread(target=run, name=f"call {js_str(name)}", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if call.abandoned or "finished" not in outcome or outcome["finished"] > deadline:
        raise error("timeout")
    return outcome["value"]


def api_key_from(authorization: Optional[str]) -> str:
    """The API key in an ``Authorization`` header (basic user name or bearer token)."""
    if authorization is None:
        raise BridgeError("You must provide authentication via an API key.")
    words = authorization.split()
    kind = words[0] if words else ""
    value = words[1] if len(words) > 1 else ""
    if kind == "Bearer":
        return value
    if kind == "Basic":
        try:
            return base64.b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace").split(":")[0]
        except ValueError:
            return ""
    raise BridgeError(f"Unknown authorization type '{kind}'")


def hub_bridge(app: App, authorization: Optional[str], params: Dict[str, Any]) -> Any:
    """``/api/conat/hub``: an account key's call to the hub API."""
    app.prepare("hub")
    account_id = (account_from_key(app.store, api_key_from(authorization)) or {}).get("account_id")
    if not account_id:
        checks.require(app, "bridge.hub:account-key", False, BridgeError(MUST_SIGN_IN))
        # Past that check CoCalc's hub gets a request naming no account, which it refuses (conat/hub/api getUserId).
        return {"error": "Error: invalid uuid 'undefined'"}
    name = params.get("name")
    return _with_timeout(
        lambda: faults.call(app, "hub", name, params.get("args", []),
                            lambda a, args: call_hub(a, account_id, name, args)),
        params.get("timeout"),
        f"hub.account.{account_id}.api",
        name,
        app.profile.scale,
    )


def project_bridge(app: App, authorization: Optional[str], params: Dict[str, Any]) -> Any:
    """``/api/conat/project``: a collaborator's (or project key's) call to a project's API."""
    app.prepare("project")
    identity = account_from_key(app.store, api_key_from(authorization)) or {}
    account_id, key_project_id = identity.get("account_id"), identity.get("project_id")
    checks.require(app, "bridge.project:signed-in", bool(account_id or key_project_id),
                   BridgeError("must sign in as project or account"))
    project_id = params["project_id"] if "project_id" in params else key_project_id
    if not project_id:
        raise BridgeError("must specify project_id or use project-specific api key")
    if key_project_id:
        checks.require(app, "bridge.project:key-match", key_project_id == project_id,
                       BridgeError("project specific api key must match requested project"))
    if account_id:
        checks.require(app, "bridge.project:collaborator", lambda: is_collaborator(app.store, account_id, project_id),
                       BridgeError("user must be a collaborator on the project"))
    name, args = params.get("name"), params.get("args", [])
    subject = f"project.{project_id}.{params.get('compute_server_id') or 0}.api.-"
    try:
        app.projects.touch(project_id, account_id)
    except JsError as err:
        raise BridgeError(f"{err.message} - callHub: subject='{subject}', name='{js_str(name)}', code='undefined' ")
    if name == "system.test":
        first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        args = [dict(first, project_id=project_id)]
    if params.get("compute_server_id"):
        # No compute server answers on the stand-in: the request waits for its timeout, as in CoCalc.
        return _with_timeout(None, params.get("timeout"), subject, name)
    return _with_timeout(
        lambda: faults.call(app, "project", name, args, lambda a, args: call_project(a, project_id, name, args)),
        params.get("timeout"), subject, name, app.profile.scale,
    )


# ---------------------------------------------------------------------------- HTTP


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "StandinServer"
    protocol_version = "HTTP/1.1"
    server_version = "cocalc-standin"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: str, content_type: str, headers: Iterable[Tuple[str, str]] = ()) -> None:
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            for header, value in headers:
                self.send_header(header, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped waiting (e.g. for a slow stop); nobody to tell

    def _bridge(self, params: Dict[str, Any]) -> None:
        bridges = {"/api/conat/hub": hub_bridge, "/api/conat/project": project_bridge}
        path = self.path.split("?")[0]
        bridge = bridges[path]
        self.server.app.calls_seen.add((path.rsplit("/", 1)[1], str(params.get("name"))))
        try:
            answer = bridge(self.server.app, self.headers.get("Authorization"), params)
        except BridgeError as err:
            answer = {"error": str(err)}
        except JsError as err:
            answer = {"error": err.message}
        except Exception as err:  # a bug in the stand-in: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            answer = {"error": f"stand-in internal error: {type(err).__name__}: {err}"}
        self._send(200, dumps(answer), "application/json; charset=utf-8")

    def _api_keys(self, params: Optional[Dict[str, Any]]) -> None:
        app = self.server.app
        app.prepare("hub")
        try:
            answer = api_v2.api_keys(app, self.headers.get("Cookie"), self.headers.get("Authorization"), params)
        except Exception as err:  # a bug in the stand-in: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            answer = {"error": f"stand-in internal error: {type(err).__name__}: {err}"}
        self._send(200, dumps(answer), "application/json; charset=utf-8")

    def _route(self) -> Optional[str]:
        path = self.path.split("?")[0]
        known = ("/api/conat/hub", "/api/conat/project", "/healthcheck", impersonate.PATH, api_v2.PATH)
        return path if path in known else None

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        route = self._route()
        if route == "/healthcheck":
            healthy, report = self.server.healthcheck()
            self._send(200 if healthy else 404, report, "text/plain; charset=utf-8")
        elif route == impersonate.PATH:
            self._send(*impersonate.page(self.server.app, self.path.partition("?")[2]))
        elif route == api_v2.PATH:
            self._api_keys(None)  # Next.js routes read parameters only from POST bodies
        elif route is None:
            self._send(404, "Not Found", "text/plain; charset=utf-8")
        else:
            self._bridge({})  # CoCalc reads parameters only from POST bodies

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self._route() in (None, "/healthcheck", impersonate.PATH):
            self._send(404, "Not Found", "text/plain; charset=utf-8")
            return
        try:
            params = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except ValueError:
            self._send(400, "Invalid JSON", "text/plain; charset=utf-8")
            return
        if self._route() == api_v2.PATH:
            self._api_keys(params)
            return
        self._bridge(params if isinstance(params, dict) else {})


class StandinServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 serving :class:`App`."""

    daemon_threads = True
    allow_reuse_address = True
    #: Connections the kernel may queue before they are accepted (socketserver's 5 resets bursts of runs in parallel).
    request_queue_size = 128

    def __init__(self, app: App, port: int = 0, verbose: bool = False):
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self.verbose = verbose
        self.started = time.monotonic()
        self._thread: Optional[threading.Thread] = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a killed run) is nobody's error; anything else is printed."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def healthcheck(self) -> Tuple[bool, str]:
        """CoCalc's health report (concurrency, uptime, database connectivity) and whether all is well."""
        uptime = int(time.monotonic() - self.started)
        lines: List[Tuple[str, bool]] = [
            ("concurrent 0 < 500", True),
            (f"uptime {uptime // 3600}h{uptime // 60 % 60}m{uptime % 60}s – no self-termination", True),
        ]
        try:
            self.app.store.query("SELECT 1")
            lines.append(("no DB connection problems", True))
        except Exception as err:  # any failure means the database is unreachable
            lines.append((f"DB problems: {err}", False))
        report = "healthchecks:\n" + "".join(f"{text} – {'OK' if ok else 'FAIL'}\n" for text, ok in lines)
        return all(ok for _, ok in lines), report

    def start(self) -> "StandinServer":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="standin-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

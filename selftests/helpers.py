"""What the self-test modules share; no self-test module imports another.

- **A fake CoCalc on loopback.** :class:`RecordingServer` is a real HTTP server that records
  every request and answers each call from a per-test table (:func:`json_reply`,
  :func:`text_reply`, or a function of the :class:`Recorded` request); :class:`BridgeTestCase`
  starts one per class and gives each test fresh hub and project clients; :class:`FakeServerCase`
  adds the environment, :class:`~cocalc_api_tests.config.Config` and session of a run against it
  (cleanup off, so no database).  The key and ids they use are made up here (:data:`API_KEY`,
  :data:`ACCOUNT_ID`, :data:`PROJECT_ID`, ...); :meth:`BridgeTestCase.assertKeyAbsent` finds any
  stretch of the key in a text.
- **CoCalc's API.** :func:`reachable`, the 85 calls an API key can reach, and :data:`UNSAFE`, the 7
  a suite must never make.
- **The stand-in.** :func:`start_standin` (an environment closed when the module's tests end),
  :func:`bridge` and :func:`new_project` (raw calls with its admin key), :func:`error_of` (the
  server's refusal text), :func:`unique` (names).
- **Small things.** :func:`assert_one_paragraph` (how a command line refuses bad input),
  :func:`closed_port`, :func:`process_gone`, :func:`overridden` (environments with variables set
  or removed), :data:`MISSING_JUPYTER` with :data:`needs_jupyter`, :data:`MUST_SIGN_IN`.

Two neighbours keep one job each: :mod:`pgsupport` (PostgreSQL servers, scratch databases, row
counts) and :mod:`suite_runner` (the suite or its command line in a child process, as a user runs it).
"""
import base64
import contextlib
import importlib.util
import io
import json
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import unittest
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import requests

from cocalc_api_tests.client import Hub, Project
from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_api_tests.session import Session

# ------------------------------------------------------------------ made-up identities

API_KEY = "sk-selftest-" + secrets.token_hex(16)
#: The random part of the key: no stretch of it may appear in any error text.
KEY_SECRET = API_KEY[len("sk-selftest-"):]
#: A run of this many characters of KEY_SECRET in a text counts as a leak.
LEAK_WINDOW = 12

PROJECT_ID = str(uuid.uuid4())
OTHER_PROJECT_ID = str(uuid.uuid4())
ACCOUNT_ID = str(uuid.uuid4())
OTHER_ACCOUNT_ID = str(uuid.uuid4())

HUB_PATH = "/api/conat/hub"
PROJECT_PATH = "/api/conat/project"

#: CoCalc's hub refusal of a missing or unknown API key.
MUST_SIGN_IN = "must be signed in and MUST provide an api key (cookies are not allowed)"

#: The stand-in's Jupyter needs these; the tests of real kernels skip without them.
MISSING_JUPYTER = [m for m in ("jupyter_client", "ipykernel") if importlib.util.find_spec(m) is None]
JUPYTER_MISSING_REASON = "needs %s (pip install -e '.[standin]')" % " and ".join(MISSING_JUPYTER)
#: Skip a test or class when :data:`MISSING_JUPYTER` is not empty, saying what to install.
needs_jupyter = unittest.skipIf(MISSING_JUPYTER, JUPYTER_MISSING_REASON)


# ------------------------------------------------------------- CoCalc's API, listed

#: The calls of CoCalc's API an API key can reach (api-audit.md §3: 57 on the hub, 28 in a project).
HUB_CALLS = {
    "system": "getCustomize ping test terminate userTracking logClientError webappError manageApiKeys generateUserAuthToken "
              "revokeUserAuthToken userSearch getNames adminResetPasswordLink sendEmailVerification deletePassport "
              "adminSalesloftSync userSalesloftSync",
    "projects": "createProject copyPathBetweenProjects removeCollaborator addCollaborator inviteCollaborator "
                "inviteCollaboratorWithoutAccount changeUserType setQuotas start stop deleteProject touch state status",
    "db": "userQuery touch getLegacyTimeTravelInfo getLegacyTimeTravelPatches fileUseTimes removeBlobTtls",
    "purchases": "getBalance getMinBalance",
    "jupyter": "kernels execute",
    "sync": "history",
    "org": "getAll create get set addAdmin addUser createUser createToken expireToken getUsers removeUser removeAdmin message",
    "messages": "send get",
}
PROJECT_CALLS = {
    "system": "terminate version listing deleteFiles moveFiles renameFile realpath canonicalPaths writeTextFileToProject "
              "readTextFileFromProject configuration ping test exec signal jupyterExecute listJupyterKernels stopJupyterKernel",
    "editor": "newFile jupyterStripNotebook jupyterKernelLogo jupyterKernels formatterString createTerminalService "
              "jupyterNbconvert jupyterRunNotebook printSageWS",
    "sync": "close",
}
#: The 7 a suite must never make on a shared server: they mail, call outside services or stop a service for everyone.
UNSAFE = {("hub", "system.terminate"), ("hub", "system.sendEmailVerification"), ("hub", "system.deletePassport"),
          ("hub", "system.adminSalesloftSync"), ("hub", "system.userSalesloftSync"),
          ("hub", "projects.inviteCollaboratorWithoutAccount"), ("project", "system.terminate")}


def reachable() -> set:
    """Every ``(endpoint, call)`` of :data:`HUB_CALLS` and :data:`PROJECT_CALLS`, endpoint ``hub`` or ``project``."""
    return {(endpoint, f"{group}.{name}") for endpoint, table in (("hub", HUB_CALLS), ("project", PROJECT_CALLS))
            for group, names in table.items() for name in names.split()}


# ------------------------------------------------------------ the fake CoCalc server

#: (HTTP status, body, Content-Type)
Reply = Tuple[int, bytes, str]


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: Dict[str, str]
    raw: bytes
    body: Any  # the decoded JSON body, or None when it was not JSON

    @property
    def basic_credentials(self) -> str:
        """The decoded ``user:password`` of an HTTP Basic Authorization header."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            raise AssertionError(f"Authorization is not HTTP Basic: {scheme!r}")
        return base64.b64decode(token).decode("utf-8")

    @property
    def api_key(self) -> str:
        """The user name of the Basic credentials, i.e. the API key the client sent."""
        return self.basic_credentials.partition(":")[0]

    @property
    def name(self) -> Optional[str]:
        """The remote call's name (``body["name"]``), if the body names one."""
        return self.body.get("name") if isinstance(self.body, dict) else None


Responder = Union[Reply, Callable[[Recorded], Reply]]


def json_reply(value: Any, status: int = 200) -> Reply:
    """A JSON answer."""
    return status, json.dumps(value).encode("utf-8"), "application/json"


def text_reply(text: str, status: int = 200, content_type: str = "text/html") -> Reply:
    """A non-JSON answer."""
    return status, text.encode("utf-8"), content_type


class RecordingServer(ThreadingHTTPServer):
    """A loopback HTTP server that records requests and answers from a per-test table.

    A call whose name is in :attr:`replies` gets that reply (or the reply its function makes of
    the request); any other gets ``{"echo": <request body>}``.  Subclasses may choose replies
    otherwise by overriding :meth:`respond`.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self._lock = threading.Lock()
        self._requests: List[Recorded] = []
        self.replies: Dict[str, Responder] = {}

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def serve_in_background(self, name: str = "fake-cocalc") -> threading.Thread:
        """Serve from a daemon thread (until :meth:`shutdown`); the thread."""
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name=name, daemon=True)
        thread.start()
        return thread

    def reset(self) -> None:
        """Forget recorded requests and programmed replies."""
        with self._lock:
            self._requests.clear()
            self.replies.clear()

    def requests(self) -> List[Recorded]:
        """A copy of the requests received so far."""
        with self._lock:
            return list(self._requests)

    def handle_recorded(self, request: Recorded) -> Reply:
        """Record *request* and choose its reply."""
        with self._lock:
            self._requests.append(request)
        return self.respond(request)

    def respond(self, request: Recorded) -> Reply:
        """The reply to *request*, from :attr:`replies`; an echo of its body when the call is not there."""
        with self._lock:
            responder = self.replies.get(request.name) if request.name is not None else None
        if responder is None:
            return json_reply({"echo": request.body})
        return responder(request) if callable(responder) else responder


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        request = Recorded(self.command, self.path, dict(self.headers.items()), raw, body)
        status, payload, content_type = self.server.handle_recorded(request)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting
            pass

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def leaked_fragment(text: str) -> Optional[str]:
    """The key, or the first LEAK_WINDOW-long stretch of its random part, found in *text*; else None."""
    if API_KEY in text:
        return API_KEY
    for start in range(len(KEY_SECRET) - LEAK_WINDOW + 1):
        fragment = KEY_SECRET[start:start + LEAK_WINDOW]
        if fragment in text:
            return fragment
    return None


def error_texts(error: BaseException) -> List[str]:
    """Every text an error offers: str, repr, args, .message, .url and describe()."""
    texts = [str(error), repr(error), *map(str, error.args)]
    texts += [str(getattr(error, name)) for name in ("message", "url") if hasattr(error, name)]
    if isinstance(error, CoCalcAPIError):
        texts.append(error.describe())
    return texts


class BridgeTestCase(unittest.TestCase):
    """Starts a RecordingServer for the class; gives each test fresh hub/project clients."""

    server: RecordingServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = RecordingServer()
        thread = cls.server.serve_in_background(f"{cls.__name__}-server")
        cls.addClassCleanup(thread.join, 10)
        cls.addClassCleanup(cls.server.server_close)
        cls.addClassCleanup(cls.server.shutdown)

    def setUp(self) -> None:
        self.server.reset()
        self.hub = self.client(Hub(API_KEY, self.server.base_url))
        self.project = self.client(Project(API_KEY, self.server.base_url, PROJECT_ID))

    def client(self, endpoint: Any) -> Any:
        """Close *endpoint* at the end of the test; return it."""
        self.addCleanup(endpoint.close)
        return endpoint

    def reply(self, name: str, responder: Responder) -> None:
        """Answer the call *name* with *responder* for the rest of this test."""
        self.server.replies[name] = responder

    def count(self, name: str) -> int:
        """Requests for the call *name* received so far."""
        return sum(1 for r in self.server.requests() if r.name == name)

    def single_request(self) -> Recorded:
        """The one request received since the test began."""
        received = self.server.requests()
        self.assertEqual(len(received), 1, f"expected exactly one request, got {[r.body for r in received]}")
        return received[0]

    def sent_by(self, call: Callable[[], Any]) -> Recorded:
        """Run *call* (which must succeed) and return the one request it made."""
        before = len(self.server.requests())
        call()
        received = self.server.requests()[before:]
        self.assertEqual(len(received), 1, f"expected one request, got {[r.body for r in received]}")
        return received[0]

    def failure_of(self, call: Callable[[], Any], kind: type) -> Any:
        """Run *call*, which must raise *kind*; return the exception."""
        with self.assertRaises(kind) as caught:
            call()
        return caught.exception

    def assertKeyAbsent(self, text: str, msg: Optional[str] = None) -> None:
        """Neither the key nor any LEAK_WINDOW-long stretch of its random part is in *text*."""
        fragment = leaked_fragment(text)
        if fragment is not None:
            self.fail(msg or f"the API key (or part of it, {fragment!r}) appears in the text: {text!r}")

    def assertErrorHidesKey(self, error: BaseException, msg: Optional[str] = None) -> None:
        """No text an error offers (str, repr, message, describe) shows the key."""
        for text in error_texts(error):
            self.assertKeyAbsent(text, msg)


class FakeServerCase(BridgeTestCase):
    """The environment of a run against the fake server (cleanup off, ledgers in a temporary folder)."""

    def setUp(self) -> None:
        super().setUp()
        self.ledgers = tempfile.mkdtemp(prefix="session-ledgers-")
        self.addCleanup(shutil.rmtree, self.ledgers, True)

    def environ(self, **extra: str) -> Dict[str, str]:
        return dict({"COCALC_API_KEY": API_KEY, "COCALC_HOST": self.server.base_url, "COCALC_TESTS_CLEANUP": "false",
                     "COCALC_TESTS_LEDGER_DIR": self.ledgers}, **extra)

    def config(self, **extra: str) -> Config:
        return Config.from_env(self.environ(**extra))

    def built_session(self, **extra: str) -> Session:
        """A session built against the fake server (closed after the test); *extra* variables added."""
        with contextlib.redirect_stderr(io.StringIO()):
            built = Session(self.config(**extra))
        self.addCleanup(self.close_quietly, built)
        return built

    @staticmethod
    def close_quietly(built: Session) -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            built.close()


# --------------------------------------------------------------------- the stand-in


def start_standin(**options: Any) -> Any:
    """A running stand-in (``StandinEnvironment(**options)``), closed when the module's tests end.

    SkipTest when no PostgreSQL can be had.
    """
    from cocalc_standin.launch import SetupError, StandinEnvironment

    env = StandinEnvironment(**options)
    try:
        env.__enter__()
    except SetupError as err:
        raise unittest.SkipTest(f"no PostgreSQL for the stand-in: {err}") from None
    unittest.addModuleCleanup(env.close)
    return env


def bridge(env: Any, endpoint: str, name: str, args: Optional[list] = None, **fields: Any) -> Tuple[float, Any]:
    """POST one call to *env*'s ``/api/conat/<endpoint>`` with the admin key: (seconds, answer)."""
    body: Dict[str, Any] = {"name": name, "args": args or []}
    body.update(fields)
    started = time.monotonic()
    answer = requests.post(f"{env.environ['COCALC_HOST']}/api/conat/{endpoint}", json=body, auth=(env.admin_key, ""),
                           timeout=300)
    answer.raise_for_status()
    return time.monotonic() - started, answer.json()


def new_project(env: Any) -> str:
    """A new (stopped) project of *env*'s admin."""
    _, project_id = bridge(env, "hub", "projects.createProject", [{"title": f"profile-{uuid.uuid4().hex[:8]}"}])
    return project_id


def user_project(env: Any, scoped_key: bool = False) -> Tuple[str, str]:
    """A new plain account of *env* and a project it made through the API: ``(key, project_id)``.

    *key* is the account's own key, or (*scoped_key*) a key it made for the project
    (``system.manageApiKeys``), as a user does for a project-scoped key.
    """
    _, key = env.mint_key(admin=False)
    hub = Hub(key, env.environ["COCALC_HOST"])
    try:
        project_id = hub.projects.create_project(title=unique("user-project"))
        if scoped_key:
            [made] = hub.system.manage_api_keys("create", project_id=project_id, name=unique("scoped"))
            key = made["secret"]
    finally:
        hub.close()
    return key, project_id


def error_of(call: Callable[[], Any]) -> str:
    """The server's error text for *call* (which must fail)."""
    try:
        answer = call()
    except CoCalcAPIError as err:
        return err.message
    raise AssertionError(f"the call succeeded with {answer!r}")


def unique(prefix: str) -> str:
    """*prefix* and a random part: a name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ----------------------------------------------------------- a verbose run's outcomes

#: How a verbose run (``-v``) names a test: name and class (Python 3.11 adds the test's name).
_NAMED = r"(test_\w+) \(([\w.]+?)(?:\.test_\w+)?\)"
#: A skip's reason, quoted as ``repr`` quotes it.
_REASON = r"skipped (?:'([^\n]*)'|\"([^\n]*)\")"
#: A test's line: its name, an optional docstring line, its outcome (empty when its subtests' lines follow).
_TEST_LINE = re.compile(
    rf"^{_NAMED}(?:\n(?! )[^\n]*?)? \.\.\. (ok|FAIL|ERROR|expected failure|unexpected success|{_REASON}|)$", re.M
)
#: A subtest's line (indented): its test, its parameters, its outcome.
_SUBTEST_LINE = re.compile(rf"^  {_NAMED} .*? \.\.\. (ok|FAIL|ERROR|{_REASON})$", re.M)
#: A class whose set-up skipped it: the class and the reason.
_CLASS_SKIP = re.compile(rf"^setUpClass \(([\w.]+)\) \.\.\. {_REASON}$", re.M)


def outcomes(err: str) -> Dict[str, str]:
    """What became of each test of a verbose run, by test id: ``ok``, ``FAIL``, ``ERROR``, ``skipped: <reason>``...

    A test whose subtests' lines follow its own is ``FAIL`` or ``ERROR`` if one of them is,
    else ``ok``; a class whose ``setUpClass`` skipped it counts once for each of its tests.
    """
    failed_subtests: Dict[str, str] = {}
    for name, cls, outcome, _, _ in _SUBTEST_LINE.findall(err):
        if outcome in ("FAIL", "ERROR"):
            failed_subtests.setdefault(f"{cls}.{name}", outcome)
    found: Dict[str, str] = {}
    for name, cls, outcome, quoted, double in _TEST_LINE.findall(err):
        test = f"{cls}.{name}"
        if outcome.startswith("skipped"):
            found[test] = f"skipped: {quoted or double}"
        else:
            found[test] = outcome or failed_subtests.get(test, "ok")
    for cls, quoted, double in _CLASS_SKIP.findall(err):
        for case in flatten(unittest.defaultTestLoader.loadTestsFromName(cls)):
            found[case.id()] = f"skipped: {quoted or double}"
    return found


def subtest_skips(err: str) -> List[str]:
    """The reasons of the skipped subtests of a verbose run."""
    return [quoted or double for _, _, outcome, quoted, double in _SUBTEST_LINE.findall(err) if outcome.startswith("skipped")]


def flatten(suite: Any) -> List[unittest.TestCase]:
    """The tests of a (nested) suite."""
    return [t for item in suite for t in (flatten(item) if isinstance(item, unittest.TestSuite) else [item])]


# ---------------------------------------------------------------------- small things


def assert_one_paragraph(case: unittest.TestCase, status: int, err: str, *fragments: str, code: int = 2,
                         out: str = "", ignore: Tuple[str, ...] = ()) -> str:
    """Exit status *code*, no traceback, and stderr one non-empty line holding every fragment; that line.

    Lines holding any of *ignore* (a warning printed before the paragraph) are not counted; *out*
    goes into the message of a wrong exit status.
    """
    case.assertEqual(status, code, f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}" if out else err)
    case.assertNotIn("Traceback", err)
    lines = [line for line in err.splitlines() if line.strip() and not any(text in line for text in ignore)]
    case.assertEqual(len(lines), 1, f"not one paragraph:\n{err}")
    for fragment in fragments:
        case.assertIn(fragment, err)
    return lines[0]


def closed_port() -> int:
    """A loopback TCP port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_gone(pid: int, deadline_s: float = 5.0) -> bool:
    """Whether process *pid* disappears (or becomes a zombie) before the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as fh:
                if fh.read().split(")")[-1].split()[0] == "Z":
                    return True
        except (OSError, IndexError):  # gone, or reaped while being read
            return True
        time.sleep(0.05)
    return False


def overridden(base: Mapping[str, str], **overrides: Optional[str]) -> Dict[str, str]:
    """A copy of the environment *base* with *overrides* set; an override of ``None`` removes the variable."""
    environ = dict(base)
    for name, value in overrides.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ

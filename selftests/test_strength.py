"""The suite's tests fail when what they guard breaks: each runs against a server broken just that way.

Each check runs a real test of the suite (or one of its probes, :mod:`cocalc_api_tests.probes`)
in a throwaway case on a session of its own, and requires it not to pass: a failure or an
error, never a pass or a skip.  Most use a fake CoCalc on loopback (:class:`helpers.FakeServerCase`)
that answers as a broken server would:

* ``null`` or ``[]`` to every call: the probes of the calls whose right answer is empty;
* an error text that shows the bogus key it refuses (the client scrubs keys, the raw answer does not);
* a malformed ping, a stale clock: failed at once, not asked again (a timeout alone is retried);
* an ``exec`` that runs nothing (exit 127, or an error): the tool tests fail instead of skipping;
  an ``exec`` that runs the script on this machine, with no tool on its PATH, still skips;
* an empty kernel list after the Jupyter set-up, a kernel listed where none runs.

The effects no API call reads back (the logging rows, ``db.removeBlobTtls``'s update, an
account's and a project's activity) are checked against the stand-in behind a loopback proxy
(:class:`SwallowingProxy`) that answers the call under test itself, as a server that does
nothing would, and passes everything else on; without the proxy's rule the same test passes.
"""
import http.client
import json
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from unittest import mock

from cocalc_api_tests import probes, support, test_db, test_editor, test_hub, test_project, test_site
from cocalc_api_tests.client import Hub
from cocalc_api_tests.config import Config
from cocalc_api_tests.session import Session
from cocalc_api_tests.wordings import MUST_SIGN_IN

from helpers import ACCOUNT_ID, API_KEY, PROJECT_ID, FakeServerCase, Recorded, Reply, json_reply, start_standin

#: The answer CoCalc's bridges give to a call that ran out of time (retried by the suite).
TIMEOUT = json_reply({"error": "timeout"})
#: Probes of calls whose right answer is empty (``null`` or ``[]``), each with the client it runs on.
EMPTY_ANSWER_PROBES = (
    ("hub", "system.revokeUserAuthToken"), ("hub", "db.removeBlobTtls"), ("hub", "org.expireToken"),
    ("hub", "org.message"), ("hub", "org.getUsers"), ("hub", "org.getAll"), ("project", "system.configuration"),
    ("project", "sync.close"), ("project", "system.listJupyterKernels"), ("project", "editor.jupyterKernels"),
)


class Outcome:
    """How a throwaway case ended: ``kind`` (``pass``, ``failure``, ``error``, ``skip``), its text and seconds."""

    def __init__(self, result: unittest.TestResult, seconds: float):
        self.seconds = seconds
        for kind, entries in (("failure", result.failures), ("error", result.errors), ("skip", result.skipped)):
            if entries:
                self.kind, self.text = kind, "\n".join(str(text) for _, text in entries)
                return
        self.kind, self.text = "pass", ""


def run_case(base: type, session: Session, method: Optional[str] = None, body: Optional[Callable[[Any], None]] = None) -> Outcome:
    """Run test *method* of the suite's class *base* (or ``body(case)`` in a *base* case) on *session*."""
    attributes: Dict[str, Any] = {"session": session}
    if body is not None:
        attributes["runTest"] = lambda case: body(case)
    case = type(f"Strength{base.__name__}", (base,), attributes)(method or "runTest")
    result = unittest.TestResult()
    started = time.monotonic()
    case.run(result)
    return Outcome(result, time.monotonic() - started)


def unwrapped(function: Callable) -> Callable:
    """*function* without a skip decorator (``skip_on_ci`` wraps it when ``CI`` was true at import)."""
    return getattr(function, "__wrapped__", function)


class StrengthCase(FakeServerCase):
    """A session against the fake server (``CI=true``), and the verdicts on the suite's tests run there."""

    #: Extra variables of the session's environment.
    ENVIRON: Dict[str, str] = {"COCALC_PROJECT_ID": PROJECT_ID}

    def setUp(self) -> None:
        super().setUp()
        self.reply("system.test", json_reply({"account_id": ACCOUNT_ID}))
        self.fake = self.built_session(CI="true", **self.ENVIRON)
        self.fake.background.submit("jupyter warm-up", dict)  # the kernel set-up counts as done

    def answer_every_call(self, respond: Callable[[Recorded], Reply]) -> None:
        """Answer every call (even one with no entry in the reply table) with *respond*, for this test."""
        patcher = mock.patch.object(self.server, "respond", respond)
        patcher.start()
        self.addCleanup(patcher.stop)

    def verdict(self, base: type, method: Optional[str] = None, body: Optional[Callable[[Any], None]] = None) -> Outcome:
        """How *base*'s test *method* (or ``body(case)``) ends on this test's fake session."""
        return run_case(base, self.fake, method, body)

    def assertCaught(self, outcome: Outcome, *fragments: str) -> None:
        """The case did not pass (a failure or an error: never a pass or a skip); its text holds each fragment."""
        self.assertIn(outcome.kind, ("failure", "error"), f"a broken server went unnoticed ({outcome.kind}): {outcome.text}")
        for fragment in fragments:
            self.assertIn(fragment, outcome.text)

    def assertPasses(self, outcome: Outcome) -> None:
        self.assertEqual(outcome.kind, "pass", outcome.text)


# ------------------------------------------------------------------------ probes


class TestEmptyAnswersFailTheProbes(StrengthCase):
    """A server that answers ``null`` (or ``[]``) to every call fails each probe of a call whose right answer is empty."""

    def test_each_probe_fails_on_an_empty_answer_to_everything(self) -> None:
        tables = {"hub": probes.HUB_PROBES, "project": probes.PROJECT_PROBES}
        for empty in (None, []):
            self.answer_every_call(lambda request, empty=empty: json_reply(empty))
            for endpoint, name in EMPTY_ANSWER_PROBES:
                with self.subTest(endpoint=endpoint, call=name, answer=empty):
                    self.assertCaught(self.verdict(support.APITestCase, body=tables[endpoint][name]))


# --------------------------------------------------------------- hub: key, pings


class TestBogusKey(StrengthCase):
    def respond(self, error: Callable[[str], str]) -> None:
        """Refuse every key but the suite's with ``error(key)``."""
        def respond(request: Recorded) -> Reply:
            if request.api_key != API_KEY:
                return json_reply({"error": error(request.api_key)})
            return json_reply({"account_id": ACCOUNT_ID})
        self.answer_every_call(respond)

    def test_a_refusal_that_shows_the_key_fails(self) -> None:
        self.respond(lambda key: f"{MUST_SIGN_IN} (got {key})")
        self.assertCaught(self.verdict(test_hub.TestHubSystem, "test_bogus_key_is_refused"), "shows the key")

    def test_cocalcs_refusal_passes(self) -> None:
        self.respond(lambda key: MUST_SIGN_IN)
        self.assertPasses(self.verdict(test_hub.TestHubSystem, "test_bogus_key_is_refused"))


class TestPings(StrengthCase):
    def clock(self, *first: Reply) -> None:
        """Answer pings with *first* in turn, then with this machine's clock."""
        queue, lock = list(first), threading.Lock()

        def ping(request: Recorded) -> Reply:
            with lock:
                return queue.pop(0) if queue else json_reply({"now": int(time.time() * 1000)})
        self.reply("system.ping", ping)

    def test_a_malformed_ping_fails_at_once(self) -> None:
        self.clock(json_reply({}))
        outcome = self.verdict(test_hub.TestHubSystem, "test_ping")
        self.assertCaught(outcome, "system.ping answered {}")
        self.assertEqual(self.count("system.ping"), 1, "a malformed answer was asked again")

    def test_a_timeout_is_asked_again(self) -> None:
        self.clock(TIMEOUT)
        self.assertPasses(self.verdict(test_hub.TestHubSystem, "test_ping"))
        self.assertEqual(self.count("system.ping"), 2)

    def test_a_stale_clock_fails_at_once(self) -> None:
        self.reply("system.ping", json_reply({"now": int(time.time() * 1000)}))
        outcome = self.verdict(test_hub.TestHubSystem, "test_repeated_pings")
        self.assertCaught(outcome, "did not move on")
        self.assertEqual(self.count("system.ping"), 2, "a stale answer was asked again")

    def test_a_moving_clock_passes(self) -> None:
        self.clock()
        self.assertPasses(self.verdict(test_hub.TestHubSystem, "test_repeated_pings"))
        self.assertEqual(self.count("system.ping"), 5)


# ------------------------------------------------------------ project: tools, kernels


class TestToolSkips(StrengthCase):
    TOOL_TESTS = ("test_nbconvert_writes_a_script", "test_print_sage_worksheet")

    def scripts_answered(self, respond: Callable[[Recorded], Reply]) -> None:
        """Answer ``exec`` of bash scripts with *respond*; other commands (the scratch folder's ``mkdir``) succeed."""
        done = json_reply({"type": "blocking", "stdout": "", "stderr": "", "exit_code": 0})
        self.reply("system.exec", lambda request: respond(request) if request.body["args"][0].get("bash") else done)

    def test_an_exec_that_runs_nothing_fails_instead_of_skipping(self) -> None:
        for answer, fragment in (
            (json_reply({"type": "blocking", "stdout": "", "stderr": "bash: not found", "exit_code": 127}), "does not show the script ran"),
            (json_reply({"error": "Error: spawn bash ENOENT"}), "Error: spawn bash ENOENT"),
        ):
            self.scripts_answered(lambda request, answer=answer: answer)
            for name in self.TOOL_TESTS:
                with self.subTest(test=name, answer=answer[1]):
                    self.assertCaught(self.verdict(test_editor.TestTools, name), fragment)

    def test_a_working_exec_without_the_tools_skips_saying_so(self) -> None:
        empty = tempfile.mkdtemp(prefix="no-tools-")
        self.addCleanup(shutil.rmtree, empty, True)

        def exec_here(request: Recorded) -> Reply:
            script = request.body["args"][0]["command"]
            done = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env={"PATH": empty}, timeout=30)
            return json_reply({"type": "blocking", "stdout": done.stdout, "stderr": done.stderr, "exit_code": done.returncode})
        self.scripts_answered(exec_here)
        for name in self.TOOL_TESTS:
            with self.subTest(test=name):
                outcome = self.verdict(test_editor.TestTools, name)
                self.assertEqual(outcome.kind, "skip", outcome.text)
                self.assertTrue(outcome.text.startswith("the project has no "), outcome.text)


class TestRunNotebookKernel(StrengthCase):
    def test_a_kernel_missing_after_the_set_up_fails_instead_of_skipping(self) -> None:
        self.reply("editor.jupyterKernels", json_reply([]))
        test = unwrapped(test_editor.TestRunNotebook.test_every_code_cell_runs_in_the_notebooks_folder)
        self.assertCaught(self.verdict(test_editor.TestRunNotebook, body=test), "editor.jupyterKernels lists []")


class TestKernelListOnCi(StrengthCase):
    """With ``CI=true`` and the run's own project, the kernel list must be exactly empty."""

    ENVIRON: Dict[str, str] = {}

    def setUp(self) -> None:
        super().setUp()
        self.reply("projects.createProject", json_reply(PROJECT_ID))

    def test_a_kernel_listed_where_none_runs_fails(self) -> None:
        self.reply("system.listJupyterKernels", json_reply([{"pid": 4242, "connectionFile": "/tmp/kernel-4242.json"}]))
        self.assertCaught(self.verdict(test_project.TestProjectSystem, "test_list_jupyter_kernels"), "runs none")

    def test_no_kernel_passes(self) -> None:
        self.reply("system.listJupyterKernels", json_reply([]))
        self.assertPasses(self.verdict(test_project.TestProjectSystem, "test_list_jupyter_kernels"))


# ------------------------------------------------- effects read back: the stand-in behind a proxy


class SwallowingProxy(ThreadingHTTPServer):
    """A loopback HTTP proxy in front of *target*: a request that :attr:`rule` answers never reaches it.

    ``rule(path, body)`` returns the JSON value to answer, or :data:`FORWARD`.  Everything
    else (headers and cookies included) is passed on unchanged, and so is the answer.
    """

    daemon_threads = True
    FORWARD = object()

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        parsed = urllib.parse.urlsplit(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rule: Callable[[str, Any], Any] = lambda path, body: self.FORWARD
        self.swallowed: List[Any] = []

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.server_address[:2]


class _ProxyHandler(BaseHTTPRequestHandler):
    server: SwallowingProxy

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        answer = self.server.rule(self.path, body)
        if answer is not SwallowingProxy.FORWARD:
            self.server.swallowed.append(body)
            self._send(200, [("Content-Type", "application/json")], json.dumps(answer).encode())
            return
        connection = http.client.HTTPConnection(*self.server.target, timeout=300)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            connection.request(self.command, self.path, body=raw or None, headers=headers)
            reply = connection.getresponse()
            payload = reply.read()
            passed = [(k, v) for k, v in reply.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")]
            self._send(reply.status, passed, payload)
        finally:
            connection.close()

    do_GET = do_POST

    def _send(self, status: int, headers: List[Tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def first_calls(name: str, times: int = 1, endpoint: str = "/api/conat/hub") -> Callable[[str, Any], Any]:
    """A rule: the first *times* calls *name* on *endpoint* are answered ``null`` (and do nothing)."""
    seen = []
    lock = threading.Lock()

    def rule(path: str, body: Any) -> Any:
        if path == endpoint and isinstance(body, dict) and body.get("name") == name:
            with lock:
                seen.append(body)
                if len(seen) <= times:
                    return None
        return SwallowingProxy.FORWARD

    return rule


class TestEffectsReadBack(unittest.TestCase):
    """The read-backs fail when the call under test never reaches the stand-in, and pass when it does."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.env = env = start_standin()
        cls.proxy = SwallowingProxy(env.environ["COCALC_HOST"])
        thread = threading.Thread(target=cls.proxy.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        cls.addClassCleanup(thread.join, 10)
        cls.addClassCleanup(cls.proxy.server_close)
        cls.addClassCleanup(cls.proxy.shutdown)
        ledgers = tempfile.mkdtemp(prefix="strength-ledgers-")
        cls.addClassCleanup(shutil.rmtree, ledgers, True)
        environ = dict(env.environ, COCALC_HOST=cls.proxy.url, CI="true", COCALC_TESTS_LEDGER_DIR=ledgers)
        cls.session = Session(Config.from_env(environ))
        cls.addClassCleanup(cls.session.close)

    def setUp(self) -> None:
        self.proxy.rule = lambda path, body: SwallowingProxy.FORWARD
        self.proxy.swallowed.clear()

    def verdicts(self, base: type, method: str, rule: Callable[[str, Any], Any]) -> Tuple[Outcome, Outcome]:
        """The test's outcome with *rule* in the proxy, then without it."""
        self.proxy.rule = rule
        broken = run_case(base, self.session, method)
        self.assertTrue(self.proxy.swallowed, "the rule answered no call: the check proves nothing")
        self.proxy.rule = lambda path, body: SwallowingProxy.FORWARD
        return broken, run_case(base, self.session, method)

    def assertFailsOnlyBroken(self, base: type, method: str, rule: Callable[[str, Any], Any], *fragments: str) -> None:
        broken, working = self.verdicts(base, method, rule)
        self.assertEqual(broken.kind, "failure", f"a call that did nothing went unnoticed ({broken.kind}): {broken.text}")
        for fragment in fragments:
            self.assertIn(fragment, broken.text)
        self.assertEqual(working.kind, "pass", working.text)

    def test_logging_rows(self) -> None:
        for method, call, fragment in (
            ("test_user_tracking", "system.userTracking", "user_tracking rows for"),
            ("test_log_client_error", "system.logClientError", "client_error_log rows for"),
            ("test_webapp_error", "system.webappError", "webapp_errors rows for"),
        ):
            with self.subTest(test=method):
                self.assertFailsOnlyBroken(test_site.TestLogging, method, first_calls(call), fragment)

    def test_blob_ttls_reach_the_blobs_table(self) -> None:
        with mock.patch.object(test_db, "STATS_WAIT", 45.0):  # the statistics of a busy machine come late
            self.assertFailsOnlyBroken(
                test_db.TestRemoveBlobTtls, "test_random_and_invalid_ids_are_a_no_op", first_calls("db.removeBlobTtls"),
                "a scan of blobs counted",
            )

    def test_account_touch(self) -> None:
        """A ``db.touch`` that does nothing fails the test, even when the key owner was just active."""
        owner = Hub(self.env.admin_key, self.env.environ["COCALC_HOST"])  # past the proxy
        self.addCleanup(owner.close)
        self.assertIsNone(owner.db.touch())
        self.assertFailsOnlyBroken(
            test_db.TestTouch, "test_touch_the_account_alone", first_calls("db.touch"), "last_active after db.touch"
        )

    def test_first_ping_records_activity(self) -> None:
        """A bridge that answers a project's ping without reaching it records no activity: the ping test fails."""
        def answer_pings(path: str, body: Any) -> Any:
            if path == "/api/conat/project" and isinstance(body, dict) and body.get("name") == "system.ping":
                return {"now": int(time.time() * 1000)}
            return SwallowingProxy.FORWARD
        self.assertFailsOnlyBroken(test_project.TestProjectSystem, "test_ping", answer_pings, "after its first ping")

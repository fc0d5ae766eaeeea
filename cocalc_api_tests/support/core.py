"""The base TestCase of the API tests, their call helpers, waits and the shared-project set-up.

Every test module starts the same way::

    from .support import APITestCase, prepare

    def setUpModule():
        prepare()            # the session, and the shared project starting in the background

    class TestSomething(APITestCase):
        def test_it(self):
            answer = self.call(self.hub.system.ping)

:meth:`APITestCase.call` turns a server error into a test failure that names
the call, its arguments and the server's answer.  Modules that never use the
shared project call ``get_session()`` instead of :func:`prepare`.

With a project-scoped key (CoCalc's hub refuses it) a test skips, with the one reason
:data:`~cocalc_api_tests.session.PROJECT_KEY_REASON`, where it first needs an account's
key: at :attr:`APITestCase.hub`, a call of a hub client of the run's key, a tracked
creation, :meth:`~APITestCase.create_other_account` or :func:`~.access.requires_site_admin`.
"""
import concurrent.futures
import contextlib
import datetime
import unittest
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import requests

from ..calllog import CallLog
from ..changes import REPEATABLE
from ..client import Hub
from ..errors import CoCalcAPIError, CoCalcError, NotSettled, StillTransient
from ..mixin import TrackedResourcesMixin
from ..poll import Settled, poll, retry_transient, settle
from ..session import AccountKeyNeeded, Session, get_session
from ..text import format_args
from ..wordings import unknown_token_page

T = TypeVar("T")

#: Seconds to wait for something the server does eventually (a project start, a stop).
EVENTUAL_WAIT = 120.0
#: Seconds a background job may still take when a test waits for it.
BACKGROUND_WAIT = 600.0
#: How far the server's clock may be from ours.
CLOCK_SKEW = 60.0
#: Seconds a plain page of the server (not the API) may take to answer.
HTTP_GET_TIMEOUT = 60.0

#: Why a test that needs a second account does not run for a key that is not a site admin's.
SECOND_ACCOUNT_REASON = (
    "needs a second account, and CoCalc makes accounts through the API (org.create, org.createUser) "
    "only for site admins; the API key is not a site admin's"
)

#: The 13 calls of CoCalc's ``org`` API.
ORG_CALLS = (
    "org.getAll", "org.create", "org.get", "org.set", "org.addAdmin", "org.addUser", "org.createUser",
    "org.createToken", "org.expireToken", "org.getUsers", "org.removeUser", "org.removeAdmin", "org.message",
)


def prepare(jupyter: bool = True) -> Session:
    """The session, with the shared project (and, unless ``CI`` or *jupyter* is false, a kernel) starting.

    Call it from ``setUpModule``: whichever module runs first starts the work,
    so a cold project or kernel overlaps the tests that do not need them.
    """
    session = get_session()
    session.start_shared_project()
    if jupyter and not session.config.ci:
        from .jupyter import start_warm_up  # the Jupyter helpers sit above this module

        start_warm_up(session)
    return session


def require_account_key_for(session: Session, method: Callable) -> None:
    """Skip the test (:class:`~cocalc_api_tests.session.AccountKeyNeeded`) if *method* calls the hub with the run's project key.

    :attr:`APITestCase.hub` skips already; this catches a hub client a test built by hand
    with the same key (``Hub(config.api_key, ...)``).
    """
    owner = getattr(method, "__self__", None)
    endpoint = getattr(owner, "_endpoint", owner)
    if isinstance(endpoint, Hub) and endpoint.api_key == session.config.api_key:
        session.require_account_key()


def remote_name(method: Callable) -> str:
    """The remote call a client method makes (``"org.get"``), or its Python name."""
    return getattr(method, "remote_name", getattr(method, "__name__", repr(method)))


def parse_time(text: str) -> datetime.datetime:
    """An ISO time as CoCalc sends it (``2026-11-24T21:36:52.685Z``), timezone-aware."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class APITestCase(TrackedResourcesMixin, unittest.TestCase):
    """Base class of the API tests: the session's clients and error-aware call helpers."""

    def setUp(self) -> None:
        super().setUp()
        token = CallLog.test(self.id())
        token.__enter__()
        self.addCleanup(token.__exit__, None, None, None)

    @contextlib.contextmanager
    def subTest(self, *args: Any, **params: Any) -> Iterator[None]:  # noqa: N802 (unittest's name)
        """unittest's ``subTest``, except that the need of an account's key skips the whole test.

        With a project-scoped key every later subtest would skip for the same reason, and a
        test whose subtests all skipped would count as passed.
        """
        needed: List[AccountKeyNeeded] = []
        with super().subTest(*args, **params):
            try:
                yield
            except AccountKeyNeeded as err:
                needed.append(err)
        if needed:
            raise needed[0]

    @property
    def hub(self):  # -> cocalc_api_tests.client.Hub
        """The session's hub client; with a project-scoped key the test skips here (the hub refuses such keys)."""
        self.session.require_account_key()
        return self.session.hub

    @property
    def project(self):  # -> cocalc_api_tests.client.Project
        """The Project client of the shared project (once it answers)."""
        return self.prepared("shared project", self.session.start_shared_project)

    @property
    def project_id(self) -> str:
        """The shared project's id."""
        return self.session.project_id

    def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``method(*args, **kwargs)``; a server error fails the test, naming call and answer.

        A timeout from a busy server is asked again (within :data:`EVENTUAL_WAIT`) when the
        call may be repeated (:data:`~cocalc_api_tests.changes.REPEATABLE`); any other
        answer is judged at once.
        """
        return self._judged(method, args, kwargs, again=remote_name(method) in REPEATABLE)

    def read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """:meth:`call` for a read the client does not name (``hub.projects.get``): a timeout is always asked again."""
        return self._judged(method, args, kwargs, again=True)

    def _judged(self, method: Callable[..., T], args: Sequence[Any], kwargs: Dict[str, Any], again: bool) -> T:
        try:
            return self.asked(method, args, kwargs, again=again)
        except CoCalcAPIError as err:
            self.fail(f"{err.describe()} [client call {remote_name(method)}({format_args(args, kwargs)})]")

    def asked(self, method: Callable[..., T], args: Sequence[Any], kwargs: Dict[str, Any], again: bool) -> T:
        """``method(*args, **kwargs)``, asked again while it answers a timeout if *again*; a timeout all along fails.

        The retries are reported with the run's slow calls, as one entry.
        """
        require_account_key_for(self.session, method)
        if not again:
            return method(*args, **kwargs)
        name, calls = remote_name(method), self.session.calls
        with calls.retrying():
            try:
                return retry_transient(
                    lambda: method(*args, **kwargs), budget=EVENTUAL_WAIT, what=f"{name}({format_args(args, kwargs)})",
                    on_done=lambda attempts: calls.attempts(name, attempts),
                )
            except StillTransient as err:
                self.fail(str(err))

    def assertCallFails(self, method: Callable, *args: Any, contains: str, **kwargs: Any) -> CoCalcAPIError:
        """Assert that the call is answered with an error whose text contains *contains*.

        A timeout is no answer: the call is asked again (a refused call changed nothing).
        """
        try:
            answer = self.asked(method, args, kwargs, again=True)
        except CoCalcAPIError as err:
            self.assertIn(contains, err.message, f"{err.describe()}; expected an error containing {contains!r}")
            return err
        self.fail(f"{remote_name(method)}({format_args(args, kwargs)}) answered {answer!r}; expected an error containing {contains!r}")

    def poll_call(
        self,
        method: Callable[..., T],
        *args: Any,
        accept: Callable[[T], bool] = lambda value: True,
        timeout: float = EVENTUAL_WAIT,
        what: str = "",
        **kwargs: Any,
    ) -> T:
        """Repeat the call until *accept* approves its answer; fail with the last answer at the deadline.

        Only transient errors (timeouts) are retried: a refusal fails the test at once.
        """
        description = what or f"{remote_name(method)}({format_args(args, kwargs)})"
        try:
            return poll(lambda: method(*args, **kwargs), timeout=timeout, accept=accept, what=description)
        except CoCalcAPIError as err:
            verb = "kept timing out" if err.transient else "failed"
            self.fail(f"{description} {verb} ({timeout:g} s at most): {err.describe()}")
        except TimeoutError as err:
            self.fail(str(err))

    def change(
        self, method: Callable[..., Any], *args: Any, read: Callable[[], Any], accept: Callable[[Any], bool],
        again: Optional[float] = None, **kwargs: Any
    ) -> Any:
        """``method(*args, **kwargs)``, a call that changes state, seen through to its end within :data:`EVENTUAL_WAIT`.

        A timeout from CoCalc is a change still in progress: *read* is polled until
        *accept* approves it; with *again* (seconds; for changes that land the same
        however often they are made), the call is made again if it is still not seen
        done after that long (:func:`~cocalc_api_tests.poll.settle`).  Returns the answer,
        or a :class:`~cocalc_api_tests.poll.Settled` (no answer to check).  A refusal, or a
        change never seen done, fails the test.
        """
        name = remote_name(method)
        calls = self.session.calls
        with calls.retrying():
            try:
                return settle(
                    lambda: method(*args, **kwargs), read=read, accept=accept, timeout=EVENTUAL_WAIT, again=again,
                    what=f"{name}({format_args(args, kwargs)})", on_done=lambda attempts: calls.attempts(name, attempts),
                )
            except NotSettled as err:
                self.fail(str(err))
            except CoCalcAPIError as err:
                self.fail(err.describe())

    def assertAnswered(self, answer: Any, expected: Any, what: str) -> None:  # noqa: N802 (unittest's style)
        """*answer* equals *expected*, unless the call answered a timeout (:class:`Settled`: nothing to compare)."""
        if not isinstance(answer, Settled):
            self.assertEqual(answer, expected, f"{what} answered {answer!r}")

    def prepared(self, name: str, start: Callable[[], Any]) -> Any:
        """The result of background job *name* (started by *start* if nobody did); its failure fails the test."""
        job = self.session.background.get(name) or start()
        try:
            return job.result(timeout=BACKGROUND_WAIT)
        except CoCalcAPIError as err:
            self.fail(f"background work {name!r} failed: {err.describe()}")
        except CoCalcError as err:
            self.fail(f"background work {name!r} failed: {err}")
        except concurrent.futures.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            self.fail(f"background work {name!r} did not finish within {BACKGROUND_WAIT:g} s")

    def exec_ok(self, command: str, *, project: Any = None, **kwargs: Any) -> Dict[str, Any]:
        """Run *command* in *project* (default: the shared one); fail unless it exits 0."""
        client = project or self.project
        result = self.call(client.system.exec, command, **kwargs)
        self.assertEqual(result.get("exit_code"), 0, f"system.exec({command!r}) answered {result!r}")
        return result

    def unique_name(self, prefix: str) -> str:
        """A name unique to this run and call (at most 39 characters)."""
        return self.session.unique_name(prefix)

    def scratch_path(self, name: str) -> str:
        """A path, relative to the shared project's home, for a file this test writes there.

        Every such path lies in the run's own scratch folder, which exists and is
        removed at exit (also from a project named by ``COCALC_PROJECT_ID``).
        """
        return f"{self.call(lambda: self.session.scratch_dir)}/{name}"

    def unique_email(self, prefix: str = "user") -> str:
        """An e-mail address no other account has."""
        return f"{self.unique_name(prefix)}@test.local"

    def create_other_account(self, **kwargs: Any) -> str:
        """Another account, made inside a new organization (both tracked); its id.

        *kwargs* go to ``org.createUser`` (``firstName``, ``lastName``, ``email``).  CoCalc
        lets only site admins make accounts through the API, so for any other key the
        test is skipped with :data:`SECOND_ACCOUNT_REASON` (a project-scoped key's reason first).
        """
        self.session.require_account_key()
        if not self.session.is_site_admin:
            self.skipTest(SECOND_ACCOUNT_REASON)
        org_name = self.unique_name("org")
        self.call(self.create_tracked_org, org_name)
        return self.call(self.create_tracked_user, org_name, **kwargs)

    def sent_message(self, match: Callable[[Dict[str, Any]], bool], what: str) -> Dict[str, Any]:
        """Wait for a message that *match* approves among the caller's sent messages; track and return it."""
        sent = self.poll_call(
            self.hub.messages.get,
            type="sent",
            limit=50,
            accept=lambda rows: any(match(m) for m in rows),
            what=f"{what} among the sender's sent messages",
        )
        message = next(m for m in sent if match(m))
        self.track_message(message["id"])
        return message

    def project_row(self, project_id: str, *fields: str, all: bool = True) -> Dict[str, Any]:
        """The row of *project_id* read through ``db.userQuery`` (``projects_all`` by default)."""
        rows = self.read(self.hub.projects.get, fields=("project_id",) + fields, all=all, project_id=project_id)
        self.assertEqual(len(rows), 1, f"db.userQuery for project {project_id} answered {rows!r}")
        return rows[0]

    def assertRecent(self, moment: datetime.datetime, what: str, since: Optional[float] = None) -> None:
        """*moment* lies within :data:`CLOCK_SKEW` of now (and not before *since*, a ``time.time()``, if given)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((moment - now).total_seconds()), CLOCK_SKEW, f"{what} is {moment}, but now is {now}")
        if since is not None:
            self.assertGreaterEqual(moment.timestamp(), since - CLOCK_SKEW, f"{what} is {moment}, before this run began")

    def assertRecentMs(self, value: Any, what: str, since: Optional[float] = None) -> None:
        """*value* is a time in milliseconds since the epoch (an int) within :data:`CLOCK_SKEW` of now."""
        self.assertIsInstance(value, int, f"{what} is {value!r}, not milliseconds since the epoch")
        self.assertRecent(datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc), what, since)

    def http_get(self, path: str, **params: str) -> requests.Response:
        """``GET {host}{path}?params`` as a browser makes it: no API key, no cookies."""
        return requests.get(self.session.config.host + path, params=params, timeout=HTTP_GET_TIMEOUT)

    def assertSignInRefused(self, token: str) -> None:
        """CoCalc's sign-in link ``/auth/impersonate`` refuses *token* as unknown or expired.

        Never call it with a live token: opening the link with one signs in (a ``remember_me`` row).
        """
        page = self.http_get("/auth/impersonate", auth_token=token)
        expected = unknown_token_page(token)
        self.assertEqual((page.status_code, page.text), (200, expected), f"GET /auth/impersonate?auth_token={token}")

    def assertProbesPass(self, probes: Dict[str, Callable[[Any], None]], names: Sequence[str] = ()) -> None:
        """Run the probes of :mod:`cocalc_api_tests.probes` named *names* (default: all), each as a subtest."""
        for name in sorted(names or probes):
            with self.subTest(call=name):
                probes[name](self)

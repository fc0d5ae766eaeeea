"""The one session a test process shares: hub client, custody of what the run creates, shared project.

About 450 lines: the session object, its start-up checks (the key, the site-admin
decision, what a project-scoped key cannot do) and the process-wide ``get_session``, which
belong together.

Each test module calls :func:`get_session` from ``setUpModule``; the first call
builds the session — checking the configuration, the cleanup database and the
key, in that order, before anything is created — and later calls return the
same object.  A failed build is remembered and raised again, so a broken
set-up costs one attempt, not one per module.

>>> from cocalc_api_tests import get_session
>>> session = get_session()
>>> session.hub.system.ping()
{'now': 1795556211094}
>>> session.project.system.exec("uname", args=["-s"])["stdout"]
'Linux\\n'

The session also runs server work in the background (:attr:`Session.background`)
and keeps the run's report of slow and retried calls (:attr:`Session.calls`).
"""
import atexit
import signal
import sys
import threading
import time
import unittest
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import security
from .background import Background
from .calllog import CallLog
from .changes import start_project
from .cleanup import CleanupReport
from .client import Hub, Project, ScopedProject
from .config import Config
from .custody import FIND_WAIT, Custody
from .errors import AdminSignalsDisagree, CoCalcAPIError, CoCalcConnectionError, CoCalcError, KeyRefused
from .poll import poll
from .text import redact
from .wordings import BAD_KEY, NOT_SITE_ADMIN

#: Seconds to wait for a server that is still starting before giving up.
SERVER_WAIT = 30.0
#: Seconds to wait for a started project to answer a ping.
PROJECT_START_WAIT = 120.0
#: Title prefix of the shared temporary project.
TEMP_PROJECT_PREFIX = "CoCalc API Test "
#: Longest name :meth:`Session.unique_name` makes (CoCalc's limit for organization names).
NAME_LIMIT = 39


def project_key_scope(hub: Hub, project_id: Optional[str]) -> Optional[dict]:
    """The scope of a key scoped to *project_id*, asked of the project endpoint.

    CoCalc's hub endpoint refuses project-scoped keys; its project endpoint takes them.
    ``None`` when there is no *project_id* or the key is not scoped to it.
    """
    if not project_id:
        return None
    client = hub.project(project_id)
    try:
        scope = client.system.test()
    except CoCalcError:
        return None
    finally:
        client.close()
    return scope if isinstance(scope, dict) and scope.get("project_id") == project_id else None


#: Why a test does not run with a project-scoped key: the one reason of every such skip (``{project_id}``: the key's).
PROJECT_KEY_REASON = (
    "COCALC_API_KEY is scoped to project {project_id}, and CoCalc's hub (/api/conat/hub) refuses project-scoped "
    "keys; this test needs an account's key (hub calls, or making projects, accounts, keys or messages): run with an "
    "account's API key to run it"
)


class AccountKeyNeeded(unittest.SkipTest):
    """The test needs an account's API key and the run has a project-scoped one: it skips (:data:`PROJECT_KEY_REASON`)."""


#: ``project_id`` for :meth:`Session.client`: a project client that names no project (the key does).
KEY_PROJECT = ""


def check_key(hub: Hub, config: Config, wait: Optional[float] = None) -> dict:
    """``system.test`` (retried while the server is unreachable): the key's scope, or a clear error.

    The scope is ``{"account_id", ...}`` for an account's key, or ``{"project_id", ...}``
    for a key scoped to ``COCALC_PROJECT_ID``.  Raises :class:`CoCalcConnectionError`
    when the server does not answer within *wait* seconds and :class:`CoCalcAPIError`
    (:class:`KeyRefused`) when it refuses the key.  *wait* defaults to :data:`SERVER_WAIT`.
    """
    wait = SERVER_WAIT if wait is None else wait
    try:
        scope = poll(hub.system.test, timeout=wait, retry_on=(CoCalcConnectionError,), what="server answer")
    except CoCalcConnectionError as err:
        raise CoCalcConnectionError(
            f"The CoCalc server at {config.host} did not answer within {wait:g} s ({err}). Start it, or point "
            "COCALC_HOST at a running server.",
            err.url,
        ) from None
    except CoCalcAPIError as err:
        scope = project_key_scope(hub, config.project_id)
        if scope is None:
            raise KeyRefused(
                f"The server at {config.host} refused COCALC_API_KEY ({err.message}). Use a current API key of a "
                "CoCalc account (Account -> Settings -> API keys), or, for a project-scoped key, set "
                "COCALC_PROJECT_ID to its project.",
                err.message,
            ) from None
        if BAD_KEY not in err.message:  # a project key is refused for what it is, not for another reason
            raise CoCalcAPIError(
                f"The hub at {config.host} refused COCALC_API_KEY, a key of project {config.project_id}, with "
                f"{err.message!r}, not with CoCalc's refusal of project-scoped keys ({BAD_KEY!r}); the run stops "
                "rather than skip the tests that need an account's key on a guess.",
                "system.test",
            ) from None
    if not isinstance(scope, dict) or not (scope.get("account_id") or scope.get("project_id")):
        shown = redact(repr(scope), config.api_key)  # a server that is not CoCalc may echo the key
        raise CoCalcAPIError(
            f"system.test at {config.host} named neither an account nor a project ({shown}), so this does not look "
            "like a CoCalc server; check COCALC_HOST.",
            "system.test",
        )
    return scope


def ask_site_admin(hub: Hub, config: Config) -> bool:
    """Whether *hub*'s key is a site admin's, by two independent signals that must agree.

    One is ``admin`` in the account's ``accounts.groups`` (``db.userQuery``), the other
    whether ``org.getAll``, a site-admin call, is answered rather than refused.  When
    they disagree the server is broken: :class:`AdminSignalsDisagree`, so that no test
    skips (or fails) on a guess.
    """
    groups = hub.db.query({"accounts": {"groups": None}})
    in_groups = "admin" in ((groups.get("accounts") or {}).get("groups") or []) if isinstance(groups, dict) else None
    try:
        orgs = hub.org.get_all()
    except CoCalcAPIError as err:
        if NOT_SITE_ADMIN not in err.message:
            raise
        answers_admin_call = False
    else:
        answers_admin_call = isinstance(orgs, list)
    if in_groups is not answers_admin_call:
        raise AdminSignalsDisagree(
            f"The server at {config.host} contradicts itself about whether COCALC_API_KEY is a site admin's: "
            f"db.userQuery of accounts.groups answered {redact(repr(groups), config.api_key)}, but org.getAll, a "
            f"site-admin call, was {'answered' if answers_admin_call else 'refused'}. One of the two is a server "
            "bug; the run stops rather than skip or fail the admin tests on a guess."
        )
    return answers_admin_call


def start_and_ping(
    hub: Hub, project_id: str, *, start: bool = True, wait: float = PROJECT_START_WAIT, log: Optional[CallLog] = None
) -> Project:
    """Start *project_id* (unless *start* is false) and wait until it answers ``system.ping``.

    Returns a :class:`Project` client for it.  A start CoCalc answers with a timeout
    goes on, so it is followed until the project runs (:func:`~cocalc_api_tests.changes.start_project`,
    reported in *log*); all of it within *wait* seconds.  A refusal is raised at once; a
    project that stays silent raises the last transient error or :class:`TimeoutError`.
    """
    deadline = time.monotonic() + wait
    if start:
        start_project(hub, project_id, wait=wait, log=log)
    client = hub.project(project_id)
    try:
        left = max(0.0, deadline - time.monotonic())
        poll(client.system.ping, timeout=left, what=f"ping of project {project_id}")
    except BaseException:
        client.close()
        raise
    return client


class Session:
    """Everything a test run shares.  Build it with :func:`get_session`.

    *custody_factory* (for self-tests) builds the :class:`Custody` from
    ``(config, hub, run_id)``.
    """

    def __init__(self, config: Config, *, custody_factory: Optional[Callable[..., Custody]] = None):
        self.config = config
        self.run_id = uuid.uuid4().hex[:8]
        self.started = time.time()
        self.calls = CallLog()
        self.background = Background()
        self.hub = Hub(config.api_key, config.host, observer=self.calls.observe)
        self.custody = (custody_factory or Custody)(config, self.hub, self.run_id)
        self.custody.preflight()
        if not config.cleanup:
            print(
                "cocalc-api-tests: WARNING: COCALC_TESTS_CLEANUP is false; everything this run creates stays on "
                "the server.",
                file=sys.stderr,
            )
        self.scope = check_key(self.hub, config)
        self.account_id: Optional[str] = self.scope.get("account_id")
        self.key_project_id: Optional[str] = None if self.account_id else self.scope.get("project_id")
        #: Why a test that needs an account's key skips (:data:`PROJECT_KEY_REASON`); ``None`` for an account's key.
        self.account_key_needed: Optional[str] = None
        if self.key_project_id:
            self.account_key_needed = PROJECT_KEY_REASON.format(project_id=self.key_project_id)
            print(
                f"cocalc-api-tests: WARNING: COCALC_API_KEY is scoped to project {self.key_project_id}; CoCalc's hub "
                "refuses such keys, so only the tests on that project's endpoint run and every test that needs an "
                "account's key skips, saying so.",
                file=sys.stderr,
            )
        self.custody.protect(account_ids=[self.account_id], project_ids=[config.project_id])
        self._clients: List[Any] = []
        #: What the run left in a project it does not own (``COCALC_PROJECT_ID``), said at the end.
        self.left_in_user_project: List[str] = []
        self._clients_lock = threading.Lock()
        self._admin_lock = threading.Lock()
        self._is_site_admin: Optional[bool] = None
        self._project_lock = threading.Lock()
        self._project_id: Optional[str] = config.project_id
        self._scratch_lock = threading.Lock()
        self._scratch_made = False
        self._closed = False

    @property
    def tracker(self) -> Any:
        """The run's :class:`~cocalc_api_tests.tracking.Tracker`."""
        return self.custody.tracker

    # -- other keys and what the key may do --------------------------------------

    def client(self, api_key: Optional[str], project_id: Optional[str] = None) -> Union[Hub, ScopedProject]:
        """A client that calls the server with *api_key* (``None``: with no key at all).

        The hub's client when *project_id* is ``None``; else the project endpoint's for
        *project_id* (:data:`KEY_PROJECT` sends none, so a project-scoped key names it).
        Its calls reach the run's report of slow calls, and it is closed with the session::

            stranger = session.client(stranger_key)
            stranger.projects.start(project_id)      # refused, one hopes

        The session's own key, when project-scoped, serves only its project named explicitly
        (as :attr:`project` does): any other client of it is for what an account's key may
        do, so asking for one raises :class:`AccountKeyNeeded`.
        """
        if api_key == self.config.api_key and project_id != self.key_project_id:
            self.require_account_key()
        made: Union[Hub, ScopedProject]
        if project_id is None:
            made = Hub(api_key, self.config.host, observer=self.calls.observe)  # type: ignore[arg-type]
        else:
            made = ScopedProject(api_key, self.config.host, project_id or None, observer=self.calls.observe)
        with self._clients_lock:
            self._clients.append(made)
        return made

    def require_account_key(self) -> None:
        """Raise :class:`AccountKeyNeeded` (the test skips) unless the key is an account's."""
        if self.account_key_needed:
            raise AccountKeyNeeded(self.account_key_needed)

    @property
    def is_site_admin(self) -> bool:
        """Whether the key is a site admin's, asked of the server once.

        Two independent signals must agree: ``admin`` in the account's
        ``accounts.groups`` (read through ``db.userQuery``) and whether ``org.getAll``, a
        site-admin call, is answered.  When they disagree the server is broken and
        :class:`~cocalc_api_tests.errors.AdminSignalsDisagree` is raised, so no test
        silently skips because of it.  A project-scoped key is never a site admin's.
        """
        with self._admin_lock:
            if self._is_site_admin is None:
                self._is_site_admin = ask_site_admin(self.hub, self.config) if self.account_id else False
            return self._is_site_admin

    # -- names --------------------------------------------------------------------

    def unique_name(self, prefix: str) -> str:
        """``prefix-<run id>-<random>``: unique across runs, at most 39 characters."""
        name = f"{prefix}-{self.run_id}-{uuid.uuid4().hex[:8]}"
        if len(name) > NAME_LIMIT:
            raise ValueError(f"prefix {prefix!r} is too long for a {NAME_LIMIT}-character name")
        return name

    @property
    def scratch_dir(self) -> str:
        """The folder (relative to the shared project's home) that holds every file the tests write.

        Made on first use; removed at the end of the run, also from a project named
        by ``COCALC_PROJECT_ID``.
        """
        path = f"cocalc-api-tests-{self.run_id}"
        with self._scratch_lock:
            if not self._scratch_made:
                self.custody.scratch(self.project_id, path)
                self.project.system.exec("mkdir", args=["-p", path])
                self._scratch_made = True
        return path

    # -- tracked creation ---------------------------------------------------------

    def create_project(self, **kwargs: Any) -> str:
        """Create a project through the API and track it (*title* defaults to a unique name)."""
        self.require_account_key()  # the hub refuses a project key: skip before anything is tracked
        kwargs.setdefault("title", self.unique_name("project"))
        title = kwargs["title"]
        return self.custody.create("project", {"title": title}, lambda: self.hub.projects.create_project(**kwargs),
                                   find=lambda: self.projects_titled(self.hub, title))

    def create_user(self, org_name: str, **kwargs: Any) -> str:
        """Create an account in organization *org_name* and track it."""
        self.require_account_key()
        kwargs.setdefault("email", f"{self.unique_name('user')}@test.local")
        email = kwargs["email"]
        return self.custody.create(
            "account", {"email": email}, lambda: self.hub.org.create_user(org_name, **kwargs), org=org_name,
            find=lambda: [u["account_id"] for u in self.hub.org.get_users(org_name) if u.get("email_address") == email],
        )

    def create_org(self, name: str) -> str:
        """Create an organization and track it."""
        self.require_account_key()
        # No read-back after a timeout: CoCalc's API never shows an organization's id but to its creator.
        return self.custody.create("organization", {"name": name}, lambda: self.hub.org.create(name))

    @staticmethod
    def projects_titled(hub: Hub, title: str) -> List[str]:
        """The ids of the projects titled *title* that *hub*'s key collaborates on."""
        return [p["project_id"] for p in hub.projects.get(fields=("project_id", "title"), all=True) if p.get("title") == title]

    def create_api_key(self, project_id: str, name: Optional[str] = None, expire: Optional[str] = None) -> Dict[str, Any]:
        """Create an API key scoped to *project_id* and track it; the created key's row (with ``secret``)."""
        self.require_account_key()
        name = name or self.unique_name("key")
        created: Dict[str, Any] = {}

        def create() -> int:
            rows = self.hub.system.manage_api_keys("create", project_id=project_id, name=name, expire=expire)
            if not (isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict) and "id" in rows[0]):
                raise CoCalcAPIError(f"answered {rows!r}, not the one created key", "system.manageApiKeys")
            created.update(rows[0])
            return rows[0]["id"]

        # A key's secret is shown once, so one whose creation timed out cannot be read back: it is made again (the
        # intent stays open, and the cleaner finds every key of that name; a project's keys also go with it).
        self.custody.create("api_key", {"name": name, "project_id": project_id},
                            lambda: poll(create, timeout=FIND_WAIT, what=f"a new API key of project {project_id}"))
        return created

    def create_license(self, **fields: Any) -> str:
        """Write a site license through ``db.userQuery`` (site admins only) and track it; its id."""
        self.require_account_key()
        license_id = str(fields.setdefault("id", str(uuid.uuid4())))
        fields.setdefault("title", self.unique_name("license"))
        self.custody.track("license", license_id, title=fields["title"])  # the id is ours: tracked before the call
        self.hub.db.query({"site_licenses": fields})
        return license_id

    def send_message(self, subject: str, body: str, to_ids: Sequence[str], reply_id: Optional[int] = None) -> int:
        """Send a message and track it; its id."""
        self.require_account_key()
        return self.custody.create(
            "message", {"subject": subject}, lambda: self.hub.messages.send(subject, body, list(to_ids), reply_id=reply_id)
        )

    def tracked_event(self, prefix: str = "event") -> str:
        """A unique tag for rows written into CoCalc's logging tables, tracked for deletion."""
        tag = self.unique_name(prefix)
        self.custody.track("event", tag)
        return tag

    # -- the shared project -------------------------------------------------------

    @property
    def project_id(self) -> str:
        """The shared project: ``COCALC_PROJECT_ID``, or a temporary one made on first use."""
        with self._project_lock:
            if self._project_id is None:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                self._project_id = self.create_project(
                    title=f"{TEMP_PROJECT_PREFIX}{stamp} {self.run_id}",
                    description="Temporary project made by cocalc-api-tests; removed when the run ends.",
                )
            return self._project_id

    def start_shared_project(self) -> "Any":
        """Begin making and starting the shared project in the background (once); its job."""
        return self.background.submit("shared project", self._start_shared_project)

    def _start_shared_project(self) -> Project:
        # The hub refuses project-scoped keys; their project must already run (the bridge starts it).
        return start_and_ping(self.hub, self.project_id, start=bool(self.account_id), log=self.calls)

    @property
    def project(self) -> Project:
        """A :class:`Project` client for :attr:`project_id`, once the project answers."""
        return self.start_shared_project().result()

    # -- the end ------------------------------------------------------------------

    def close(self) -> Optional[CleanupReport]:
        """Clean up (once): custody's close, then the HTTP connections.

        Ctrl-C and SIGTERM are held off while the cleaner works, so a second
        interruption cannot leave the cleanup half done.
        """
        with _signals_deferred():
            if self._closed:
                return self.custody.cleaner.run()
            self._closed = True
            for line in self.calls.lines() + security.lines():
                print(f"cocalc-api-tests: {line}", file=sys.stderr)
            for what in self.left_in_user_project:
                print(f"cocalc-api-tests: left in project {self.config.project_id} (COCALC_PROJECT_ID): {what}",
                      file=sys.stderr)
            try:
                return self.custody.close()
            finally:
                job = self.background.get("shared project")
                if job is not None and job.done() and job.exception() is None:
                    job.result().close()
                with self._clients_lock:
                    for client in self._clients:
                        client.close()
                self.hub.close()


class _signals_deferred:
    """Ignore SIGINT and SIGTERM inside the block (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> None:
        self._saved = {}
        if threading.current_thread() is threading.main_thread():
            self._saved = {s: signal.signal(s, signal.SIG_IGN) for s in self.SIGNALS}

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends the run as Ctrl-C does, so the cleaner still runs at exit."""
    raise KeyboardInterrupt


def _catch_sigterm() -> None:
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


_lock = threading.Lock()
_session: Optional[Session] = None
_failure: Optional[BaseException] = None


def get_session() -> Session:
    """The process-wide :class:`Session`, built from the environment on first call.

    Registers :meth:`Session.close` with ``atexit`` so the cleaner runs when the
    process ends, and turns SIGTERM into ``KeyboardInterrupt`` (when nothing else
    handles it) so that a terminated run still cleans up.
    """
    global _session, _failure
    with _lock:
        if _session is not None:
            return _session
        if _failure is not None:
            raise _failure
        try:
            _session = Session(Config.from_env())
        except CoCalcError as err:
            _failure = err
            raise
        atexit.register(_session.close)
        _catch_sigterm()
        return _session

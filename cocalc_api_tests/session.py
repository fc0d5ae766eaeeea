"""The one session a test process shares: hub client, tracker, cleaner, shared project.

Each test module calls :func:`get_session` from ``setUpModule``; the first call
builds the session (checking the configuration, the cleanup database and the
key), later calls return the same object.  A failed build is remembered and
raised again, so a broken set-up costs one attempt, not one per module.

>>> from cocalc_api_tests import get_session
>>> session = get_session()
>>> session.hub.system.ping()
{'now': 1795556211094}
>>> session.project.system.exec("uname", args=["-s"])["stdout"]
'Linux\\n'
"""
import atexit
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from .client import Hub, Project
from .config import Config
from .errors import CoCalcAPIError, CoCalcConnectionError, CoCalcError, is_transient
from .ledger import Ledger
from .tracking import Intent, Resource, Tracker

T = TypeVar("T")

#: Seconds to wait for a server that is still starting before giving up.
SERVER_WAIT = 30.0
#: Seconds to wait for a started project to answer a ping.
PROJECT_START_WAIT = 120.0
#: Title prefix of the shared temporary project.
TEMP_PROJECT_PREFIX = "CoCalc API Test "


def poll(
    attempt: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.25,
    retry_on: tuple = (CoCalcError,),
    accept: Callable[[T], bool] = lambda value: True,
    what: str = "condition",
) -> T:
    """Call *attempt* until it returns a value that *accept* approves, or time runs out.

    Exceptions of the *retry_on* types are retried; when the deadline passes, the
    last one is re-raised, or :class:`TimeoutError` names *what* and the last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = attempt()
            if accept(value):
                return value
            failure: Optional[BaseException] = None
            last = value
        except retry_on as err:
            failure, last = err, None
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            raise TimeoutError(f"{what} not reached within {timeout:g} s; last value: {last!r}")
        time.sleep(interval)


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


class Session:
    """Everything a test run shares.  Build it with :func:`get_session`."""

    def __init__(self, config: Config, *, cleaner_factory: Optional[Callable[..., Any]] = None):
        from .cleanup import Cleaner

        self.config = config
        self.run_id = uuid.uuid4().hex[:8]
        self.hub = Hub(config.api_key, config.host)
        self.ledger: Optional[Ledger] = None
        self.tracker = Tracker(on_add=self._record, on_intent=self._record_intent)
        factory = cleaner_factory or Cleaner
        self.cleaner = factory(config, self.hub, self.tracker)
        if config.cleanup:
            self.cleaner.preflight()
        else:
            print(
                "cocalc-api-tests: WARNING: COCALC_TESTS_CLEANUP is false; everything this run "
                "creates stays on the server.",
                file=sys.stderr,
            )
        self.scope = self._check_key()
        self.account_id: Optional[str] = self.scope.get("account_id")
        self.key_project_id: Optional[str] = self.scope.get("project_id")
        self.cleaner.protect(account_ids=[self.account_id], project_ids=[config.project_id])
        if config.cleanup:
            self.ledger = Ledger.for_run(config, self.run_id)
            self.ledger.protect(account_ids=[self.account_id], project_ids=[config.project_id])
        self._project_lock = threading.Lock()
        self._project_id: Optional[str] = config.project_id
        self._project: Optional[Project] = None

    def _record(self, resource: Resource) -> None:
        if self.ledger is not None:
            self.ledger.record(resource)

    def _record_intent(self, intent: Intent) -> None:
        if self.ledger is not None:
            self.ledger.record_intent(intent)

    # -- the key ------------------------------------------------------------------

    def _check_key(self) -> dict:
        """``system.test``, retried while the server is unreachable; the key's scope."""
        try:
            scope = poll(self.hub.system.test, timeout=SERVER_WAIT, retry_on=(CoCalcConnectionError,), what="server answer")
        except CoCalcConnectionError as err:
            raise CoCalcConnectionError(
                f"The CoCalc server at {self.config.host} did not answer within {SERVER_WAIT:g} s "
                f"({err}). Start it, or point COCALC_HOST at a running server.",
                err.url,
            ) from None
        except CoCalcAPIError as err:
            scope = project_key_scope(self.hub, self.config.project_id)
            if scope is None:
                raise CoCalcAPIError(
                    f"The server at {self.config.host} refused COCALC_API_KEY ({err.message}). Use a "
                    "current API key of a CoCalc account (Account -> Settings -> API keys), or, for a "
                    "project-scoped key, set COCALC_PROJECT_ID to its project.",
                    "system.test",
                ) from None
            print(
                f"cocalc-api-tests: WARNING: COCALC_API_KEY is scoped to project {scope['project_id']}; the hub "
                "refuses such keys, so only the project tests can pass.",
                file=sys.stderr,
            )
        if not (scope.get("account_id") or scope.get("project_id")):
            raise CoCalcAPIError(f"system.test named neither an account nor a project: {scope!r}", "system.test")
        return scope

    # -- names --------------------------------------------------------------------

    def unique_name(self, prefix: str) -> str:
        """``prefix-<run id>-<random>``: unique across runs, at most 39 characters."""
        name = f"{prefix}-{self.run_id}-{uuid.uuid4().hex[:8]}"
        if len(name) > 39:
            raise ValueError(f"prefix {prefix!r} is too long for a 39-character name")
        return name

    # -- tracked creation ---------------------------------------------------------

    def _create(self, kind: str, key: Dict[str, Any], call: Callable[[], Any], **extra: Any) -> Any:
        """*call()*, bracketed by an intent (before) and the tracked id (after).

        A refusal abandons the intent; a timeout or a lost connection leaves it
        unresolved, so the cleaner looks the row up by *key*.
        """
        intent = self.tracker.intend(kind, **key)
        try:
            resource_id = call()
        except CoCalcError as err:
            if not is_transient(err):
                self.tracker.abandon(intent)
            raise
        self.tracker.add(kind, resource_id, intent=intent, **dict(key, **extra))
        return resource_id

    def create_project(self, **kwargs: Any) -> str:
        """Create a project through the API and track it (*title* defaults to a unique name)."""
        kwargs.setdefault("title", self.unique_name("project"))
        return self._create("project", {"title": kwargs["title"]}, lambda: self.hub.projects.create_project(**kwargs))

    def create_user(self, org_name: str, **kwargs: Any) -> str:
        """Create an account in organization *org_name* and track it."""
        kwargs.setdefault("email", f"{self.unique_name('user')}@test.local")
        return self._create(
            "account", {"email": kwargs["email"]}, lambda: self.hub.org.create_user(org_name, **kwargs), org=org_name
        )

    def create_org(self, name: str) -> str:
        """Create an organization and track it."""
        return self._create("organization", {"name": name}, lambda: self.hub.org.create(name))

    def create_api_key(self, project_id: str, name: Optional[str] = None, expire: Optional[str] = None) -> Dict[str, Any]:
        """Create an API key scoped to *project_id* and track it; the created key's row."""
        name = name or self.unique_name("key")

        def call() -> Any:
            return self.hub.system.manage_api_keys("create", project_id=project_id, name=name, expire=expire)

        rows: List[Dict[str, Any]] = []

        def create() -> int:
            rows.extend(call() or [])
            if len(rows) != 1 or not isinstance(rows[0], dict) or "id" not in rows[0]:
                raise CoCalcAPIError(f"answered {rows!r}, not one created key", "system.manageApiKeys")
            return rows[0]["id"]

        self._create("api_key", {"name": name, "project_id": project_id}, create)
        return rows[0]

    def create_license(self, **fields: Any) -> str:
        """Write a site license through ``db.userQuery`` (site admins only) and track it."""
        license_id = str(fields.setdefault("id", str(uuid.uuid4())))
        fields.setdefault("title", self.unique_name("license"))
        self.tracker.add("license", license_id, title=fields["title"])  # the id is ours: track it first
        self.hub.db.query({"site_licenses": fields})
        return license_id

    def send_message(self, subject: str, body: str, to_ids: Sequence[str], reply_id: Optional[int] = None) -> int:
        """Send a message and track it."""
        return self._create(
            "message", {"subject": subject}, lambda: self.hub.messages.send(subject, body, list(to_ids), reply_id=reply_id)
        )

    def tracked_event(self, prefix: str = "event") -> str:
        """A unique tag for rows written into CoCalc's logging tables, tracked for deletion."""
        tag = self.unique_name(prefix)
        self.tracker.add("event", tag)
        return tag

    # -- the shared project -------------------------------------------------------

    @property
    def project_id(self) -> str:
        """The shared project: ``COCALC_PROJECT_ID``, or a temporary one made on first use."""
        with self._project_lock:
            if self._project_id is None:
                self._project_id = self._make_temporary_project()
            return self._project_id

    @property
    def project(self) -> Project:
        """A :class:`Project` client for :attr:`project_id`, ready to answer."""
        project_id = self.project_id
        with self._project_lock:
            if self._project is None:
                client = self.hub.project(project_id)
                if self.account_id:  # the hub refuses project-scoped keys; their project must be running
                    self.hub.projects.start(project_id)
                poll(client.system.ping, timeout=PROJECT_START_WAIT, what=f"ping of project {project_id}")
                self._project = client
            return self._project

    def _make_temporary_project(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        return self.create_project(
            title=f"{TEMP_PROJECT_PREFIX}{stamp} {self.run_id}",
            description="Temporary project made by cocalc-api-tests; removed when the run ends.",
        )

    # -- the end ------------------------------------------------------------------

    def close(self) -> Optional[Any]:
        """Run the cleaner (once), drop the ledger if it finished, close the HTTP connections.

        Ctrl-C and SIGTERM are held off while the cleaner works, so a second
        interruption cannot leave the cleanup half done.
        """
        with _signals_deferred():
            try:
                report = self.cleaner.run()
                if self.ledger and report is not None and report.complete:
                    self.ledger.finish()
                return report
            finally:
                self.hub.close()
                if self._project is not None:
                    self._project.close()


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

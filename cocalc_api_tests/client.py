"""Clients for CoCalc's HTTP bridge to its conat API.

CoCalc answers ``POST {host}/api/conat/hub`` and ``POST {host}/api/conat/project``
with a JSON body ``{"name": "group.function", "args": [...], "timeout": ms}``
(the project endpoint also takes ``"project_id"``), authenticated with HTTP basic
auth whose user name is the API key and whose password is empty.  Every answer
is HTTP 200; a failure is ``{"error": "..."}``, raised here as
:class:`~cocalc_api_tests.errors.CoCalcAPIError`.

>>> hub = Hub("sk-...", "http://localhost:5000")
>>> hub.system.ping()
{'now': 1795556211094}
>>> project_id = hub.projects.create_project(title="scratch")
>>> Project("sk-...", "http://localhost:5000", project_id).system.exec("date", args=["-Is"])
{'type': 'blocking', 'stdout': '2026-11-24T21:36:52+00:00\\n', 'stderr': '', 'exit_code': 0}

Method names follow CoCalc's own Python client (``hub.org.create_user``); the
remote name of each method is in :func:`remote_calls`.
"""
import time
from typing import Any, Callable, Dict, List, Optional

import requests

from .calls import Group, Json
from .errors import CoCalcAPIError, CoCalcConnectionError
from .text import redact
from .hub_api import (  # noqa: F401 (re-exported: the groups are part of the client)
    JUPYTER_TIMEOUT,
    Database,
    Jupyter,
    Messages,
    OrgToken,
    Organizations,
    Projects,
    Purchases,
    Sync,
    System,
)
from .project_api import Editor, ProjectSync, ProjectSystem

#: Seconds an HTTP request may take beyond the call's own timeout.
HTTP_TIMEOUT_MARGIN = 30.0
#: Seconds an HTTP request may take when the call names no timeout.
DEFAULT_HTTP_TIMEOUT = 120.0

#: HTTP statuses a busy server or its proxy answers; any other non-200 status is a failure.
BUSY_STATUSES = (502, 503, 504)

#: ``observer(call name, seconds, error text or None)``, told of every call when it ends.
Observer = Callable[[str, float, Optional[str]], None]


class _Endpoint:
    """One bridge URL, one ``requests.Session``, one API key (``None``: no authentication at all)."""

    path = ""

    def __init__(
        self,
        api_key: Optional[str],
        host: str,
        *,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        observer: Optional[Observer] = None,
    ):
        self.api_key = api_key
        self.host = host.rstrip("/")
        self.url = self.host + self.path
        self.http_timeout = http_timeout
        self.observer = observer
        self._http = requests.Session()
        if api_key is not None:
            self._http.auth = (api_key, "")
        self._http.headers["Content-Type"] = "application/json"

    def _body(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"name": name, "args": args}
        if timeout_ms is not None:
            body["timeout"] = timeout_ms
        return body

    def call(self, name: str, args: Optional[List[Json]] = None, timeout_ms: Optional[int] = None) -> Json:
        """Call *name* with *args*; return the decoded answer or raise.

        *timeout_ms* is the bridge's own ``timeout`` field, in milliseconds.  The
        observer, if any, hears of the call when it ends, however it ends.
        """
        started = time.monotonic()
        error: Optional[str] = None
        try:
            return self._call(name, [] if args is None else list(args), timeout_ms)
        except (CoCalcAPIError, CoCalcConnectionError) as err:
            error = str(err)
            raise
        finally:
            if self.observer is not None:
                self.observer(name, time.monotonic() - started, error)

    def _call(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Json:
        body = self._body(name, args, timeout_ms)
        wait = self.http_timeout if timeout_ms is None else max(self.http_timeout, timeout_ms / 1000 + HTTP_TIMEOUT_MARGIN)
        try:
            response = self._http.post(self.url, json=body, timeout=wait)
        except requests.RequestException as err:
            lost = isinstance(err, (requests.ConnectionError, requests.Timeout))
            raise CoCalcConnectionError(
                f"{name}: POST {self.url} failed: {self._scrub(str(err))}", self.url, transient=lost
            ) from None
        if response.status_code != 200:
            raise CoCalcConnectionError(
                f"{name}: POST {self.url} answered HTTP {response.status_code}: "
                f"{self._scrub(response.text)[:200]}",
                self.url,
                transient=response.status_code in BUSY_STATUSES,
            )
        try:
            answer = response.json()
        except ValueError:
            raise CoCalcConnectionError(
                f"{name}: POST {self.url} answered with something that is not JSON: "
                f"{self._scrub(response.text)[:200]!r}",
                self.url,
            ) from None
        if isinstance(answer, dict) and "error" in answer:
            raise CoCalcAPIError(self._scrub(str(answer["error"])), name, args)
        return answer

    def _scrub(self, text: str) -> str:
        return redact(text, self.api_key)

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"


# ----------------------------------------------------------------------------- hub


class Hub(_Endpoint):
    """Client of ``/api/conat/hub``: the account-level API.

    >>> hub = Hub(api_key, "http://localhost:5000")
    >>> hub.org.get("my-org")["admin_account_ids"]
    """

    path = "/api/conat/hub"

    def __init__(
        self, api_key: str, host: str, *, http_timeout: float = DEFAULT_HTTP_TIMEOUT, observer: Optional[Observer] = None
    ):
        super().__init__(api_key, host, http_timeout=http_timeout, observer=observer)
        self.system = System(self)
        self.projects = Projects(self)
        self.db = Database(self)
        self.messages = Messages(self)
        self.sync = Sync(self)
        self.jupyter = Jupyter(self)
        self.org = Organizations(self)
        self.purchases = Purchases(self)

    def project(self, project_id: str) -> "Project":
        """A :class:`Project` client for *project_id* with this hub's key and host."""
        return Project(self.api_key, self.host, project_id, http_timeout=self.http_timeout, observer=self.observer)


# ------------------------------------------------------------------------- project


class Project(_Endpoint):
    """Client of ``/api/conat/project`` for one project.

    >>> Project(api_key, "http://localhost:5000", project_id).system.ping()
    {'now': 1795556212746}
    """

    path = "/api/conat/project"

    def __init__(
        self,
        api_key: Optional[str],
        host: str,
        project_id: str,
        *,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        observer: Optional[Observer] = None,
    ):
        super().__init__(api_key, host, http_timeout=http_timeout, observer=observer)
        self.project_id = project_id
        self.system = ProjectSystem(self)
        self.editor = Editor(self)
        self.sync = ProjectSync(self)

    def _body(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body = super()._body(name, args, timeout_ms)
        body["project_id"] = self.project_id
        return body

    def __repr__(self) -> str:
        return f"Project(host={self.host!r}, project_id={self.project_id!r})"


class ScopedProject(Project):
    """A client of ``/api/conat/project`` that sends ``project_id`` only when it has one.

    A project-scoped key names its project itself, so its calls may leave ``project_id`` out.

    >>> ScopedProject(project_key, "http://localhost:5000").system.test()
    {'project_id': '...'}
    """

    def __init__(self, api_key: Optional[str], host: str, project_id: Optional[str] = None, **kwargs: Any):
        super().__init__(api_key, host, project_id, **kwargs)  # type: ignore[arg-type]

    def _body(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body = super()._body(name, args, timeout_ms)
        if self.project_id is None:
            del body["project_id"]
        return body


def remote_calls(client: _Endpoint) -> Dict[str, Callable]:
    """Map each remote call name a client offers (``"org.get"``) to its bound method."""
    table: Dict[str, Callable] = {}
    for group in vars(client).values():
        if isinstance(group, Group):
            for attr in dir(type(group)):
                method = getattr(group, attr)
                name = getattr(method, "remote_name", None)
                if name:
                    table[name] = method
    return table

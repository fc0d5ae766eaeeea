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
from typing import Any, Callable, Dict, List, Optional, Sequence, TypedDict, Union

import requests

from .errors import CoCalcAPIError, CoCalcConnectionError

#: Seconds an HTTP request may take beyond the call's own timeout.
HTTP_TIMEOUT_MARGIN = 30.0
#: Seconds an HTTP request may take when the call names no timeout.
DEFAULT_HTTP_TIMEOUT = 120.0
#: CoCalc's default timeout, in seconds, for Jupyter execution.
JUPYTER_TIMEOUT = 90

Json = Any


class OrgToken(TypedDict):
    """What ``org.createToken`` answers: a temporary sign-in token and its URL."""

    token: str
    url: str


def remote(name: str) -> Callable[[Callable], Callable]:
    """Mark a client method as the wrapper of the remote call *name*."""

    def mark(method: Callable) -> Callable:
        method.remote_name = name  # type: ignore[attr-defined]
        return method

    return mark


def _options(**values: Any) -> Dict[str, Any]:
    """The keyword arguments that were given (CoCalc treats absent and null alike)."""
    return {k: v for k, v in values.items() if v is not None}


def _ms(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else round(seconds * 1000)


class _Endpoint:
    """One bridge URL, one ``requests.Session``, one API key."""

    path = ""

    def __init__(self, api_key: str, host: str, *, http_timeout: float = DEFAULT_HTTP_TIMEOUT):
        self.api_key = api_key
        self.host = host.rstrip("/")
        self.url = self.host + self.path
        self.http_timeout = http_timeout
        self._http = requests.Session()
        self._http.auth = (api_key, "")
        self._http.headers["Content-Type"] = "application/json"

    def _body(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"name": name, "args": args}
        if timeout_ms is not None:
            body["timeout"] = timeout_ms
        return body

    def call(self, name: str, args: Optional[List[Json]] = None, timeout_ms: Optional[int] = None) -> Json:
        """Call *name* with *args*; return the decoded answer or raise.

        *timeout_ms* is the bridge's own ``timeout`` field, in milliseconds.
        """
        args = [] if args is None else list(args)
        body = self._body(name, args, timeout_ms)
        wait = self.http_timeout if timeout_ms is None else max(self.http_timeout, timeout_ms / 1000 + HTTP_TIMEOUT_MARGIN)
        try:
            response = self._http.post(self.url, json=body, timeout=wait)
        except requests.RequestException as err:
            raise CoCalcConnectionError(
                f"{name}: POST {self.url} failed: {self._scrub(str(err))}", self.url
            ) from None
        if response.status_code != 200:
            raise CoCalcConnectionError(
                f"{name}: POST {self.url} answered HTTP {response.status_code}: "
                f"{self._scrub(response.text)[:200]}",
                self.url,
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
        return text.replace(self.api_key, "<api key>") if self.api_key else text

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"


class _Group:
    """A named group of remote calls (``system``, ``projects``, ...)."""

    def __init__(self, endpoint: _Endpoint):
        self._endpoint = endpoint

    def _call(self, name: str, *args: Json, timeout_ms: Optional[int] = None) -> Json:
        return self._endpoint.call(name, list(args), timeout_ms)


# ----------------------------------------------------------------------------- hub


class System(_Group):
    """``system.*`` on the hub."""

    @remote("system.ping")
    def ping(self) -> Dict[str, int]:
        """``{"now": ms}``; needs no valid key on CoCalc, but the bridge asks for one."""
        return self._call("system.ping")

    @remote("system.test")
    def test(self) -> Dict[str, Any]:
        """The key's scope: ``{"account_id", "server_time"}`` or ``{"project_id", ...}``."""
        return self._call("system.test")

    @remote("system.getNames")
    def get_names(self, account_ids: Sequence[str]) -> Dict[str, Any]:
        """Map each known account id to ``{"first_name", "last_name", "profile"}``."""
        return self._call("system.getNames", list(account_ids))

    @remote("system.userSearch")
    def user_search(self, query: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Accounts matching *query*; an exact email address also returns ``email_address``."""
        return self._call("system.userSearch", _options(query=query, limit=limit))


class Projects(_Group):
    """``projects.*`` on the hub, plus :meth:`get` over ``db.userQuery``."""

    DEFAULT_FIELDS = ("project_id", "title", "last_edited", "created", "state", "deleted", "users")

    def get(
        self,
        fields: Optional[Sequence[str]] = None,
        all: bool = False,
        project_id: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Projects you collaborate on, read with ``db.userQuery``.

        ``all=False`` reads the ``projects`` virtual table (recent, not deleted);
        ``all=True`` reads ``projects_all``.  CoCalc leaves null fields out of rows.
        """
        row: Dict[str, Any] = {name: None for name in (fields or self.DEFAULT_FIELDS)}
        if project_id:
            row["project_id"] = project_id
        table = "projects_all" if all else "projects"
        answer = self._endpoint.call("db.userQuery", [{"query": {table: [row]}}])
        return answer[table]

    @remote("projects.createProject")
    def create_project(
        self,
        title: Optional[str] = None,
        description: Optional[str] = None,
        license: Optional[str] = None,
        start: Optional[bool] = None,
    ) -> str:
        """Create a project and return its id."""
        return self._call(
            "projects.createProject",
            _options(title=title, description=description, license=license, start=start),
        )

    @remote("projects.copyPathBetweenProjects")
    def copy_path_between_projects(
        self,
        src_project_id: str,
        src_path: str,
        target_project_id: Optional[str] = None,
        target_path: Optional[str] = None,
    ) -> None:
        """Copy a file or directory into another project (or the same one)."""
        return self._call(
            "projects.copyPathBetweenProjects",
            _options(
                src_project_id=src_project_id,
                src_path=src_path,
                target_project_id=target_project_id,
                target_path=target_path,
            ),
        )

    @remote("projects.addCollaborator")
    def add_collaborator(
        self, project_id: Union[str, List[str]], account_id: Union[str, List[str]]
    ) -> Dict[str, Any]:
        """Add *account_id* to *project_id*; answers ``{"project_id": [...]}``."""
        return self._call(
            "projects.addCollaborator", {"opts": {"project_id": project_id, "account_id": account_id}}
        )

    @remote("projects.removeCollaborator")
    def remove_collaborator(self, project_id: str, account_id: str) -> None:
        """Remove a collaborator (never the owner)."""
        return self._call(
            "projects.removeCollaborator", {"opts": {"project_id": project_id, "account_id": account_id}}
        )

    @remote("projects.start")
    def start(self, project_id: str) -> None:
        """Start a project (returns once it is starting or running)."""
        return self._call("projects.start", {"project_id": project_id})

    @remote("projects.stop")
    def stop(self, project_id: str) -> None:
        """Stop a project."""
        return self._call("projects.stop", {"project_id": project_id})

    @remote("projects.deleteProject")
    def delete(self, project_id: str) -> None:
        """Mark a project deleted (CoCalc keeps the row)."""
        return self._call("projects.deleteProject", {"project_id": project_id})

    @remote("projects.touch")
    def touch(self, project_id: str) -> None:
        """Record activity on a project."""
        return self._call("projects.touch", {"project_id": project_id})

    @remote("projects.state")
    def state(self, project_id: str) -> Dict[str, Any]:
        """``{"state": "running" | "opened" | ..., "time", "ip"?}``."""
        return self._call("projects.state", {"project_id": project_id})

    @remote("projects.status")
    def status(self, project_id: str) -> Dict[str, Any]:
        """Process facts of a running project (``project.pid``, ``start_ts``, ...)."""
        return self._call("projects.status", {"project_id": project_id})


class Database(_Group):
    """``db.*`` on the hub."""

    @remote("db.userQuery")
    def query(self, query: Dict[str, Any]) -> Dict[str, Any]:
        """A CoCalc user query, e.g. ``{"accounts": {"first_name": None}}``."""
        return self._call("db.userQuery", {"query": query})


class Messages(_Group):
    """``messages.*`` on the hub."""

    @remote("messages.send")
    def send(self, subject: str, body: str, to_ids: Sequence[str], reply_id: Optional[int] = None) -> int:
        """Send a message; returns its id."""
        return self._call(
            "messages.send", _options(subject=subject, body=body, to_ids=list(to_ids), reply_id=reply_id)
        )

    @remote("messages.get")
    def get(self, limit: Optional[int] = None, offset: Optional[int] = None, type: Optional[str] = None) -> List[Dict[str, Any]]:
        """Your messages, newest first; *type* is received, sent, new, starred or liked."""
        return self._call("messages.get", _options(limit=limit, offset=offset, type=type))


class Sync(_Group):
    """``sync.*`` on the hub."""

    @remote("sync.history")
    def history(self, project_id: str, path: str) -> Dict[str, Any]:
        """Edit history of a file: ``{"patches": [...], "info": {...}}``."""
        return self._call("sync.history", {"project_id": project_id, "path": path})


class Jupyter(_Group):
    """``jupyter.*`` on the hub."""

    @remote("jupyter.kernels")
    def kernels(self, project_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Kernel specs available (in *project_id*)."""
        return self._call("jupyter.kernels", _options(project_id=project_id))

    @remote("jupyter.execute")
    def execute(
        self,
        input: str,
        kernel: str,
        history: Optional[Sequence[str]] = None,
        project_id: Optional[str] = None,
        path: Optional[str] = None,
        timeout: float = JUPYTER_TIMEOUT,
    ) -> Dict[str, Any]:
        """Run *input* (after *history*, whose output is dropped); ``{"output": [...], ...}``.

        *timeout* is in seconds and becomes the bridge's ``timeout`` in milliseconds.
        """
        opts = _options(input=input, history=list(history) if history else None, kernel=kernel, project_id=project_id, path=path)
        return self._call("jupyter.execute", opts, timeout_ms=_ms(timeout))


class Organizations(_Group):
    """``org.*`` on the hub; most calls need a site admin or the organization's admin."""

    @remote("org.getAll")
    def get_all(self) -> List[Dict[str, Any]]:
        """Every organization (site admins only)."""
        return self._call("org.getAll", {})

    @remote("org.create")
    def create(self, name: str) -> str:
        """Create an organization (site admins only); returns its id."""
        return self._call("org.create", {"name": name})

    @remote("org.get")
    def get(self, name: str) -> Dict[str, Any]:
        """Name, title, description, link, email_address and admin_account_ids."""
        return self._call("org.get", {"name": name})

    @remote("org.set")
    def set(
        self,
        name: str,
        title: Optional[str] = None,
        description: Optional[str] = None,
        email_address: Optional[str] = None,
        link: Optional[str] = None,
    ) -> None:
        """Change the given properties of an organization."""
        return self._call(
            "org.set",
            _options(name=name, title=title, description=description, email_address=email_address, link=link),
        )

    @remote("org.addAdmin")
    def add_admin(self, name: str, user: str) -> None:
        """Make *user* (account id or email) an admin of the organization."""
        return self._call("org.addAdmin", {"name": name, "user": user})

    @remote("org.addUser")
    def add_user(self, name: str, user: str) -> None:
        """Move an existing account into the organization (site admins only)."""
        return self._call("org.addUser", {"name": name, "user": user})

    @remote("org.createUser")
    def create_user(
        self,
        name: str,
        email: str,
        firstName: Optional[str] = None,
        lastName: Optional[str] = None,
        password: Optional[str] = None,
    ) -> str:
        """Create a new account inside the organization; returns its account id."""
        return self._call(
            "org.createUser",
            _options(name=name, email=email, firstName=firstName, lastName=lastName, password=password),
        )

    @remote("org.createToken")
    def create_token(self, user: str) -> OrgToken:
        """A temporary sign-in token for *user*: ``{"token", "url"}`` (not an API key)."""
        return self._call("org.createToken", {"user": user})

    @remote("org.expireToken")
    def expire_token(self, token: str) -> None:
        """Expire a token made by :meth:`create_token`."""
        return self._call("org.expireToken", {"token": token})

    @remote("org.getUsers")
    def get_users(self, name: str) -> List[Dict[str, Any]]:
        """Members: account_id, first_name, last_name, email_address, last_active."""
        return self._call("org.getUsers", {"name": name})

    @remote("org.removeUser")
    def remove_user(self, name: str, user: str) -> None:
        """Take *user* out of the organization (an admin must be demoted first)."""
        return self._call("org.removeUser", {"name": name, "user": user})

    @remote("org.removeAdmin")
    def remove_admin(self, name: str, user: str) -> None:
        """Demote an admin to a plain member."""
        return self._call("org.removeAdmin", {"name": name, "user": user})

    @remote("org.message")
    def message(self, name: str, subject: str, body: str) -> None:
        """Send a message to every member of the organization."""
        return self._call("org.message", {"name": name, "subject": subject, "body": body})


class Hub(_Endpoint):
    """Client of ``/api/conat/hub``: the account-level API.

    >>> hub = Hub(api_key, "http://localhost:5000")
    >>> hub.org.get("my-org")["admin_account_ids"]
    """

    path = "/api/conat/hub"

    def __init__(self, api_key: str, host: str, *, http_timeout: float = DEFAULT_HTTP_TIMEOUT):
        super().__init__(api_key, host, http_timeout=http_timeout)
        self.system = System(self)
        self.projects = Projects(self)
        self.db = Database(self)
        self.messages = Messages(self)
        self.sync = Sync(self)
        self.jupyter = Jupyter(self)
        self.org = Organizations(self)

    def project(self, project_id: str) -> "Project":
        """A :class:`Project` client for *project_id* with this hub's key and host."""
        return Project(self.api_key, self.host, project_id, http_timeout=self.http_timeout)


# ------------------------------------------------------------------------- project


class ProjectSystem(_Group):
    """``system.*`` inside one project."""

    @remote("system.ping")
    def ping(self) -> Dict[str, int]:
        """``{"now": ms}`` from the project's own server."""
        return self._call("system.ping")

    @remote("system.test")
    def test(self) -> Dict[str, Any]:
        """``{"project_id", "server_time"}``."""
        return self._call("system.test")

    @remote("system.exec")
    def exec(
        self,
        command: str,
        args: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: Optional[float] = None,
        max_output: Optional[int] = None,
        bash: Optional[bool] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> Dict[str, Any]:
        """Run a command in the project: ``{"type", "stdout", "stderr", "exit_code"}``.

        A non-zero exit raises :class:`CoCalcAPIError` with CoCalc's text
        (``command '...' exited with nonzero code N -- stderr='...'``).  *timeout* is
        in seconds; it is sent both to the command and, in milliseconds, to the bridge.
        """
        opts = _options(
            command=command,
            args=list(args) if args is not None else None,
            path=path,
            cwd=cwd,
            timeout=timeout,
            max_output=max_output,
            bash=bash,
            env=env,
        )
        return self._call("system.exec", opts, timeout_ms=_ms(timeout))

    @remote("system.jupyterExecute")
    def jupyter_execute(
        self,
        input: str,
        kernel: str,
        history: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        timeout: float = JUPYTER_TIMEOUT,
    ) -> List[Dict[str, Any]]:
        """Run *input* on a kernel in this project; the bare list of outputs."""
        opts = _options(input=input, history=list(history) if history else None, kernel=kernel, path=path)
        return self._call("system.jupyterExecute", opts, timeout_ms=_ms(timeout))

    @remote("system.listJupyterKernels")
    def list_jupyter_kernels(self) -> List[Dict[str, Any]]:
        """Running kernels: ``[{"pid", "connectionFile"}, ...]``."""
        return self._call("system.listJupyterKernels", {})

    @remote("system.stopJupyterKernel")
    def stop_jupyter_kernel(self, pid: int) -> Dict[str, bool]:
        """Stop the kernel with process id *pid*: ``{"success": bool}``."""
        return self._call("system.stopJupyterKernel", {"pid": pid})


class Project(_Endpoint):
    """Client of ``/api/conat/project`` for one project.

    >>> Project(api_key, "http://localhost:5000", project_id).system.ping()
    {'now': 1795556212746}
    """

    path = "/api/conat/project"

    def __init__(self, api_key: str, host: str, project_id: str, *, http_timeout: float = DEFAULT_HTTP_TIMEOUT):
        super().__init__(api_key, host, http_timeout=http_timeout)
        self.project_id = project_id
        self.system = ProjectSystem(self)

    def _body(self, name: str, args: List[Json], timeout_ms: Optional[int]) -> Dict[str, Any]:
        body = super()._body(name, args, timeout_ms)
        body["project_id"] = self.project_id
        return body

    def __repr__(self) -> str:
        return f"Project(host={self.host!r}, project_id={self.project_id!r})"


def remote_calls(client: _Endpoint) -> Dict[str, Callable]:
    """Map each remote call name a client offers (``"org.get"``) to its bound method."""
    table: Dict[str, Callable] = {}
    for group in vars(client).values():
        if isinstance(group, _Group):
            for attr in dir(type(group)):
                method = getattr(group, attr)
                name = getattr(method, "remote_name", None)
                if name:
                    table[name] = method
    return table

"""The hub's call groups (``/api/conat/hub``): one class per CoCalc API group.

Over 400 lines because it is one method per hub call (51 of them), each a few lines;
splitting the groups apart would only scatter one table.

The methods follow CoCalc's own Python client in name and arguments; each is
marked with its remote name (``@remote("org.get")``).
"""
from typing import Any, Dict, List, Optional, Sequence, TypedDict, Union

from .calls import Group, SystemBasics, ms, options, remote

#: CoCalc's default timeout, in seconds, for Jupyter execution.
JUPYTER_TIMEOUT = 90
#: Milliseconds a creating call asks the hub bridge to wait (its own default is 15 s).  A creation that outlasts
#: the bridge's wait goes on in the hub and cannot simply be asked again, so a busy hub is given time to answer.
CREATE_TIMEOUT_MS = 60000


class OrgToken(TypedDict):
    """What ``org.createToken`` answers: a temporary sign-in token and its URL."""

    token: str
    url: str


class System(SystemBasics):
    """``system.*`` on the hub."""

    @remote("system.getNames")
    def get_names(self, account_ids: Sequence[str]) -> Dict[str, Any]:
        """Map each known account id to ``{"first_name", "last_name", "profile"}``."""
        return self._call("system.getNames", list(account_ids))

    @remote("system.manageApiKeys")
    def manage_api_keys(
        self,
        action: str,
        project_id: Optional[str] = None,
        name: Optional[str] = None,
        expire: Optional[str] = None,
        id: Optional[int] = None,
    ) -> Optional[List[Dict[str, Any]]]:
        """``get``, ``create``, ``edit`` or ``delete`` API keys (of *project_id*, else the account's).

        ``create`` answers ``[{"id", "secret", "trunc", ...}]``; *expire* is an ISO time.
        """
        return self._call(
            "system.manageApiKeys", options(action=action, project_id=project_id, name=name, expire=expire, id=id),
            timeout_ms=CREATE_TIMEOUT_MS if action == "create" else None,
        )

    @remote("system.userSearch")
    def user_search(self, query: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Accounts matching *query*; an exact email address also returns ``email_address``."""
        return self._call("system.userSearch", options(query=query, limit=limit))

    @remote("system.getCustomize")
    def get_customize(self, fields: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """The site's public settings (``siteName``, ``siteURL``, ...); only *fields* when given."""
        return self._call("system.getCustomize", list(fields)) if fields is not None else self._call("system.getCustomize")

    @remote("system.userTracking")
    def user_tracking(self, event: str, value: Dict[str, Any]) -> None:
        """Record a usage event (a ``user_tracking`` row); *event* is at most 80 characters."""
        return self._call("system.userTracking", {"event": event, "value": value})

    @remote("system.logClientError")
    def log_client_error(self, event: str, error: str) -> None:
        """Record a client-side error (a ``client_error_log`` row)."""
        return self._call("system.logClientError", {"event": event, "error": error})

    @remote("system.webappError")
    def webapp_error(self, **fields: Any) -> None:
        """Record a web-app error (a ``webapp_errors`` row): ``name``, ``message``, ``stacktrace``, ``lineNumber``, ..."""
        return self._call("system.webappError", fields)

    @remote("system.generateUserAuthToken")
    def generate_user_auth_token(self, user_account_id: str, password: Optional[str] = None) -> str:
        """A 24-character sign-in token for another account (admins, or anyone knowing its password)."""
        return self._call(
            "system.generateUserAuthToken", options(user_account_id=user_account_id, password=password),
            timeout_ms=CREATE_TIMEOUT_MS,
        )

    @remote("system.revokeUserAuthToken")
    def revoke_user_auth_token(self, auth_token: str) -> None:
        """Delete a sign-in token (no error if it does not exist)."""
        return self._call("system.revokeUserAuthToken", auth_token)

    @remote("system.adminResetPasswordLink")
    def admin_reset_password_link(self, user_account_id: str) -> str:
        """``/auth/password-reset/<id>``: a 24-hour password-reset link for an account (site admins only)."""
        return self._call("system.adminResetPasswordLink", {"user_account_id": user_account_id})


class Projects(Group):
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
            options(title=title, description=description, license=license, start=start),
            timeout_ms=CREATE_TIMEOUT_MS,
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
            options(
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

    @remote("projects.changeUserType")
    def change_user_type(self, project_id: str, target_account_id: str, new_group: str) -> None:
        """Make a member of a project an ``owner`` or a ``collaborator`` (owners only)."""
        return self._call(
            "projects.changeUserType",
            {"opts": {"project_id": project_id, "target_account_id": target_account_id, "new_group": new_group}},
        )

    @remote("projects.inviteCollaborator")
    def invite_collaborator(self, project_id: str, account_id: str) -> None:
        """Add an account to a project as a collaborator.

        CoCalc's ``email`` option (which mails an invitation) is left out on purpose.
        """
        return self._call("projects.inviteCollaborator", {"opts": {"project_id": project_id, "account_id": account_id}})

    @remote("projects.setQuotas")
    def set_quotas(
        self,
        project_id: str,
        memory: Optional[float] = None,
        memory_request: Optional[float] = None,
        cpu_shares: Optional[float] = None,
        cores: Optional[float] = None,
        disk_quota: Optional[float] = None,
        mintime: Optional[float] = None,
        network: Optional[float] = None,
        member_host: Optional[float] = None,
        always_running: Optional[float] = None,
    ) -> None:
        """Merge quotas into a project's ``settings`` (site admins only); restarts it if running."""
        return self._call(
            "projects.setQuotas",
            options(
                project_id=project_id,
                memory=memory,
                memory_request=memory_request,
                cpu_shares=cpu_shares,
                cores=cores,
                disk_quota=disk_quota,
                mintime=mintime,
                network=network,
                member_host=member_host,
                always_running=always_running,
            ),
        )


class Database(Group):
    """``db.*`` on the hub."""

    @remote("db.userQuery")
    def query(self, query: Dict[str, Any]) -> Dict[str, Any]:
        """A CoCalc user query, e.g. ``{"accounts": {"first_name": None}}``."""
        return self._call("db.userQuery", {"query": query})

    @remote("db.touch")
    def touch(self, project_id: Optional[str] = None, path: Optional[str] = None, action: Optional[str] = None) -> None:
        """Record activity of the caller (on a project, and on a file in it)."""
        return self._call("db.touch", options(project_id=project_id, path=path, action=action))

    @remote("db.fileUseTimes")
    def file_use_times(
        self,
        project_id: str,
        path: str,
        target_account_id: Optional[str] = None,
        limit: Optional[int] = None,
        access_times: Optional[bool] = None,
        edit_times: Optional[bool] = None,
    ) -> Dict[str, Any]:
        """``{"target_account_id", "access_times"?: [ms], "edit_times"?: [ms]}`` of a file."""
        return self._call(
            "db.fileUseTimes",
            options(
                project_id=project_id,
                path=path,
                target_account_id=target_account_id,
                limit=limit,
                access_times=access_times,
                edit_times=edit_times,
            ),
        )

    @remote("db.getLegacyTimeTravelInfo")
    def get_legacy_time_travel_info(self, project_id: str, path: str) -> Dict[str, Any]:
        """``{"uuid": ""}``, or the archived history's ``uuid`` and ``users``, of a file."""
        return self._call("db.getLegacyTimeTravelInfo", {"project_id": project_id, "path": path})

    @remote("db.getLegacyTimeTravelPatches")
    def get_legacy_time_travel_patches(self, uuid: str) -> str:
        """The JSON text of an archived edit history (a blob)."""
        return self._call("db.getLegacyTimeTravelPatches", {"uuid": uuid})

    @remote("db.removeBlobTtls")
    def remove_blob_ttls(self, uuids: Sequence[str]) -> None:
        """Make the given blobs permanent (invalid ids are ignored)."""
        return self._call("db.removeBlobTtls", {"uuids": list(uuids)})


class Messages(Group):
    """``messages.*`` on the hub."""

    @remote("messages.send")
    def send(self, subject: str, body: str, to_ids: Sequence[str], reply_id: Optional[int] = None) -> int:
        """Send a message; returns its id."""
        return self._call(
            "messages.send", options(subject=subject, body=body, to_ids=list(to_ids), reply_id=reply_id)
        )

    @remote("messages.get")
    def get(self, limit: Optional[int] = None, offset: Optional[int] = None, type: Optional[str] = None) -> List[Dict[str, Any]]:
        """Your messages, newest first; *type* is received, sent, new, starred or liked."""
        return self._call("messages.get", options(limit=limit, offset=offset, type=type))


class Purchases(Group):
    """``purchases.*`` on the hub (reads only)."""

    @remote("purchases.getBalance")
    def get_balance(self) -> float:
        """The caller's balance: minus the sum of their purchases' costs."""
        return self._call("purchases.getBalance")

    @remote("purchases.getMinBalance")
    def get_min_balance(self) -> float:
        """The caller's lowest allowed balance (0 unless an admin set one)."""
        return self._call("purchases.getMinBalance")


class Sync(Group):
    """``sync.*`` on the hub."""

    @remote("sync.history")
    def history(self, project_id: str, path: str) -> Dict[str, Any]:
        """Edit history of a file: ``{"patches": [...], "info": {...}}``."""
        return self._call("sync.history", {"project_id": project_id, "path": path})


class Jupyter(Group):
    """``jupyter.*`` on the hub."""

    @remote("jupyter.kernels")
    def kernels(self, project_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Kernel specs available (in *project_id*)."""
        return self._call("jupyter.kernels", options(project_id=project_id))

    @remote("jupyter.execute")
    def execute(
        self,
        input: str,
        kernel: str,
        history: Optional[Sequence[str]] = None,
        project_id: Optional[str] = None,
        path: Optional[str] = None,
        timeout: float = JUPYTER_TIMEOUT,
        tag: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Run *input* (after *history*, whose output is dropped); ``{"output": [...], ...}``.

        *timeout* is in seconds and becomes the bridge's ``timeout`` in milliseconds;
        *tag* is stored with the execution's log row (``jupyter_api_log.tag``).
        """
        opts = options(
            input=input, history=list(history) if history else None, kernel=kernel, project_id=project_id, path=path, tag=tag
        )
        return self._call("jupyter.execute", opts, timeout_ms=ms(timeout))


class Organizations(Group):
    """``org.*`` on the hub; most calls need a site admin or the organization's admin."""

    @remote("org.getAll")
    def get_all(self) -> List[Dict[str, Any]]:
        """Every organization (site admins only)."""
        return self._call("org.getAll", {})

    @remote("org.create")
    def create(self, name: str) -> str:
        """Create an organization (site admins only); returns its id."""
        return self._call("org.create", {"name": name}, timeout_ms=CREATE_TIMEOUT_MS)

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
            options(name=name, title=title, description=description, email_address=email_address, link=link),
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
            options(name=name, email=email, firstName=firstName, lastName=lastName, password=password),
            timeout_ms=CREATE_TIMEOUT_MS,
        )

    @remote("org.createToken")
    def create_token(self, user: str) -> OrgToken:
        """A temporary sign-in token for *user*: ``{"token", "url"}`` (not an API key)."""
        return self._call("org.createToken", {"user": user}, timeout_ms=CREATE_TIMEOUT_MS)

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

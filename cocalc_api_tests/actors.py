"""The callers of the authorization tests: ordinary accounts with keys of their own, and keys that must not work.

They are made once per run, through the API alone and as CoCalc itself allows it
(``authorization.md``): the site admin (the suite's key) makes accounts in two
organizations; each account signs in with a sign-in token (``GET /auth/impersonate``)
and makes its own account-wide key (``POST /api/v2/api-keys``).  Every account,
organization and project is tracked, so the cleaner removes them and every row they
caused (keys, sign-in rows, tokens, log rows) at the end.

>>> cast = Actors.make(session)          # in the background: session.background
>>> cast.key("stranger"), cast.world.project_id

The actors:

========================  =========================================================
``site_admin``            the suite's own key
``owner``                 owns :attr:`World.project_id`
``collaborator``          a collaborator the owner added to it
``stranger``              an ordinary account with no part in it; outside the org
``org_admin``             an admin of :attr:`World.org`
``org_member``            a member (not an admin) of :attr:`World.org`
``project_key``           a key scoped to :attr:`World.project_id`, made by the owner
========================  =========================================================

and the keys that must not work (:data:`DEAD_KEYS`): ``deleted``, ``revoked`` (its
expiry moved into the past), ``expired`` (made to expire a few seconds ahead),
``leaver_key`` (a project key whose creator, ``leaver``, was removed from the project), ``org_token``
(an ``org.createToken`` sign-in token used as a key), ``bogus`` and ``no_key``.
"""
import concurrent.futures
import contextvars
import datetime
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import requests

from .errors import ActorError, CoCalcAPIError, NotSettled
from .poll import poll, settle
from .session import Session

#: The actors that are accounts or keys of accounts, in the order the matrix shows them.
ACTORS = ("site_admin", "owner", "collaborator", "stranger", "org_admin", "org_member", "project_key")
#: Keys that must not work, in the order the matrix shows them.
DEAD_KEYS = ("deleted", "revoked", "expired", "leaver_key", "org_token", "bogus", "no_key")
#: Dead keys scoped to a project: the hub refuses a project key whatever its state, so only the project bridge
#: has to wait out their windows.
DEAD_PROJECT_KEYS = frozenset({"leaver_key"})
#: The ordinary accounts the run makes (``leaver`` makes the key of that name, then leaves).
ACCOUNTS = ("owner", "collaborator", "stranger", "org_admin", "org_member", "leaver")
#: A file the owner writes into its project, for the copy tests.
SOURCE_FILE = "authz-source.txt"
#: Seconds ahead of its creation at which the ``expired`` key expires.
EXPIRE_AHEAD = 5.0
#: Seconds CoCalc may go on accepting a key after it was deleted, edited or expired: its key rows are
#: read through a 15 s cache (``getPool("medium")``, ``server/api/manage.ts``).
KEY_CACHE_SECONDS = 15.0
#: Seconds a project key may go on working after its creator left the project: membership is read
#: through a 30 s cache (``getPool("long")``, ``server/projects/is-collaborator.ts``).
MEMBERSHIP_CACHE_SECONDS = 30.0
#: How long each dead key may go on working after it was made dead: exactly CoCalc's cache, plus
#: :data:`WINDOW_SLACK` for the requests in flight.
DEAD_KEY_WINDOWS = {"deleted": KEY_CACHE_SECONDS, "revoked": KEY_CACHE_SECONDS, "expired": KEY_CACHE_SECONDS,
                    "leaver_key": MEMBERSHIP_CACHE_SECONDS}
#: Seconds of requests in flight on top of a cache's window.
WINDOW_SLACK = 3.0
#: Seconds a row whose creating call timed out may take to show.
FIND_WAIT = 180.0
#: Seconds an HTTP request of the sign-in may take.
HTTP_TIMEOUT = 60.0


@dataclass
class World:
    """The resources the actors act on, all made by this run for the authorization tests."""

    project_id: str = ""
    org: str = ""
    other_org: str = ""
    account_ids: Dict[str, str] = field(default_factory=dict)
    emails: Dict[str, str] = field(default_factory=dict)
    #: When each dead key was made dead (``time.time()``), to measure how long it kept working.
    killed_at: Dict[str, float] = field(default_factory=dict)


class Actors:
    """The cast: a key per actor (``None`` for ``no_key``) and the :class:`World` they share."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.world = World()
        self._keys: Dict[str, Optional[str]] = {"site_admin": session.config.api_key, "no_key": None}
        self._clients: Dict[tuple, Any] = {}
        self._lock = threading.Lock()

    # -- use ---------------------------------------------------------------------------

    def key(self, actor: str) -> Optional[str]:
        """The secret *actor* calls with (``None``: no key at all)."""
        return self._keys[actor]

    def account_id(self, actor: str) -> str:
        """The account of *actor* (``site_admin``: the suite's own)."""
        if actor == "site_admin":
            return self.session.account_id or ""
        return self.world.account_ids[actor]

    def hub(self, actor: str) -> Any:
        """A hub client calling as *actor* (one per actor, shared)."""
        return self._client(actor, None)

    def project(self, actor: str, project_id: Optional[str] = None) -> Any:
        """A project-endpoint client calling as *actor* on *project_id* (default: the world's project)."""
        return self._client(actor, project_id or self.world.project_id)

    def _client(self, actor: str, project_id: Optional[str]) -> Any:
        with self._lock:
            made = self._clients.get((actor, project_id))
            if made is None:
                made = self._clients[(actor, project_id)] = self.session.client(self.key(actor), project_id)
            return made

    def secrets(self) -> tuple:
        """Every secret of the cast, for redaction."""
        return tuple(k for k in self._keys.values() if k)

    # -- making ------------------------------------------------------------------------

    @classmethod
    def make(cls, session: Session) -> "Actors":
        """Make the whole cast (several dozen calls); raises :class:`ActorError` naming the failed step."""
        cast = cls(session)
        cast._make()
        return cast

    def _make(self) -> None:
        admin = self.session.hub
        world = self.world
        world.org = self.session.unique_name("authz")
        world.other_org = self.session.unique_name("authz-out")
        for org in (world.org, world.other_org):
            self._change("org.create", lambda: self.session.create_org(org),
                         lambda: [o for o in admin.org.get_all() if o.get("name") == org])
        with concurrent.futures.ThreadPoolExecutor(len(ACCOUNTS), thread_name_prefix="actor") as pool:
            # Accounts are independent: made at once, each in a copy of this context (the call log's attribution).
            for made in [pool.submit(contextvars.copy_context().run, self._make_account, a) for a in ACCOUNTS]:
                made.result()
        self._change("org.addAdmin", lambda: admin.org.add_admin(world.org, world.account_ids["org_admin"]),
                     lambda: world.account_ids["org_admin"] in (admin.org.get(world.org).get("admin_account_ids") or []))
        owner = self.hub("owner")
        title = self.session.unique_name("authz-project")
        world.project_id = self._step("projects.createProject (owner)", lambda: self.session.custody.create(
            "project", {"title": title}, lambda: owner.projects.create_project(title=title),
            find=lambda: self.session.projects_titled(owner, title)))
        self.session.custody.cleaner.stop_as(world.project_id, self._keys["owner"])
        for member in ("collaborator", "leaver"):
            self._change("projects.addCollaborator", lambda: owner.projects.add_collaborator(world.project_id, world.account_ids[member]),
                         lambda: world.account_ids[member] in self._users())
        # The owner's write starts the project, so that the leaver's one call before it leaves is quick: CoCalc's
        # membership cache then holds it from just before the removal (the worst case the window is measured on).
        self._step("system.writeTextFileToProject (owner)",
                   lambda: self.project("owner").system.write_text_file_to_project(SOURCE_FILE, "authz"))
        self._make_leaver_key(owner)  # first of the dead keys: its window (CoCalc's membership cache) is the longest
        self._keys["project_key"] = self._new_key(owner, project_id=world.project_id)
        self._make_dead_keys(owner)

    def _make_account(self, actor: str) -> None:
        """The account of *actor* (in the org, or in the other org) and its own account-wide key."""
        world = self.world
        org = world.org if actor in ("org_admin", "org_member") else world.other_org
        email = f"{self.session.unique_name(actor.replace('_', '')[:10])}@test.local"
        world.emails[actor] = email
        world.account_ids[actor] = self._step(
            "org.createUser", lambda: self.session.create_user(org, email=email, firstName="Authz", lastName=actor))
        self._keys[actor] = self.sign_in_and_make_key(world.account_ids[actor])

    def _make_leaver_key(self, owner: Any) -> None:
        """A project key of ``leaver``, used once (so CoCalc's caches hold it), then its creator removed."""
        world = self.world
        self._keys["leaver_key"] = self._new_key(self.hub("leaver"), project_id=world.project_id)
        self._step("system.ping as leaver_key before it dies", self.project("leaver_key").system.ping)
        self._change("projects.removeCollaborator",
                     lambda: owner.projects.remove_collaborator(world.project_id, world.account_ids["leaver"]),
                     lambda: world.account_ids["leaver"] not in self._users())
        world.killed_at["leaver_key"] = time.time()

    def _make_dead_keys(self, owner: Any) -> None:
        world = self.world
        deleted = self._step("manageApiKeys create", lambda: owner.system.manage_api_keys("create", name=self._name()))[0]
        revoked = self._step("manageApiKeys create", lambda: owner.system.manage_api_keys("create", name=self._name()))[0]
        self._keys.update(deleted=deleted["secret"], revoked=revoked["secret"])
        # Each key works once first, so that CoCalc's caches hold it: the worst case of a removal.
        for actor in ("deleted", "revoked"):
            self._step(f"system.test as {actor} before it dies", self.hub(actor).system.test)
        ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=EXPIRE_AHEAD)
        expired = self._step("manageApiKeys create", lambda: owner.system.manage_api_keys("create", name=self._name(), expire=_iso(ahead)))[0]
        self._keys["expired"] = expired["secret"]
        world.killed_at["expired"] = ahead.timestamp()
        try:
            self.hub("expired").system.test()  # into the cache, unless a slow server let it expire already
        except CoCalcAPIError:
            pass
        now = datetime.datetime.now(datetime.timezone.utc)
        self._change("manageApiKeys delete", lambda: owner.system.manage_api_keys("delete", id=deleted["id"]),
                     lambda: deleted["id"] not in [k["id"] for k in owner.system.manage_api_keys("get") or []])
        world.killed_at["deleted"] = now.timestamp()
        past = _iso(now - datetime.timedelta(minutes=1))
        self._change("manageApiKeys edit", lambda: owner.system.manage_api_keys("edit", id=revoked["id"], expire=past),
                     lambda: [k for k in owner.system.manage_api_keys("get") or [] if k["id"] == revoked["id"] and k.get("expire")])
        world.killed_at["revoked"] = now.timestamp()
        token = self._step("org.createToken", lambda: self.session.hub.org.create_token(world.account_ids["org_member"]))
        self._keys["org_token"] = token["token"]
        self._keys["bogus"] = "sk-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))

    def _new_key(self, hub: Any, project_id: Optional[str] = None) -> str:
        rows = self._step("manageApiKeys create", lambda: hub.system.manage_api_keys("create", project_id=project_id, name=self._name()))
        return rows[0]["secret"]

    def _name(self) -> str:
        return self.session.unique_name("authz-key")

    def sign_in_and_make_key(self, account_id: str) -> str:
        """An account-wide key of *account_id*, made as that account would make it in a browser.

        The site admin's ``system.generateUserAuthToken`` gives a sign-in token;
        ``GET /auth/impersonate`` with it sets the sign-in cookie; ``POST
        /api/v2/api-keys`` with that cookie makes the key.
        """
        token = self._step("system.generateUserAuthToken", lambda: self.session.hub.system.generate_user_auth_token(account_id))
        host = self.session.config.host
        with requests.Session() as browser:
            page = browser.get(f"{host}/auth/impersonate", params={"auth_token": token}, timeout=HTTP_TIMEOUT, allow_redirects=False)
            if page.status_code != 200 or not browser.cookies:
                raise ActorError(
                    f"GET /auth/impersonate answered HTTP {page.status_code} without a sign-in cookie: {page.text[:200]!r}",
                    "auth/impersonate",
                )
            answer = browser.post(f"{host}/api/v2/api-keys", json={"action": "create", "name": self._name()}, timeout=HTTP_TIMEOUT)
        try:
            body = answer.json()
            return body["response"][0]["secret"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ActorError(f"POST /api/v2/api-keys answered HTTP {answer.status_code}: {answer.text[:200]!r}", "api/v2/api-keys") from None

    def _users(self) -> Dict[str, Any]:
        """The users of the world's project, read by the site admin."""
        row = self.session.hub.db.query({"projects_all": {"project_id": self.world.project_id, "users": None}})["projects_all"]
        return row.get("users") or {}

    @staticmethod
    def _change(what: str, change: Any, done: Any) -> Any:
        """*change()*; when a busy server answers it with a timeout (the change goes on), until *done()* is true."""
        try:
            return settle(change, read=done, accept=bool, timeout=FIND_WAIT, what=what)
        except CoCalcAPIError as err:
            raise ActorError(f"making the actors failed at {what}: {err.describe()}", err.call, err.args_sent) from None
        except NotSettled as err:
            raise ActorError(f"making the actors failed at {what}: {err}", what) from None

    @staticmethod
    def _step(what: str, work: Any) -> Any:
        """*work()*, asked again while the server answers that it is busy (only for what may be asked twice:
        reads, and creations whose extra copies belong to an actor's account and go with it)."""
        try:
            return poll(work, timeout=FIND_WAIT, what=what)
        except CoCalcAPIError as err:
            raise ActorError(f"making the actors failed at {what}: {err.describe()}", err.call, err.args_sent) from None
        except TimeoutError as err:
            raise ActorError(f"making the actors failed at {what}: {err}", what) from None


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

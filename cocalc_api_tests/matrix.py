"""Who may do what: the authorization matrix, as data.

Over 400 lines because it is a table: a row per call (109 rows), with the readers the
rows share; the tests that run it are in ``test_authz``.

One :class:`Rule` per call (some calls have several: a variant sends an argument
an honest client does not, or reaches the same data through another door).  Each
rule names, for every actor of :mod:`cocalc_api_tests.actors`, what CoCalc's own
code intends (sagemathinc/cocalc 5cb3315c; ``authorization.md``):

* :data:`ALLOW` — the call succeeds; the rule's ``effect`` reads back that it did;
* :class:`Refuse` — the call is refused with CoCalc's exact text, and the rule's
  ``observe`` reads back (as the owner or the site admin) that nothing changed;
* :class:`NoEffect` — refused with any text, or answered without changing what
  ``observe`` reads (for doors whose refusal CoCalc never words: the hole is the
  change, not the text);
* :class:`NotApplicable` — why the cell is not tested.

The keys that must not work (``DEAD_KEYS``) are refused by the bridge on every
row; those cells are derived, not written.  :func:`cells` expands the table,
``test_authz`` runs it, and the README's table is :func:`markdown` of it.
"""
import hashlib
import json
import unittest
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple, Union

from . import wordings as W
from .changes import start_project
from .text import brief
from .actors import ACTORS, DEAD_KEYS, SOURCE_FILE
from .db import connect

#: Seconds a started project may take to be running.
PROJECT_RUNNING_WAIT = 120.0
#: Everybody with an account key.
ACCOUNTS = frozenset(a for a in ACTORS if a != "project_key")
#: The project's own people.
MEMBERS = frozenset({"owner", "collaborator"})
#: The site admin alone.
ADMIN = frozenset({"site_admin"})
#: Who manages the organization.
ORG_ADMINS = frozenset({"site_admin", "org_admin"})


@dataclass(frozen=True)
class Allow:
    """The call succeeds, and its effect is read back."""


ALLOW = Allow()


@dataclass(frozen=True)
class Refuse:
    """Refused with *text* (or a text starting with it, when *prefix*); nothing changes."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class NoEffect:
    """Refused (any text), or answered without any change that ``observe`` can see."""

    why: str


@dataclass(frozen=True)
class NotApplicable:
    """The cell is not tested, for *reason*."""

    reason: str


Outcome = Union[Allow, Refuse, NoEffect, NotApplicable]


class Ctx:
    """What a rule's functions see: the cast, the acting actor, the cell's target and a few readers.

    ``target`` is what the rule's ``setup`` made for this cell (a fresh project, a
    fresh member); ``outcome`` what the cell expects; ``unique`` is a name unique to
    the cell.  Readers read as the owner or the site admin, never as the actor.
    """

    def __init__(self, cast: Any, actor: str, target: Dict[str, Any], outcome: Optional[Outcome] = None):
        self.cast = cast
        self.actor = actor
        self.target = target
        self.outcome = outcome
        self.world = cast.world
        self.session = cast.session
        self.unique = cast.session.unique_name("authz")

    @property
    def project_id(self) -> str:
        return self.target.get("project_id") or self.world.project_id

    def account(self, actor: str) -> str:
        return self.cast.account_id(actor)

    @property
    def owner(self) -> Any:
        return self.cast.hub("owner")

    @property
    def admin(self) -> Any:
        return self.session.hub

    def users(self, project_id: Optional[str] = None) -> Dict[str, str]:
        """``{account_id: group}`` of a project, read by the site admin."""
        pid = project_id or self.project_id
        row = self.admin.db.query({"projects_all": {"project_id": pid, "users": None, "deleted": None}})["projects_all"]
        return {a: (u or {}).get("group") for a, u in (row.get("users") or {}).items()}

    def project_field(self, name: str, project_id: Optional[str] = None) -> Any:
        """One field of a project's row, read by the site admin."""
        pid = project_id or self.project_id
        return self.admin.db.query({"projects_all": {"project_id": pid, name: None}})["projects_all"].get(name)

    def org_members(self, org: Optional[str] = None) -> List[str]:
        """The account ids of an organization's members, read by the site admin."""
        return sorted(u["account_id"] for u in self.admin.org.get_users(org or self.world.org))

    def member_emails(self, org: Optional[str] = None) -> List[str]:
        """The e-mail addresses of an organization's members, read by the site admin."""
        return [u.get("email_address") for u in self.admin.org.get_users(org or self.world.org)]

    def org_admins(self, org: Optional[str] = None) -> List[str]:
        return sorted(self.admin.org.get(org or self.world.org).get("admin_account_ids") or [])

    def project_keys_named(self, name: str) -> List[int]:
        """The ids of the project's API keys named *name*, read by the owner (other keys come and go: CoCalc
        deletes a project key whose creator left once it is next used)."""
        keys = self.owner.system.manage_api_keys("get", project_id=self.project_id) or []
        return sorted(k["id"] for k in keys if k.get("name") == name)

    def track(self, kind: str, resource_id: Any) -> Any:
        """Track what a cell's call may create (before the call when the id is known)."""
        return self.session.custody.track(kind, resource_id)


Args = Callable[[Ctx], List[Any]]
Observe = Callable[[Ctx], Any]
#: ``effect(ctx, before, after, answer)``: a problem text, or ``None`` when the allowed call did its work.
Effect = Callable[[Ctx, Any, Any, Any], Optional[str]]


@dataclass(frozen=True)
class Rule:
    """One row of the matrix: a call (with its arguments), who may make it, and how to tell."""

    call: str
    args: Args
    cells: Dict[str, Outcome]
    endpoint: str = "hub"
    variant: str = ""
    setup: Optional[Callable[[Ctx], Dict[str, Any]]] = None
    observe: Optional[Observe] = None
    effect: Optional[Effect] = None
    #: The stand-in's named checks that this row guards (the switch self-test breaks each).
    checks: Tuple[str, ...] = ()
    #: Runs a kernel or a tool a CI machine lacks: allowed cells skip with ``CI=true``.
    slow: bool = False
    #: ``creates(ctx) -> (kind, unique key)``: the call makes a resource (if let through), tracked write-ahead.
    creates: Optional[Callable[[Ctx], Tuple[str, Dict[str, Any]]]] = None
    #: An allowed call whose effect is wrong lets the caller act as, or read, someone else: a security failure.
    effect_is_security: bool = False
    #: ``leaks(ctx, answer)``: whether a :class:`NoEffect` cell's answer reveals what it must not.
    leaks: Optional[Callable[[Ctx, Any], bool]] = None

    @property
    def name(self) -> str:
        """``call`` (``project:call`` on the project endpoint), with ``[variant]`` when the row has one."""
        call = f"project:{self.call}" if self.endpoint == "project" else self.call
        return f"{call} [{self.variant}]" if self.variant else call

    @property
    def dead_key(self) -> str:
        """The dead key this row is tried with: they take turns, row by row (each is refused by the
        bridge before any call is dispatched, so one per row shows the bridge holds for that call;
        ``test_authz.TestKeyLifecycle`` tries every dead key on both bridges)."""
        return DEAD_KEYS[_ROW_NUMBERS.get(id(self), 0) % len(DEAD_KEYS)]

    def outcome(self, actor: str) -> Outcome:
        if actor in DEAD_KEYS:
            return Refuse(dead_key_refusal(actor, self.endpoint))
        if actor == "dead_key":
            return Refuse(dead_key_refusal(self.dead_key, self.endpoint))
        if actor == "project_key" and self.endpoint == "hub":
            return Refuse(W.MUST_SIGN_IN)
        return self.cells[actor]


def dead_key_refusal(actor: str, endpoint: str) -> str:
    """What a bridge answers a key that must not work."""
    if actor == "no_key":
        return W.NO_KEY
    return W.MUST_SIGN_IN if endpoint == "hub" else W.PROJECT_NO_KEY


def who(allowed: FrozenSet[str], refusal: Outcome, **overrides: Outcome) -> Dict[str, Outcome]:
    """A row's cells: *allowed* actors get :data:`ALLOW`, the others *refusal*, *overrides* win."""
    cells: Dict[str, Outcome] = {a: (ALLOW if a in allowed else refusal) for a in ACTORS if a != "project_key"}
    cells.update(overrides)
    return cells


def own_account() -> Dict[str, Outcome]:
    """Cells of a call about the caller's own account only: every account may make it."""
    return who(ACCOUNTS, ALLOW)


def names_nothing(reason: str) -> Dict[str, Outcome]:
    """Cells of a call that acts on nothing another account owns, or nothing the API can make to try it on."""
    return who(frozenset(), NotApplicable(reason))


# ------------------------------------------------------------------- readers and effects


def owners_project(ctx: Ctx) -> str:
    """A new project of the owner's that nobody else is on (tracked; stopped as the owner); its id."""
    owner = ctx.owner
    title = ctx.session.unique_name("authz-project")
    pid = ctx.session.custody.create("project", {"title": title}, lambda: owner.projects.create_project(title=title),
                                     find=lambda: ctx.session.projects_titled(owner, title))
    ctx.session.custody.cleaner.stop_as(pid, ctx.cast.key("owner"))
    return pid


def fresh_project(ctx: Ctx, running: bool = False) -> Dict[str, Any]:
    """A new project of the owner's with the collaborator in it (tracked; stopped as the owner).

    *running*: started, and running before the cell's attempt (so that a stop it causes shows).
    """
    owner = ctx.owner
    pid = owners_project(ctx)
    owner.projects.add_collaborator(pid, ctx.account("collaborator"))
    if running:
        start_project(owner, pid, wait=PROJECT_RUNNING_WAIT, log=ctx.session.calls)
    return {"project_id": pid}


def to_delete(ctx: Ctx) -> Dict[str, Any]:
    """A fresh project for a deletion: running where the call must change nothing (so that a stop it causes
    shows), stopped where the deletion is allowed (CoCalc would spend ~8 s stopping it first)."""
    return fresh_project(ctx, running=not isinstance(ctx.outcome, Allow))


def deletion(ctx: Ctx) -> Tuple[bool, Any]:
    """Whether the project is deleted, and its state: CoCalc stops a project before it marks it deleted."""
    return bool(ctx.project_field("deleted")), state(ctx)


def fresh_member(ctx: Ctx, org: Optional[str] = None, admin: bool = False) -> Dict[str, Any]:
    """A new account in an organization (default: the world's), made an org admin if *admin*."""
    name = org or ctx.world.org
    account_id = ctx.session.create_user(name, email=f"{ctx.unique}@test.local")
    if admin:
        ctx.admin.org.add_admin(name, account_id)
    return {"account_id": account_id, "org": name}


def with_token(**fields: Any) -> Callable[[Ctx], Dict[str, Any]]:
    """A setup: :func:`fresh_project` and an invite token of it with *fields*, written by the owner."""
    def setup(ctx: Ctx) -> Dict[str, Any]:
        target = fresh_project(ctx)
        token = uuid.uuid4().hex
        ctx.owner.db.query({"project_invite_tokens": dict(fields, project_id=target["project_id"], token=token)})
        return dict(target, token=token)

    return setup


def owner_only_project(ctx: Ctx) -> Dict[str, Any]:
    """A setup: :func:`fresh_project` where only owners manage collaborators (``manage_users_owner_only``)."""
    target = fresh_project(ctx)
    ctx.owner.db.query({"projects": {"project_id": target["project_id"], "manage_users_owner_only": True}})
    return target


def with_member(target: Dict[str, Any], ctx: Ctx, actor: str) -> Dict[str, Any]:
    """*target* (a project) with *actor* added as a collaborator by the owner."""
    ctx.owner.projects.add_collaborator(target["project_id"], ctx.account(actor))
    return target


def invite_tokens(ctx: Ctx) -> List[str]:
    """The invite tokens of the cell's project, read by the owner."""
    rows = ctx.owner.db.query({"project_invite_tokens": [{"project_id": ctx.project_id, "token": None}]})
    return sorted(r["token"] for r in rows["project_invite_tokens"])


def used_token(ctx: Ctx) -> Dict[str, Any]:
    """A setup: a token of a fresh project with a usage limit of 1, used once already (by org_member)."""
    target = with_token(usage_limit=1)(ctx)
    opts = {"token_id": target["token"], "account_id": ctx.account("org_member")}
    ctx.cast.hub("org_member").call("projects.addCollaborator", [{"opts": opts}])
    return target


def token_state(ctx: Ctx) -> Tuple[Dict[str, str], Any]:
    """The members of the token's project and how often the token was used, read as the owner and the site admin."""
    rows = ctx.owner.db.query({"project_invite_tokens": [{"project_id": ctx.project_id, "token": ctx.target["token"],
                                                          "counter": None}]})["project_invite_tokens"]
    return ctx.users(), [r.get("counter") for r in rows]


def caller(ctx: Ctx) -> str:
    """The acting account (for a key that is no account's, the suite's own: such a call is refused by the bridge)."""
    return ctx.world.account_ids.get(ctx.actor) or ctx.account("site_admin")


def someone_else(ctx: Ctx) -> str:
    """An account that is not the caller: org_member, or the stranger when org_member calls."""
    return ctx.account("stranger" if ctx.actor == "org_member" else "org_member")


def fresh_org(ctx: Ctx, title: Optional[str] = None) -> Dict[str, Any]:
    """A new organization (tracked) with nobody in it, titled *title* if given: ``{"org", "organization_id", "marker"}``."""
    name = ctx.unique
    organization_id = ctx.session.create_org(name)
    if title is not None:
        ctx.admin.org.set(name, title=title)
    return {"org": name, "organization_id": organization_id, "marker": title}


#: The kernel the saved Jupyter outputs name.
KERNEL = "python3"


def jupyter_hash(code: str, kernel: str, project_id: str) -> str:
    """CoCalc's ``computeHash`` of an execution with no history and no path (util/jupyter-api/compute-hash.ts)."""
    text = json.dumps([[], code.strip(), kernel.lower().strip(), project_id, None], separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def saved_output(ctx: Ctx) -> Dict[str, Any]:
    """An output in CoCalc's Jupyter cache, as the owner's run of ``input`` in the world's project leaves it.

    Written into the two rows CoCalc's ``saveResponse`` writes (``server/jupyter/execute.ts``),
    since with ``CI=true`` no kernel runs: the log row first, naming the world's project,
    so that the cleaner removes both with that project.  Skips without a database.
    """
    config = ctx.session.config
    if not config.pghost:
        raise unittest.SkipTest("PGHOST is unset: a saved Jupyter output is planted in the database")
    code = f"print({ctx.unique!r})"
    digest = jupyter_hash(code, KERNEL, ctx.world.project_id)
    now = "NOW() AT TIME ZONE 'UTC'"
    conn = connect(config)
    try:
        conn.run(f"INSERT INTO jupyter_api_log(created, account_id, project_id, hash, kernel, input, total_time_s, expire) "
                 f"VALUES ({now}, CAST(:a AS UUID), CAST(:p AS UUID), :h, :k, :i, 0, {now} + INTERVAL '1 day')",
                 a=ctx.account("owner"), p=ctx.world.project_id, h=digest, k=KERNEL, i=code)
        conn.run(f"INSERT INTO jupyter_api_cache(created, hash, output, last_active, expire) "
                 f"VALUES ({now}, :h, ARRAY[CAST(:o AS JSONB)], {now}, {now} + INTERVAL '1 day')",
                 h=digest, o=json.dumps({"name": "stdout", "text": ctx.unique + "\n"}))
    finally:
        conn.close()
    return {"input": code, "hash": digest, "marker": ctx.unique}


def shows_saved(ctx: Ctx, answer: Any) -> bool:
    """Whether *answer* holds what the cell's target marked (a saved output, an organization's title)."""
    return ctx.target["marker"] in repr(answer)


def saved_answer(ctx: Ctx, before: Any, after: Any, answer: Any) -> Optional[str]:
    """The effect of an execution answered from the cache: the saved output."""
    return None if shows_saved(ctx, answer) else f"answered {brief(repr(answer), 200)}, not the saved output"


def answered(check: Callable[[Any], bool], what: str) -> Effect:
    """An effect that only looks at the answer."""
    return lambda ctx, before, after, answer: None if check(answer) else f"answered {answer!r}, expected {what}"


def changed(expect: Callable[[Ctx, Any], bool], what: str) -> Effect:
    """An effect that reads the state back: *expect(ctx, after)*."""
    return lambda ctx, before, after, answer: None if expect(ctx, after) else f"afterwards {after!r}; expected {what}"


def opts(**fields: Any) -> Callable[[Ctx], List[Any]]:
    """Args ``[{"opts": {...}}]``: the shape of the collaborator calls; values may be callables of the ctx."""
    return lambda ctx: [{"opts": {k: (v(ctx) if callable(v) else v) for k, v in fields.items()}}]


def first(**fields: Any) -> Callable[[Ctx], List[Any]]:
    """Args ``[{...}]``; values may be callables of the ctx."""
    return lambda ctx: [{k: (v(ctx) if callable(v) else v) for k, v in fields.items()}]


P = lambda ctx: ctx.project_id  # noqa: E731 (a table's shorthand)
ORG = lambda ctx: ctx.world.org  # noqa: E731
TARGET = lambda ctx: ctx.target["account_id"]  # noqa: E731


def account_of(actor: str) -> Callable[[Ctx], str]:
    return lambda ctx: ctx.account(actor)


def project_has(ctx: Ctx, path: str) -> bool:
    """Whether *path* exists in the world's project, asked by the owner."""
    result = ctx.cast.project("owner").system.exec(f"test -e {path}", bash=True, err_on_exit=False)
    return result.get("exit_code") == 0


def state(ctx: Ctx) -> Any:
    return (ctx.owner.projects.state(ctx.project_id) or {}).get("state")


def own_last_active(ctx: Ctx) -> Any:
    """When the acting account last used the project (``None``: never), read by the site admin."""
    return (ctx.project_field("last_active") or {}).get(ctx.world.account_ids.get(ctx.actor, ctx.session.account_id))


# ------------------------------------------------------------------------------ the hub


HUB_RULES: Tuple[Rule, ...] = (
    # -- system ----------------------------------------------------------------------
    Rule("system.ping", lambda ctx: [], own_account(),
         effect=answered(lambda a: isinstance(a, dict) and isinstance(a.get("now"), int), "{'now': ms}")),
    Rule("system.getCustomize", lambda ctx: [], own_account(),
         effect=answered(lambda a: isinstance(a, dict) and a, "the settings")),
    Rule("system.test", first(account_id=account_of("owner")), who(ACCOUNTS, ALLOW), variant="account_id of the owner",
         effect=lambda ctx, b, a, answer: None if answer.get("account_id") == ctx.account(ctx.actor)
         else f"named account {answer.get('account_id')}, not the caller's {ctx.account(ctx.actor)}",
         checks=()),
    Rule("system.getNames", lambda ctx: [[ctx.account("owner")]], own_account(),
         effect=answered(lambda a: isinstance(a, dict) and len(a) == 1, "one name")),
    Rule("system.manageApiKeys", first(action="get", project_id=P), who(MEMBERS, Refuse(W.API_KEYS_NOT_COLLABORATOR)),
         variant="get a project's keys",
         effect=answered(lambda a: isinstance(a, list) and len(a) >= 1, "the project's keys"),
         checks=("system.manageApiKeys:project-collaborator",)),
    Rule("system.manageApiKeys", first(action="create", project_id=P, name=lambda ctx: ctx.unique),
         who(frozenset(), Refuse(W.API_KEYS_NOT_COLLABORATOR), owner=NotApplicable("makes keys in test_keys"),
             collaborator=NotApplicable("makes keys in test_keys")),
         variant="create a key of another's project", observe=lambda ctx: ctx.project_keys_named(ctx.unique),
         checks=("system.manageApiKeys:project-collaborator",)),
    Rule("system.generateUserAuthToken", first(user_account_id=account_of("owner")), who(ADMIN, Refuse("Error: incorrect password")),
         variant="for another account, without its password",
         effect=answered(lambda a: isinstance(a, str) and len(a) == 24, "a 24-character token"),
         checks=("system.generateUserAuthToken:admin-or-password",)),
    Rule("system.revokeUserAuthToken", lambda ctx: ["x" * 24],
         names_nothing("whoever holds a token may revoke it (CoCalc's design): it names no one's resource")),
    Rule("system.adminResetPasswordLink", first(user_account_id=account_of("owner")), who(ADMIN, Refuse(W.MUST_BE_ADMIN)),
         effect=answered(lambda a: isinstance(a, str) and "/auth/password-reset/" in a, "a reset link"),
         checks=("system.adminResetPasswordLink:admin",)),
    Rule("system.userSearch", first(query=lambda ctx: ctx.account("owner"), admin=True), who(ADMIN, Refuse(W.ADMIN_SEARCH_ONLY)),
         variant="admin: true", effect=answered(lambda a: isinstance(a, list), "a list of accounts"),
         checks=("system.userSearch:admin-search",)),
    # The rows these write about the site admin's own account carry a tracked tag, so the cleaner removes them.
    Rule("system.userTracking", first(event=lambda ctx: ctx.session.tracked_event("authz"), value={}), own_account()),
    Rule("system.logClientError", first(event=lambda ctx: ctx.session.tracked_event("authz"), error="authz"), own_account()),
    Rule("system.webappError", first(name="authz", message=lambda ctx: ctx.session.tracked_event("authz")), own_account()),
    # -- projects --------------------------------------------------------------------
    Rule("projects.createProject", lambda ctx: [{"title": ctx.unique, "project_id": ctx.target["new_id"]}],
         who(ADMIN, Refuse(W.ONLY_ADMINS_PICK_ID)), variant="project_id chosen by the caller",
         setup=lambda ctx: {"new_id": ctx.track("project", str(uuid.uuid4())).id},
         observe=lambda ctx: ctx.admin.db.query({"projects_all": [{"project_id": ctx.target["new_id"], "title": None}]})["projects_all"],
         effect=changed(lambda ctx, after: len(after) == 1, "the project with that id"),
         checks=("projects.createProject:admin-project-id",)),
    Rule("projects.start", first(project_id=P), who(MEMBERS, Refuse(W.must_collaborate("start it"))), setup=fresh_project, observe=state,
         checks=("projects.start:collaborator",)),
    Rule("projects.state", first(project_id=P), who(MEMBERS, Refuse(W.must_collaborate("get state"))),
         effect=answered(lambda a: isinstance(a, dict) and "state" in a, "the state"), checks=("projects.state:collaborator",)),
    Rule("projects.status", first(project_id=P), who(MEMBERS, Refuse(W.must_collaborate("get status"))),
         effect=answered(lambda a: isinstance(a, dict), "the status"), checks=("projects.status:collaborator",)),
    Rule("projects.touch", first(project_id=P), who(MEMBERS, Refuse(W.must_collaborate("touch it"))), setup=fresh_project,
         observe=own_last_active, effect=changed(lambda ctx, after: after is not None, "the caller in last_active"),
         checks=("projects.touch:collaborator",)),
    Rule("projects.stop", first(project_id=P), who(MEMBERS, Refuse(W.must_collaborate("stop it"))), setup=fresh_project,
         observe=state, checks=("projects.stop:collaborator",)),
    Rule("projects.copyPathBetweenProjects",
         first(src_project_id=P, src_path=SOURCE_FILE, target_project_id=P, target_path=lambda ctx: f"{ctx.unique}.txt"),
         who(MEMBERS, Refuse(W.NOT_SOURCE_COLLABORATOR)), slow=True,
         observe=lambda ctx: project_has(ctx, f"{ctx.unique}.txt"),
         effect=changed(lambda ctx, after: after, "the copy in the project"),
         checks=("projects.copyPathBetweenProjects:source-collaborator",)),
    Rule("projects.copyPathBetweenProjects",
         first(src_project_id=P, src_path=lambda ctx: f"../{ctx.world.project_id}/{SOURCE_FILE}",
               target_project_id=lambda ctx: ctx.world.project_id, target_path=lambda ctx: f"{ctx.unique}.txt"),
         who(frozenset(), Refuse(W.NOT_SOURCE_COLLABORATOR), owner=Refuse(W.SOURCE_OUTSIDE_HOME),
             collaborator=Refuse(W.SOURCE_OUTSIDE_HOME)),
         variant="src_path out of the source project", setup=fresh_project, observe=lambda ctx: project_has(ctx, f"{ctx.unique}.txt"),
         checks=("projects.copyPathBetweenProjects:source-in-home",)),
    Rule("projects.copyPathBetweenProjects",
         first(src_project_id=lambda ctx: ctx.world.project_id, src_path=SOURCE_FILE, target_project_id=P,
               target_path=lambda ctx: f"../{ctx.world.project_id}/{ctx.unique}.txt"),
         who(frozenset(), Refuse(W.NOT_SOURCE_COLLABORATOR), owner=Refuse(W.TARGET_OUTSIDE_HOME),
             collaborator=Refuse(W.TARGET_OUTSIDE_HOME)),
         variant="target_path out of the target project", setup=fresh_project,
         observe=lambda ctx: project_has(ctx, f"{ctx.unique}.txt"), checks=("projects.copyPathBetweenProjects:target-in-home",)),
    Rule("projects.addCollaborator", opts(project_id=P, account_id=account_of("org_member")),
         who(MEMBERS | ADMIN, Refuse("", prefix=True), stranger=Refuse("Error: user ", prefix=True),
             org_admin=Refuse("Error: user ", prefix=True), org_member=Refuse("Error: cannot add self to ", prefix=True)),
         setup=fresh_project, observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: after.get(ctx.account("org_member")) == "collaborator", "org_member a collaborator"),
         checks=("projects.addCollaborator:write-access",)),
    Rule("projects.addCollaborator", opts(project_id=lambda ctx: [ctx.project_id, ctx.target["other"]],
                                          account_id=lambda ctx: [ctx.account("org_member")] * 2),
         who(frozenset({"owner"}) | ADMIN, Refuse("Error: user ", prefix=True)),
         variant="lists: one project the caller is not on", setup=lambda ctx: dict(fresh_project(ctx), other=owners_project(ctx)),
         observe=lambda ctx: (ctx.users().get(ctx.account("org_member")), ctx.users(ctx.target["other"]).get(ctx.account("org_member"))),
         effect=changed(lambda ctx, after: after == ("collaborator", "collaborator"), "org_member a collaborator on both"),
         checks=("projects.addCollaborator:write-access",)),
    Rule("projects.addCollaborator", opts(token_id=lambda ctx: ctx.target["token"], project_id=lambda ctx: ctx.world.project_id,
                                          account_id=caller),
         who(frozenset(), NoEffect("a token opens its own project, whatever project_id says"),
             owner=NotApplicable("already on the project named"), collaborator=NotApplicable("already on the project named")),
         variant="token of another project", setup=with_token(),
         observe=lambda ctx: ctx.users(ctx.world.project_id), checks=("projects.addCollaborator:token-project",)),
    Rule("projects.addCollaborator", opts(token_id=lambda ctx: [ctx.target["token"]] * 2,
                                          account_id=lambda ctx: [caller(ctx), someone_else(ctx)]),
         who(frozenset(), NoEffect("a token lets the account presenting it join, nobody else (and it was good for one use)"),
             owner=NotApplicable("a member adds anyone anyway"), collaborator=NotApplicable("a member adds anyone anyway"),
             site_admin=NotApplicable("a site admin adds anyone anyway")),
         variant="token for another account too", setup=with_token(usage_limit=1),
         observe=lambda ctx: ctx.users().get(someone_else(ctx)), checks=("projects.addCollaborator:token-self",)),
    Rule("projects.addCollaborator", opts(token_id=lambda ctx: ctx.target["token"], account_id=caller),
         who(frozenset(), Refuse(W.token_used_up(1))), variant="token used up", setup=used_token, observe=token_state,
         checks=("projects.addCollaborator:token-usage-limit",)),
    Rule("projects.addCollaborator", opts(token_id=lambda ctx: ctx.target["token"], account_id=caller),
         who(frozenset(), Refuse(W.TOKEN_EXPIRED)), variant="expired token", setup=with_token(expires="2001-01-01T00:00:00.000Z"),
         observe=lambda ctx: ctx.users(), checks=("projects.addCollaborator:token-unexpired",)),
    Rule("projects.removeCollaborator", opts(project_id=P, account_id=account_of("collaborator")),
         who(MEMBERS, Refuse(W.NOT_A_COLLABORATOR)), setup=fresh_project, observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: ctx.account("collaborator") not in after, "the collaborator gone"),
         checks=("projects.removeCollaborator:collaborator",)),
    Rule("projects.inviteCollaborator", opts(project_id=P, account_id=account_of("org_member")),
         who(MEMBERS, Refuse(W.NOT_A_COLLABORATOR)), setup=fresh_project, observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: after.get(ctx.account("org_member")) == "collaborator", "org_member a collaborator"),
         checks=("projects.inviteCollaborator:collaborator",)),
    Rule("projects.inviteCollaborator", opts(project_id=P, account_id=account_of("owner")),
         who(frozenset(), NoEffect("inviting the owner must not demote the owner"), owner=NotApplicable("the owner inviting itself")),
         variant="aimed at the owner", setup=fresh_project, observe=lambda ctx: ctx.users(),
         checks=("projects.inviteCollaborator:no-demotion",)),
    Rule("projects.addCollaborator", opts(project_id=P, account_id=account_of("org_member")),
         who(frozenset({"owner"}), Refuse(W.OWNERS_ONLY_MANAGE)), variant="owner-only project", setup=owner_only_project,
         observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: after.get(ctx.account("org_member")) == "collaborator", "org_member a collaborator"),
         checks=("projects.addCollaborator:owner-only-mode",)),
    Rule("projects.inviteCollaborator", opts(project_id=P, account_id=account_of("org_member")),
         who(frozenset({"owner"}), Refuse(W.NOT_A_COLLABORATOR), collaborator=Refuse(W.OWNERS_ONLY_MANAGE)),
         variant="owner-only project", setup=owner_only_project, observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: after.get(ctx.account("org_member")) == "collaborator", "org_member a collaborator"),
         checks=("projects.inviteCollaborator:owner-only-mode",)),
    Rule("projects.removeCollaborator", opts(project_id=P, account_id=account_of("org_member")),
         who(frozenset({"owner", "org_member"}), Refuse(W.NOT_A_COLLABORATOR), collaborator=Refuse(W.OWNERS_ONLY_MANAGE)),
         variant="owner-only project (org_member leaving)", setup=lambda ctx: with_member(owner_only_project(ctx), ctx, "org_member"),
         observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: ctx.account("org_member") not in after, "org_member gone"),
         checks=("projects.removeCollaborator:owner-only-mode",)),
    Rule("projects.changeUserType", opts(project_id=P, target_account_id=account_of("collaborator"), new_group="owner"),
         who(frozenset({"owner"}), Refuse(W.NOT_A_MEMBER), collaborator=Refuse(W.ONLY_OWNERS_CHANGE_TYPES)),
         setup=fresh_project, observe=lambda ctx: ctx.users(),
         effect=changed(lambda ctx, after: after.get(ctx.account("collaborator")) == "owner", "the collaborator an owner"),
         checks=("projects.changeUserType:owner",)),
    Rule("projects.setQuotas", first(project_id=P, memory_request=1000), who(ADMIN, Refuse(W.ADMIN_SEARCH_ONLY)),
         setup=fresh_project, observe=lambda ctx: ctx.project_field("settings"),
         effect=changed(lambda ctx, after: (after or {}).get("memory_request") == 1000, "memory_request 1000 in settings"),
         checks=("projects.setQuotas:admin",)),
    Rule("projects.deleteProject", first(project_id=P), who(MEMBERS | ADMIN, Refuse(W.NOT_OWNER_DELETE)),
         setup=to_delete, observe=deletion,
         effect=changed(lambda ctx, after: after[0] is True, "the project deleted"), checks=("projects.deleteProject:owner",)),
    Rule("projects.deleteProject", first(project_id=P, skipPermissionCheck=True),
         who(MEMBERS | ADMIN, NoEffect("an argument must not skip the owner check")), variant="skipPermissionCheck: true",
         setup=to_delete, observe=deletion,
         effect=changed(lambda ctx, after: after[0] is True, "the project deleted"),
         checks=("projects.deleteProject:no-skip",)),
    # -- db --------------------------------------------------------------------------
    Rule("db.userQuery", lambda ctx: [{"query": {"projects": {"project_id": ctx.project_id, "title": None}}}],
         who(MEMBERS | ADMIN, Refuse(W.FATAL_NO_PROJECT_READ, prefix=True)), variant="projects get",
         effect=answered(lambda a: isinstance(a.get("projects"), dict) and a["projects"].get("title"), "the title"),
         checks=("db.userQuery:projects-read",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"projects": {"project_id": ctx.project_id, "title": ctx.unique}}}],
         who(MEMBERS | ADMIN, Refuse(W.FATAL_NOT_ADMIN)), variant="projects set title", setup=fresh_project,
         observe=lambda ctx: ctx.project_field("title"),
         effect=lambda ctx, b, after, a: None if after == ctx.unique else f"title is {after!r}",
         checks=("db.userQuery:projects-write",)),
    Rule("db.userQuery",
         lambda ctx: [{"query": {"projects": {"project_id": ctx.project_id, "users": {ctx.account("collaborator"): {"group": "owner"}}}}}],
         who(frozenset(), NoEffect("groups change only through changeUserType, by an owner")), variant="projects set users (promote)",
         setup=fresh_project, observe=lambda ctx: ctx.users(), checks=("db.userQuery:project-users-groups",)),
    Rule("db.userQuery",
         lambda ctx: [{"project_id": ctx.project_id, "query": {"projects": {"project_id": ctx.project_id, "title": ctx.unique}}}],
         who(frozenset(), NoEffect("project_id in the call's options must not make an account act as the project"),
             owner=NotApplicable("a member may set the title anyway"), collaborator=NotApplicable("a member may set the title anyway"),
             site_admin=NotApplicable("a site admin may set the title anyway")),
         variant="project_id option (act as the project)", setup=fresh_project, observe=lambda ctx: ctx.project_field("title"),
         checks=("db.userQuery:project-id-option",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"listings": {"project_id": ctx.project_id, "path": "", "listing": None}}}],
         who(MEMBERS | ADMIN, Refuse(W.FATAL_NO_PROJECT_READ, prefix=True)), variant="listings get",
         effect=answered(lambda a: isinstance(a, dict), "an answer"), checks=("db.userQuery:projects-read",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"syncstrings": [{"project_id": ctx.project_id, "path": None}]}}],
         who(MEMBERS | ADMIN, Refuse(W.FATAL_NOT_ADMIN)), variant="syncstrings get",
         effect=answered(lambda a: isinstance(a.get("syncstrings"), list), "a list"), checks=("db.userQuery:projects-write",)),
    Rule("db.userQuery",
         lambda ctx: [{"query": {"project_invite_tokens": {"project_id": ctx.project_id, "token": ctx.unique[-20:].replace("-", "x"),
                                                           "usage_limit": 1}}}],
         who(MEMBERS | ADMIN, Refuse(W.FATAL_NOT_ADMIN)), variant="project_invite_tokens set", setup=fresh_project,
         observe=invite_tokens, effect=changed(lambda ctx, after: len(after) == 1, "one invite token"),
         checks=("db.userQuery:projects-write",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"projects": {"project_id": ctx.project_id, "manage_users_owner_only": True}}}],
         who(frozenset({"owner"}), Refuse(W.FATAL_NOT_ADMIN), collaborator=Refuse(W.OWNER_ONLY_SETTING),
             site_admin=Refuse(W.OWNER_ONLY_SETTING)),
         variant="projects set manage_users_owner_only", setup=fresh_project,
         observe=lambda ctx: ctx.project_field("manage_users_owner_only"),
         effect=changed(lambda ctx, after: after is True, "owner-only management on"), checks=("db.userQuery:owner-only-setting",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"project_invite_tokens": {"project_id": ctx.project_id, "token": uuid.uuid4().hex}}}],
         who(frozenset({"owner"}) | ADMIN, Refuse(W.FATAL_NOT_ADMIN),
             collaborator=NoEffect("where only owners manage collaborators, only owners make invite tokens (CoCalc's UI)")),
         variant="project_invite_tokens set, owner-only project", setup=owner_only_project, observe=invite_tokens,
         effect=changed(lambda ctx, after: len(after) == 1, "one invite token"), checks=("db.userQuery:invite-tokens-owner-only",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"public_paths": {"project_id": ctx.project_id, "path": ctx.unique, "description": "x"}}}],
         who(frozenset(), Refuse(W.FATAL_NOT_ADMIN), owner=NotApplicable("would publish a path; not cleaned"),
             collaborator=NotApplicable("would publish a path; not cleaned"), site_admin=NotApplicable("would publish a path; not cleaned")),
         variant="public_paths set", observe=lambda ctx: ctx.owner.db.query({"public_paths": [{"project_id": ctx.project_id, "path": None}]}),
         checks=("db.userQuery:projects-write",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"crm_accounts": [{"account_id": None}]}}], who(ADMIN, Refuse(W.FATAL_NOT_ADMIN)),
         variant="admin table crm_accounts", effect=answered(lambda a: isinstance(a.get("crm_accounts"), list), "a list"),
         checks=("db.userQuery:admin-table",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"accounts": {"account_id": None, "first_name": None}},
                                       "options": [{"account_id": ctx.account("owner")}]}],
         who(ADMIN, Refuse("user must be admin to sudo"), owner=NotApplicable("sudo as oneself")), variant="sudo as the owner",
         effect=answered(lambda a: (a.get("accounts") or {}).get("first_name") == "Authz", "the owner's row"),
         checks=("db.userQuery:sudo",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"accounts": {"account_id": ctx.account("owner"), "email_address": None}}}],
         who(frozenset(), NoEffect("another account's row must not be read"), owner=NotApplicable("the owner's own row"),
             site_admin=NotApplicable("reads as itself; sudo is the admin's door")),
         variant="accounts get of the owner", leaks=lambda ctx, answer: ctx.world.emails["owner"] in repr(answer),
         checks=("db.userQuery:accounts-own",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"organizations": {"organization_id": ctx.target["organization_id"], "title": None,
                                                                   "description": None, "email_address": None}}}],
         who(frozenset(), NoEffect("an organization is read by its admins only (org.get)"),
             site_admin=NotApplicable("reads organizations with org.get; CoCalc's user query fails for everyone")),
         variant="organizations get", setup=lambda ctx: fresh_org(ctx, title=f"authz title {ctx.unique}"),
         leaks=shows_saved, checks=("db.userQuery:organizations-get",)),
    Rule("db.userQuery", lambda ctx: [{"query": {"organizations": {"organization_id": ctx.target["organization_id"],
                                                                   "title": ctx.unique}}}],
         who(frozenset(), Refuse(W.NOT_ORG_MEMBER),
             site_admin=NotApplicable("changes organizations with org.set; CoCalc's user query asks everyone for membership")),
         variant="organizations set title", setup=fresh_org,
         observe=lambda ctx: ctx.admin.org.get(ctx.target["org"]).get("title"), checks=("db.userQuery:organizations-member",)),
    Rule("db.touch", first(project_id=P), who(MEMBERS, Refuse(W.NOT_COLLABORATOR)), setup=fresh_project, observe=own_last_active,
         checks=("db.touch:collaborator",)),
    Rule("db.fileUseTimes", first(project_id=P, path="a.txt"), who(MEMBERS, Refuse(W.NO_READ_ACCESS)),
         effect=answered(lambda a: isinstance(a, dict), "the times"), checks=("db.fileUseTimes:read-access",)),
    Rule("db.fileUseTimes", first(project_id=P, path="a.txt", target_account_id=account_of("owner")),
         who(MEMBERS, Refuse(W.NO_READ_ACCESS)), variant="target_account_id of the owner",
         effect=answered(lambda a: isinstance(a, dict) and isinstance(a.get("access_times"), list), "the owner's times"),
         checks=("db.fileUseTimes:read-access",)),
    Rule("db.getLegacyTimeTravelInfo", first(project_id=P, path="a.txt"),
         who(MEMBERS, NotApplicable("CoCalc checks membership only once an archived history exists, and the API cannot "
                                    "make one; without it CoCalc answers {'uuid': ''} to anyone, revealing nothing")),
         effect=answered(lambda a: isinstance(a, dict) and "uuid" in a, "{'uuid': ...}")),
    Rule("db.getLegacyTimeTravelPatches", first(uuid=lambda ctx: str(uuid.uuid4())),
         names_nothing("takes a blob id; no blob of another's can be made through the API to try it on")),
    Rule("db.removeBlobTtls", first(uuids=lambda ctx: [str(uuid.uuid4())]),
         names_nothing("takes blob ids; no blob of another's can be made through the API to try it on")),
    # -- jupyter, sync ---------------------------------------------------------------
    Rule("jupyter.kernels", first(project_id=P), who(MEMBERS, Refuse(W.JUPYTER_NOT_COLLABORATOR)),
         effect=answered(lambda a: isinstance(a, list), "a list of kernels"), checks=("jupyter.kernels:collaborator",)),
    Rule("jupyter.execute", lambda ctx: [{"project_id": ctx.project_id, "input": f"1+1  # {ctx.unique}", "kernel": "python3"}],
         who(MEMBERS, Refuse(W.JUPYTER_NOT_COLLABORATOR)), slow=True, checks=("jupyter.execute:collaborator",)),
    Rule("jupyter.execute", first(hash=lambda ctx: ctx.target["hash"]),
         who(MEMBERS, NoEffect("a saved output is for the members of the project it ran in"),
             site_admin=NotApplicable("site admins read every saved output anyway (crm_jupyter_api_cache)")),
         variant="hash of a saved output", setup=saved_output, leaks=shows_saved, effect=saved_answer,
         checks=("jupyter.execute:cache-collaborator",)),
    Rule("jupyter.execute", lambda ctx: [{"project_id": ctx.world.project_id, "input": ctx.target["input"], "kernel": KERNEL}],
         who(MEMBERS, Refuse(W.JUPYTER_NOT_COLLABORATOR),
             site_admin=NotApplicable("site admins read every saved output anyway (crm_jupyter_api_cache)")),
         variant="input of a saved output", setup=saved_output, effect=saved_answer,
         checks=("jupyter.execute:cache-collaborator",)),
    Rule("sync.history", first(project_id=P, path="a.txt"), who(MEMBERS, Refuse(W.NOT_SOURCE_COLLABORATOR)),
         effect=answered(lambda a: isinstance(a, dict) and "patches" in a, "{'patches', 'info'}"),
         checks=("sync.history:collaborator",)),
    # -- messages, purchases ---------------------------------------------------------
    Rule("messages.send", lambda ctx: [{"subject": ctx.unique, "body": "authz", "to_ids": [ctx.account("owner")],
                                        "from_id": ctx.account("owner")}],
         who(ACCOUNTS, ALLOW, owner=NotApplicable("from the owner anyway")), variant="from_id of the owner",
         effect=lambda ctx, b, a, answer: sender_is_caller(ctx, answer), effect_is_security=True, checks=("messages.send:sender",)),
    Rule("messages.get", first(type="received"), who(ACCOUNTS, ALLOW, owner=NotApplicable("the owner's own messages")),
         setup=lambda ctx: {"subject": owner_message(ctx)},
         effect=lambda ctx, b, a, answer: None if all(m.get("subject") != ctx.target["subject"] for m in answer)
         else "lists a message sent to the owner", effect_is_security=True, checks=("messages.get:own",)),
    Rule("purchases.getBalance", first(account_id=account_of("owner")), own_account()),
    Rule("purchases.getMinBalance", lambda ctx: [], own_account()),
    # -- organizations ---------------------------------------------------------------
    Rule("org.getAll", lambda ctx: [], who(ADMIN, Refuse("Error: " + W.NOT_SITE_ADMIN)),
         effect=answered(lambda a: isinstance(a, list) and a, "every organization"), checks=("org.getAll:admin",)),
    Rule("org.create", lambda ctx: [{"name": ctx.target["name"]}], who(ADMIN, Refuse(W.ONLY_ADMINS_CREATE_ORGS)),
         creates=lambda ctx: ("organization", {"name": ctx.target["name"]}),
         setup=lambda ctx: {"name": ctx.unique},
         observe=lambda ctx: [o["name"] for o in ctx.admin.org.get_all() if o.get("name") == ctx.target["name"]],
         effect=changed(lambda ctx, after: after == [ctx.target["name"]], "the new organization"), checks=("org.create:admin",)),
    Rule("org.get", first(name=ORG), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         effect=answered(lambda a: isinstance(a, dict) and a.get("name"), "the organization"), checks=("org.get:org-admin",)),
    Rule("org.set", first(name=ORG, title=lambda ctx: ctx.unique), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         observe=lambda ctx: ctx.admin.org.get(ctx.world.org).get("title"),
         effect=lambda ctx, b, after, a: None if after == ctx.unique else f"title is {after!r}", checks=("org.set:org-admin",)),
    Rule("org.getUsers", first(name=ORG), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         effect=answered(lambda a: isinstance(a, list) and len(a) >= 2, "the members"), checks=("org.getUsers:org-admin",)),
    Rule("org.createUser", lambda ctx: [{"name": ctx.world.org, "email": f"{ctx.unique}@test.local"}],
         who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)), creates=lambda ctx: ("account", {"email": f"{ctx.unique}@test.local"}), observe=lambda ctx: ctx.member_emails().count(f"{ctx.unique}@test.local"),
         effect=changed(lambda ctx, after: after == 1, "the new member"), checks=("org.createUser:org-admin",)),
    Rule("org.addAdmin", first(name=ORG, user=TARGET), who(ADMIN, Refuse(W.ONLY_SITE_ADMINS_ADD_ORG_ADMINS)), setup=fresh_member,
         observe=lambda ctx: ctx.target["account_id"] in ctx.org_admins(),
         effect=changed(lambda ctx, after: after, "the member an admin"), checks=("org.addAdmin:admin",)),
    Rule("org.addUser", first(name=ORG, user=TARGET), who(ADMIN, Refuse(W.ONLY_SITE_ADMINS_ADD_USERS)),
         setup=lambda ctx: fresh_member(ctx, ctx.world.other_org), observe=lambda ctx: ctx.target["account_id"] in ctx.org_members(),
         effect=changed(lambda ctx, after: after, "the account moved in"), checks=("org.addUser:admin",)),
    Rule("org.removeUser", first(name=ORG, user=TARGET), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)), setup=fresh_member,
         observe=lambda ctx: ctx.target["account_id"] in ctx.org_members(),
         effect=changed(lambda ctx, after: not after, "the member gone"), checks=("org.removeUser:org-admin",)),
    Rule("org.removeUser", first(name=ORG, user=TARGET),
         who(ADMIN, NoEffect("an org admin manages only its own organization"), org_member=Refuse(W.NOT_ORG_ADMIN),
             owner=Refuse(W.NOT_ORG_ADMIN), collaborator=Refuse(W.NOT_ORG_ADMIN), stranger=Refuse(W.NOT_ORG_ADMIN)),
         variant="a member of another organization", setup=lambda ctx: fresh_member(ctx, ctx.world.other_org),
         observe=lambda ctx: ctx.target["account_id"] in ctx.org_members(ctx.world.other_org), checks=("org.removeUser:same-org",),
         effect=lambda ctx, b, a, answer: None),
    Rule("org.removeAdmin", first(name=ORG, user=TARGET), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         setup=lambda ctx: fresh_member(ctx, admin=True), observe=lambda ctx: ctx.target["account_id"] in ctx.org_admins(),
         effect=changed(lambda ctx, after: not after, "no longer an admin"), checks=("org.removeAdmin:org-admin",)),
    Rule("org.createToken", first(user=account_of("org_member")), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         effect=answered(lambda a: isinstance(a, dict) and len(a.get("token") or "") == 24, "a token"), checks=("org.createToken:org-admin",)),
    Rule("org.expireToken", lambda ctx: [{"token": "x" * 24}], names_nothing("whoever holds a token may expire it (CoCalc's design)")),
    Rule("org.message", first(name=ORG, subject=lambda ctx: ctx.unique, body="authz"), who(ORG_ADMINS, Refuse(W.NOT_ORG_ADMIN)),
         checks=("org.message:org-admin",)),
)


def sender_is_caller(ctx: Ctx, answer: Any) -> Optional[str]:
    """The message *answer* (its id) reached the owner as sent by the caller, whatever ``from_id`` said."""
    if not isinstance(answer, int):
        return f"answered {answer!r}, not a message id"
    ctx.track("message", answer)
    for message in ctx.owner.messages.get(type="received", limit=50):
        if message.get("id") == answer:
            sender = message.get("from_id")
            return None if sender == ctx.account(ctx.actor) else f"the owner received it from {sender}, not from the caller"
    return f"message {answer} is not among the owner's received messages"


def owner_message(ctx: Ctx) -> str:
    """A message sent to the owner (tracked); its subject."""
    subject = ctx.unique
    ctx.session.send_message(subject, "authz", [ctx.account("owner")])
    return subject


# ---------------------------------------------------------------------- the project endpoint

PROJECT_PEOPLE = MEMBERS | {"project_key"}
#: What a project endpoint's refused actor gets: the bridge's own text (site admins too).
REFUSED_ON_PROJECT = Refuse(W.NOT_PROJECT_COLLABORATOR)


def project_rule(call: str, args: Args, *, slow: bool = False, changes_files: bool = False) -> Rule:
    """A row of the project endpoint: members and the project's key allowed, everybody else refused by the bridge.

    An allowed cell passes when the call reaches the project: any answer that is not
    one of the bridge's refusals (``test_authz.BRIDGE_REFUSALS``).  A call that
    *changes_files* gets a folder of its own per cell, whose listing a refusal must
    leave as it was.
    """
    cells = {a: (ALLOW if a in PROJECT_PEOPLE else REFUSED_ON_PROJECT) for a in ACTORS}
    return Rule(call, args, cells, endpoint="project", slow=slow, checks=("bridge.project:collaborator",),
                setup=scratch if changes_files else None, observe=files if changes_files else None)


def files(ctx: Ctx) -> str:
    """What the cell's folder holds, listed by the owner."""
    folder = ctx.target["folder"]
    result = ctx.cast.project("owner").system.exec(f"ls -A {folder} 2>/dev/null; true", bash=True)
    return result["stdout"]


def scratch(ctx: Ctx) -> Dict[str, Any]:
    """A folder of the cell's own in the world's project holding ``a.txt``, made by the owner."""
    folder = f"authz-{ctx.unique}"
    ctx.cast.project("owner").system.exec(f"mkdir -p {folder} && printf a > {folder}/a.txt", bash=True)
    return {"folder": folder}


def in_folder(name: str) -> Callable[[Ctx], str]:
    return lambda ctx: f"{ctx.target['folder']}/{name}"


PROJECT_RULES: Tuple[Rule, ...] = (
    project_rule("system.ping", lambda ctx: []),
    project_rule("system.test", lambda ctx: []),
    project_rule("system.version", lambda ctx: []),
    project_rule("system.configuration", lambda ctx: ["main"]),
    project_rule("system.listing", lambda ctx: [{"path": "", "hidden": False}]),
    project_rule("system.realpath", lambda ctx: ["."]),
    project_rule("system.canonicalPaths", lambda ctx: [["."]]),
    project_rule("system.readTextFileFromProject", lambda ctx: [{"path": ".bashrc"}]),
    project_rule("system.writeTextFileToProject", lambda ctx: [{"path": f"{ctx.target['folder']}/w.txt", "content": "x"}], changes_files=True),
    project_rule("system.deleteFiles", lambda ctx: [{"paths": [in_folder("a.txt")(ctx)]}], changes_files=True),
    project_rule("system.renameFile", lambda ctx: [{"src": in_folder("a.txt")(ctx), "dest": in_folder("b.txt")(ctx)}], changes_files=True),
    project_rule("system.moveFiles", lambda ctx: [{"paths": [in_folder("a.txt")(ctx)], "dest": ctx.target["folder"] + "/.."}], changes_files=True),
    project_rule("system.exec", lambda ctx: [{"command": f"touch {ctx.target['folder']}/e.txt", "bash": True}], changes_files=True),
    project_rule("system.signal", lambda ctx: [{"signal": 0, "pids": []}]),
    project_rule("system.listJupyterKernels", lambda ctx: [{}]),
    project_rule("system.stopJupyterKernel", lambda ctx: [{"pid": 2 ** 31 - 2}]),
    project_rule("system.jupyterExecute", lambda ctx: [{"input": "1+1", "kernel": "python3"}], slow=True),
    project_rule("editor.newFile", lambda ctx: [f"{ctx.target['folder']}/n.txt"], changes_files=True),
    project_rule("editor.jupyterStripNotebook", lambda ctx: [f"authz-no-such-{ctx.unique}.ipynb"]),
    project_rule("editor.jupyterKernels", lambda ctx: []),
    project_rule("editor.jupyterKernelLogo", lambda ctx: ["python3"]),
    project_rule("editor.jupyterNbconvert", lambda ctx: [{"args": ["--to", "html", f"authz-no-such-{ctx.unique}.ipynb"]}], slow=True),
    project_rule("editor.jupyterRunNotebook", lambda ctx: [{"path": f"authz-no-such-{ctx.unique}.ipynb"}], slow=True),
    project_rule("editor.formatterString", lambda ctx: [{"str": "{}", "options": {"parser": "json"}}]),
    project_rule("editor.printSageWS", lambda ctx: [{"path": f"authz-no-such-{ctx.unique}.sagews"}], slow=True),
    project_rule("editor.createTerminalService", lambda ctx: [f"authz-{ctx.unique}.term", {}], slow=True),
    project_rule("sync.close", lambda ctx: [f"authz-no-such-{ctx.unique}.txt"]),
)

RULES: Tuple[Rule, ...] = HUB_RULES + PROJECT_RULES
_ROW_NUMBERS: Dict[int, int] = {id(rule): n for n, rule in enumerate(RULES)}
#: The columns of the matrix: the actors, then the row's turn of the dead keys.
COLUMNS = ACTORS + ("dead_key",)


@dataclass(frozen=True)
class Cell:
    """One (rule, actor) pair and what CoCalc intends for it."""

    rule: Rule
    actor: str
    outcome: Outcome

    @property
    def id(self) -> str:
        """``call × actor``, the subtest's name and the id a known hole is declared by."""
        actor = f"{self.rule.dead_key} (dead key)" if self.actor == "dead_key" else self.actor
        return f"{self.rule.name} × {actor}"

    @property
    def key_actor(self) -> str:
        """Whose key the cell calls with."""
        return self.rule.dead_key if self.actor == "dead_key" else self.actor


def cells(rules: Tuple[Rule, ...] = RULES) -> Iterator[Cell]:
    """Every cell of *rules*, actors in the matrix's order, refusals before what is allowed in each row.

    Refusals first, so that an allowed change (a project stopped, a member removed)
    cannot be mistaken for the effect of a refusal that came after it.
    """
    for rule in rules:
        row = [Cell(rule, actor, rule.outcome(actor)) for actor in COLUMNS]
        yield from sorted(row, key=lambda c: isinstance(c.outcome, Allow))


# ---------------------------------------------------------------------------- the README

_MARK = {Allow: "✓", Refuse: "✗", NoEffect: "∅", NotApplicable: "–"}


def markdown(rules: Tuple[Rule, ...] = RULES) -> str:
    """The matrix as the README shows it: a row per rule, a column per actor, then the counts."""
    head = ["call"] + list(ACTORS) + ["dead key"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rule in rules:
        marks = [_MARK[type(rule.outcome(actor))] for actor in ACTORS]
        lines.append(f"| `{rule.name}` | " + " | ".join(marks) + f" | ✗ {rule.dead_key} |")
    tested = [c for c in cells(rules) if not isinstance(c.outcome, NotApplicable)]
    lines.append("")
    lines.append(
        f"{len(rules)} rows, {len(tested)} (call, actor) cells tested, "
        f"{sum(1 for c in cells(rules) if isinstance(c.outcome, NotApplicable))} not applicable (each with its reason in "
        "`cocalc_api_tests/matrix.py`). ✓ allowed (its effect read back), ✗ refused with CoCalc's text (nothing "
        "changed), ∅ refused or without effect, – not applicable; dead key: one of the 7 keys that must not work, "
        "in turn, refused by the bridge (every one of them on both bridges in `TestKeyLifecycle`)."
    )
    return "\n".join(lines)


#: The README's markers around the generated table.
README_START = "<!-- authorization matrix: generated by `python -m cocalc_api_tests.matrix --readme README.md` -->"
README_END = "<!-- end of the authorization matrix -->"


def with_table(readme: str) -> str:
    """*readme* with the text between :data:`README_START` and :data:`README_END` replaced by :func:`markdown`."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not (start and end):
        raise ValueError(f"the README lacks the markers {README_START!r} and {README_END!r}")
    return f"{head}{start}\n{markdown()}\n{end}{tail}"


def main(argv: List[str]) -> int:
    """``python -m cocalc_api_tests.matrix [--readme FILE]``: print the table, or write it into FILE."""
    if argv[:1] == ["--readme"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(with_table(text))
        return 0
    print(markdown())
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

"""The stand-in's permission checks, CoCalc's caches, and making an ordinary account's key through the API alone.

* The registry (``cocalc_standin/checks.py``) names every check the code
  applies and nothing else -- found by reading the stand-in's source -- and
  ``COCALC_STANDIN_BREAK_CHECKS`` refuses an unknown name before anything starts.
* A stand-in with a few checks broken lets exactly those calls through, while
  the checks next to them still refuse.
* ``GET /auth/impersonate`` signs in with a ``system.generateUserAuthToken``
  token (cookies, ``remember_me`` row) and ``/api/v2/api-keys`` makes a key
  with that cookie: an account-wide key of the ordinary account.
* In the ``real`` profile, a change of membership, admin groups or keys takes
  CoCalc's cache time (times the scale) to show; in ``fast`` at once.
"""
import ast
import datetime
import os
import re
import time
import unittest
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import requests

from cocalc_api_tests.client import Hub, Project
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_standin import checks
from cocalc_standin.api_auth import create_api_key, decode62
from cocalc_standin.checks import CHECKS, CheckError, parse_broken
from cocalc_standin.launch import StandinEnvironment
from cocalc_standin.profile import get_profile
from cocalc_standin.store import utcnow

from helpers import MUST_SIGN_IN, error_of, start_standin, unique
from suite_runner import PY, ROOT, clean_environ, run

STANDIN_DIR = os.path.join(ROOT, "cocalc_standin")
#: What a check's name looks like: ``<call or bridge>:<rule>``.
NAME = re.compile(r"^[a-z][A-Za-z.-]*:[a-z][a-z0-9-]*$")
#: The checks the broken stand-in switches off: one per kind of rule.
BROKEN = ("projects.start:collaborator", "org.get:org-admin", "db.userQuery:set-fields", "bridge.project:collaborator",
          "key:expired")
#: Time scale of the ``real`` stand-in: CoCalc's 30 s cache lasts 1.5 s, its 15 s one 0.75 s.
SCALE = 0.05
NO_KEY = "You must provide authentication via an API key."

#: Checks that keep CoCalc's holes out of the stand-in: broken, each plays CoCalc's own (holey) behaviour.
HOLES = ("projects.deleteProject:no-skip", "db.userQuery:project-id-option", "db.userQuery:project-users-groups",
         "projects.inviteCollaborator:no-demotion", "org.removeUser:same-org", "messages.send:sender",
         "messages.get:own", "jupyter.execute:cache-collaborator", "projects.addCollaborator:token-self",
         "db.userQuery:invite-tokens-owner-only")

NORMAL: Any = None
BROKEN_ENV: Any = None
HOLEY: Any = None
REAL: Any = None


def setUpModule() -> None:
    global NORMAL, BROKEN_ENV, HOLEY, REAL
    NORMAL = start_standin()
    BROKEN_ENV = start_standin(break_checks=BROKEN)
    HOLEY = start_standin(break_checks=HOLES)
    REAL = start_standin(profile=get_profile("real", SCALE))


#: Stand-in modules that name no check: the registry itself, and the fault table (fault ids, ``call:kind``,
#: have a check name's shape).
NOT_CHECK_CODE = ("checks.py", "faults.py")


def standin_nodes() -> Iterator[Tuple[str, ast.AST]]:
    """``(file name, node)`` of every syntax node of the stand-in's code, :data:`NOT_CHECK_CODE` aside."""
    for filename in sorted(os.listdir(STANDIN_DIR)):
        if not filename.endswith(".py") or filename in NOT_CHECK_CODE:
            continue
        with open(os.path.join(STANDIN_DIR, filename), encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename)
        for node in ast.walk(tree):
            yield filename, node


def names_in_source() -> Dict[str, List[str]]:
    """Every string in the stand-in's code (:data:`NOT_CHECK_CODE` aside) that looks like a check name, with where it is."""
    found: Dict[str, List[str]] = {}
    for filename, node in standin_nodes():
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
            found.setdefault(node.value, []).append(f"{filename}:{node.lineno}")
    return found


def calls_with_computed_names() -> List[str]:
    """``checks.require``/``checks.enforced`` calls whose name is neither a literal nor a plain variable."""
    odd = []
    for filename, node in standin_nodes():
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("require", "enforced") and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "checks"):
            name = node.args[1] if len(node.args) > 1 else None
            if not isinstance(name, (ast.Constant, ast.Name)):
                odd.append(f"{filename}:{node.lineno}")
    return odd


class RegistryTest(unittest.TestCase):
    """The registry against the source, and the command line around it (no server needed)."""

    def test_every_check_in_the_code_is_registered_and_every_registered_one_is_used(self) -> None:
        used = names_in_source()
        unregistered = {n: w for n, w in used.items() if n not in CHECKS}
        self.assertEqual(unregistered, {}, "check names used in cocalc_standin but missing from checks.CHECKS")
        self.assertEqual(sorted(set(CHECKS) - set(used)), [], "registered checks no code applies")
        self.assertEqual(calls_with_computed_names(), [], "a check name must be a literal (or a parameter holding one)")

    def test_names_and_descriptions(self) -> None:
        for name, text in CHECKS.items():
            with self.subTest(name=name):
                self.assertRegex(name, NAME)
                self.assertNotIn("\n", text)
                self.assertRegex(text, r"\b[a-z][\w-]*/[\w./-]+\.(ts|coffee)\b", "names the CoCalc file it mirrors")
        for expected in ("bridge.hub:account-key", "bridge.project:collaborator", "projects.deleteProject:owner",
                         "org.get:org-admin", "db.userQuery:projects-write", "key:expired") + HOLES:
            self.assertIn(expected, CHECKS)

    def test_an_unregistered_name_is_a_bug_not_a_pass(self) -> None:
        with self.assertRaises(KeyError):
            checks.enforced(None, "projects.start:nobody")

    def test_parsing_the_variable(self) -> None:
        self.assertEqual(parse_broken(None), frozenset())
        self.assertEqual(parse_broken(" key:expired , ,org.get:org-admin "), {"key:expired", "org.get:org-admin"})
        with self.assertRaises(CheckError) as cm:
            parse_broken("key:expired,key:nope")
        text = str(cm.exception)
        self.assertIn("'key:nope'", text)
        self.assertIn(checks.BREAK_VARIABLE, text)
        self.assertNotIn("'key:expired'", text)
        self.assertNotIn("\n", text)

    def test_the_checks_command_lists_name_tab_description(self) -> None:
        status, out, err = run([PY, "-m", "cocalc_standin", "checks"], clean_environ(), timeout=60)
        self.assertEqual(status, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), len(CHECKS))
        self.assertEqual(dict(line.split("\t") for line in lines), CHECKS)

    def test_an_unknown_name_stops_the_stand_in_before_it_starts(self) -> None:
        environ = clean_environ(**{checks.BREAK_VARIABLE: "projects.start:collaborator,projects.start:owner"})
        started = time.monotonic()
        status, out, err = run([PY, "-m", "cocalc_standin", "serve"], environ, timeout=60)
        self.assertEqual(status, 2, err)
        self.assertEqual(out, "", "nothing was started, so no export lines")
        self.assertNotIn("Traceback", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("'projects.start:owner'", err)
        self.assertIn("python -m cocalc_standin checks", err)
        self.assertLess(time.monotonic() - started, 30)
        with self.assertRaises(CheckError):
            StandinEnvironment(break_checks=["projects.start:owner"])


# ------------------------------------------------------------------------ shared helpers


def hub(env: Any, key: str) -> Hub:
    return Hub(key, env.environ["COCALC_HOST"])


def project(env: Any, key: str, project_id: str) -> Project:
    return Project(key, env.environ["COCALC_HOST"], project_id)


class EnvCase(unittest.TestCase):
    """Clients on one stand-in; every client is closed after the test."""

    def client(self, env: Any, key: str, project_id: Optional[str] = None) -> Any:
        made = hub(env, key) if project_id is None else project(env, key, project_id)
        self.addCleanup(made.close)
        return made

    def plain(self, env: Any) -> Tuple[str, Any, str]:
        """A new ordinary account of *env*: ``(account_id, hub client, key)``."""
        account_id, key = env.mint_key(admin=False)
        return account_id, self.client(env, key), key

    def admin(self, env: Any) -> Hub:
        return self.client(env, env.admin_key)


class BrokenChecksTest(EnvCase):
    """Each broken check lets its call through; the same request is refused where the check holds."""

    def both(self) -> List[Tuple[str, Any]]:
        return [("normal", NORMAL), ("broken", BROKEN_ENV)]

    def test_the_broken_stand_in_reports_what_it_skips(self) -> None:
        self.assertEqual(BROKEN_ENV.broken_checks, frozenset(BROKEN))
        self.assertEqual(NORMAL.broken_checks, frozenset())

    def test_projects_start_of_a_stranger(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                project_id = self.admin(env).call("projects.createProject", [{"title": unique("start")}])
                _, stranger, _ = self.plain(env)
                start = lambda: stranger.call("projects.start", [{"project_id": project_id}])  # noqa: E731
                stop = lambda: stranger.call("projects.stop", [{"project_id": project_id}])  # noqa: E731
                if label == "normal":
                    self.assertEqual(error_of(start), "Error: must be collaborator on project to start it")
                else:
                    self.assertIsNone(start())
                    self.assertEqual(self.admin(env).call("projects.state", [{"project_id": project_id}])["state"],
                                     "running")
                # the check next to it (another call, same rule) still holds
                self.assertEqual(error_of(stop), "Error: must be collaborator on project to stop it")

    def test_org_get_by_a_member(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                org = unique("org")
                self.admin(env).call("org.create", [{"name": org}])
                member_id = self.admin(env).call("org.createUser", [{"name": org, "email": f"{unique('m')}@x.local"}])
                key = create_api_key(env.store, member_id)
                member = self.client(env, key)
                get = lambda: member.call("org.get", [{"name": org}])  # noqa: E731
                if label == "normal":
                    self.assertEqual(error_of(get), "Error: user must be an admin of the organization or site-admin")
                else:
                    self.assertEqual(get()["name"], org)
                self.assertEqual(error_of(lambda: member.call("org.getUsers", [{"name": org}])),
                                 "Error: user must be an admin of the organization or site-admin")

    def test_user_query_writing_a_field_nobody_may_write(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                account_id, user, _ = self.plain(env)
                promote = lambda: user.call("db.userQuery", [{"query": {"accounts": {"groups": ["admin"]}}}])  # noqa
                if label == "normal":
                    self.assertEqual(error_of(promote), "FATAL: changing accounts.groups not allowed")
                    expected: Any = None
                else:
                    self.assertEqual(promote(), {})  # the hole: an ordinary account makes itself a site admin
                    expected = ["admin"]
                row = env.store.one("SELECT groups FROM accounts WHERE account_id=:a::UUID", a=account_id)
                self.assertEqual(row["groups"], expected)
                # reading a field nobody may read is another check, still in force
                self.assertEqual(error_of(lambda: user.call("db.userQuery", [{"query": {"accounts": {"password_hash": None}}}])),
                                 "FATAL: user get query not allowed for accounts.password_hash")

    def test_project_bridge_for_a_stranger(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                project_id = self.admin(env).call("projects.createProject", [{"title": unique("bridge")}])
                other_id = self.admin(env).call("projects.createProject", [{"title": unique("other")}])
                _, _, stranger_key = self.plain(env)
                ping = self.client(env, stranger_key, project_id).call
                if label == "normal":
                    self.assertEqual(error_of(lambda: ping("system.ping")), "user must be a collaborator on the project")
                else:
                    self.assertIn("now", ping("system.ping"))
                scoped = create_api_key(env.store, env.admin_account_id, project_id=project_id)
                self.assertEqual(error_of(lambda: self.client(env, scoped, other_id).call("system.ping")),
                                 "project specific api key must match requested project")

    def test_expired_key(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                account_id, _, _ = self.plain(env)
                key = create_api_key(env.store, account_id, expire=utcnow() - datetime.timedelta(minutes=1))
                test = lambda: self.client(env, key).call("system.test")  # noqa: E731
                if label == "normal":
                    self.assertEqual(error_of(test), MUST_SIGN_IN)
                    self.assertEqual(env.store.query("SELECT id FROM api_keys WHERE id=:i", i=decode62(key[-6:])), [])
                else:
                    self.assertEqual(test()["account_id"], account_id)
                # a key of a banned account is another check, still in force
                env.store.query("UPDATE accounts SET banned=true WHERE account_id=:a::UUID", a=account_id)
                fresh = create_api_key(env.store, account_id)
                self.assertEqual(error_of(lambda: self.client(env, fresh).call("system.test")), MUST_SIGN_IN)


class CoCalcRulesTest(EnvCase):
    """Rules read from CoCalc's code that the stand-in once had wrong or lacked (NORMAL stand-in)."""

    def test_site_admins_add_collaborators_to_any_project(self) -> None:
        # collab.ts asks the database's user_is_in_project_group, which counts site admins in
        _, owner, _ = self.plain(NORMAL)
        project_id = owner.call("projects.createProject", [{"title": unique("admin-adds")}])
        newcomer, _ = NORMAL.mint_key()
        answer = self.admin(NORMAL).call("projects.addCollaborator", [{"opts": {"project_id": project_id,
                                                                                "account_id": newcomer}}])
        self.assertEqual(answer, {"project_id": [project_id]})
        users = NORMAL.store.one("SELECT users FROM projects WHERE project_id=:p::UUID", p=project_id)["users"]
        self.assertEqual(users[newcomer], {"group": "collaborator"})
        self.assertNotIn(NORMAL.admin_account_id, users)
        stranger_id, stranger, _ = self.plain(NORMAL)
        self.assertEqual(
            error_of(lambda: stranger.call("projects.addCollaborator", [{"opts": {"project_id": project_id,
                                                                                   "account_id": newcomer}}])),
            f"Error: user {stranger_id} does not have write access to project {project_id}")

    def test_project_tables_of_user_queries(self) -> None:
        # listings, syncstrings, project_invite_tokens, public_paths: members read and write, others are refused
        owner_id, owner, _ = self.plain(NORMAL)
        project_id = owner.call("projects.createProject", [{"title": unique("tables")}])
        stranger_id, stranger, _ = self.plain(NORMAL)
        q = lambda who, query: who.call("db.userQuery", [{"query": query}])  # noqa: E731
        listing = {"listings": {"project_id": project_id, "path": "", "listing": None}}
        self.assertEqual(q(owner, listing), {})  # no row: CoCalc answers {}
        self.assertEqual(q(self.admin(NORMAL), listing), {})
        self.assertEqual(error_of(lambda: q(stranger, listing)), "FATAL: you do not have read access to this project -- "
                         f"account_id={stranger_id}, project_id_=undefined")
        syncstrings = {"syncstrings": [{"project_id": project_id, "path": None}]}
        self.assertEqual(q(owner, syncstrings), {"syncstrings": []})
        self.assertEqual(error_of(lambda: q(stranger, syncstrings)), "FATAL: user must be an admin")
        token = {"project_invite_tokens": {"project_id": project_id, "token": unique("tok")[-20:], "usage_limit": 1,
                                           "expires": "2100-01-01T00:00:00.000Z"}}
        self.assertEqual(error_of(lambda: q(stranger, token)), "FATAL: user must be an admin")
        self.assertEqual(q(owner, token), {})
        tokens = {"project_invite_tokens": [{"project_id": project_id, "token": None, "usage_limit": None}]}
        self.assertEqual(q(owner, tokens), {"project_invite_tokens": [
            {"project_id": project_id, "token": token["project_invite_tokens"]["token"], "usage_limit": 1}]})
        self.assertEqual(error_of(lambda: q(stranger, tokens)), "FATAL: you do not have read access to this project -- "
                         f"account_id={stranger_id}, project_id_=undefined")
        paths = {"public_paths": [{"project_id": project_id, "path": None}]}
        self.assertEqual(q(stranger, paths), {"public_paths": []})  # public_paths is anonymous: anybody reads them
        publish = {"public_paths": {"project_id": project_id, "path": "a.txt", "description": "x"}}
        self.assertEqual(error_of(lambda: q(stranger, publish)), "FATAL: user must be an admin")
        self.assertEqual(q(owner, publish), {})
        self.assertEqual(q(stranger, paths), {"public_paths": [{"project_id": project_id, "path": "a.txt"}]})
        NORMAL.store.query("DELETE FROM public_paths WHERE project_id=:p::UUID", p=project_id)
        NORMAL.store.query("DELETE FROM project_invite_tokens WHERE project_id=:p::UUID", p=project_id)


    def test_crm_accounts_is_an_admin_table(self) -> None:
        account_id, user, _ = self.plain(NORMAL)
        query = {"crm_accounts": [{"account_id": None, "groups": None}]}
        self.assertEqual(error_of(lambda: user.call("db.userQuery", [{"query": query}])), "FATAL: user must be an admin")
        self.assertEqual(error_of(lambda: user.call("db.userQuery", [{"query": {"crm_accounts": [{"password_hash": None}]}}])),
                         "FATAL: user get query not allowed for crm_accounts.password_hash")
        rows = self.admin(NORMAL).call("db.userQuery", [{"query": query}])["crm_accounts"]
        self.assertIn({"account_id": NORMAL.admin_account_id, "groups": ["admin"]}, rows)
        self.assertIn({"account_id": account_id}, rows)  # crm_accounts has no default for groups; nulls are left out
        notes = {"crm_accounts": {"account_id": account_id, "notes": "seen"}}
        self.assertEqual(error_of(lambda: user.call("db.userQuery", [{"query": notes}])), "FATAL: user must be an admin")
        self.assertEqual(self.admin(NORMAL).call("db.userQuery", [{"query": notes}]), {})
        self.assertEqual(NORMAL.store.one("SELECT notes FROM accounts WHERE account_id=:a::UUID", a=account_id)["notes"],
                         "seen")


# ------------------------------------------------------------------- sign-in and api-keys


class CoCalcHolesTest(EnvCase):
    """Each hole of CoCalc's is kept out of the stand-in by a check; breaking the check (HOLEY) plays the hole."""

    def both(self) -> List[Tuple[str, Any]]:
        return [("normal", NORMAL), ("holey", HOLEY)]

    def owned(self, env: Any, title: str) -> Tuple[str, Any, str]:
        """A new account's new project: ``(account_id, client, project_id)``."""
        account_id, owner, _ = self.plain(env)
        return account_id, owner, owner.call("projects.createProject", [{"title": unique(title)}])

    def shared_project(self, env: Any, title: str) -> Tuple[str, str, str, Any]:
        """A new account's new project with a new collaborator: ``(owner id, project id, collaborator id, its client)``."""
        owner_id, owner, project_id = self.owned(env, title)
        collaborator_id, collaborator, _ = self.plain(env)
        owner.call("projects.addCollaborator", [{"opts": {"project_id": project_id, "account_id": collaborator_id}}])
        return owner_id, project_id, collaborator_id, collaborator

    def users(self, env: Any, project_id: str) -> Dict[str, Any]:
        row = env.store.one("SELECT users FROM projects WHERE project_id=:p::UUID", p=project_id)
        return {a: u.get("group") for a, u in (row["users"] or {}).items()}

    def test_skip_permission_check_is_ignored(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                _, _, project_id = self.owned(env, "doomed")
                env.store.query("UPDATE projects SET site_license=CAST(:l AS JSONB) WHERE project_id=:p::UUID",
                                l='{"%s": {}}' % uuid.uuid4(), p=project_id)
                _, stranger, _ = self.plain(env)
                delete = lambda **extra: stranger.call("projects.deleteProject", [dict(extra, project_id=project_id)])  # noqa
                self.assertEqual(error_of(delete), "Error: must be an owner to delete a project")
                if label == "normal":
                    self.assertEqual(error_of(lambda: delete(skipPermissionCheck=True)),
                                     "Error: must be an owner to delete a project")
                    expected: Any = (False, 1)
                else:
                    self.assertIsNone(delete(skipPermissionCheck=True))  # CoCalc: the argument reaches delete.ts
                    expected = (True, 0)
                row = env.store.one("SELECT deleted, site_license FROM projects WHERE project_id=:p::UUID", p=project_id)
                self.assertEqual((bool(row["deleted"]), len(row["site_license"] or {})), expected)

    def test_a_project_id_option_does_not_make_an_account_act_for_the_project(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                _, owner, project_id = self.owned(env, "acted-for")
                other_id = owner.call("projects.createProject", [{"title": unique("other")}])
                stranger_id, stranger, _ = self.plain(env)
                title = unique("by-a-stranger")
                write = lambda pid, scope: stranger.call("db.userQuery", [{  # noqa: E731
                    "project_id": scope, "query": {"projects": {"project_id": pid, "title": title}}}])
                read = lambda: stranger.call("db.userQuery", [{  # noqa: E731
                    "project_id": project_id, "query": {"projects": {"project_id": project_id, "title": None}}}])
                self.assertEqual(error_of(lambda: write(project_id, None)), "FATAL: user must be an admin")
                if label == "normal":
                    self.assertEqual(error_of(lambda: write(project_id, project_id)), "FATAL: user must be an admin")
                    self.assertEqual(error_of(read), "FATAL: you do not have read access to this project -- "
                                     f"account_id={stranger_id}, project_id_=undefined")
                    self.assertNotEqual(self.title(env, project_id), title)
                else:
                    self.assertEqual(error_of(lambda: write(other_id, project_id)), "FATAL: can only query same project")
                    self.assertEqual(write(project_id, project_id), {})  # CoCalc: no membership check
                    self.assertEqual(self.title(env, project_id), title)
                    self.assertEqual(read(), {"projects": {"project_id": project_id, "title": title}})

    @staticmethod
    def title(env: Any, project_id: str) -> str:
        return env.store.one("SELECT title FROM projects WHERE project_id=:p::UUID", p=project_id)["title"]

    def test_a_user_query_changes_nobodys_group(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                owner_id, project_id, collaborator_id, collaborator = self.shared_project(env, "groups")
                newcomer_id, _ = env.mint_key()
                users = lambda changes: collaborator.call("db.userQuery", [{  # noqa: E731
                    "query": {"projects": {"project_id": project_id, "users": changes}}}])
                attempts = ({collaborator_id: {"group": "owner"}}, {owner_id: {"group": "collaborator"}},
                            {newcomer_id: {"group": "collaborator"}})
                if label == "normal":
                    for changes in attempts:
                        self.assertEqual(error_of(lambda: users(changes)), "FATAL: error setting 'users' -- Error: "
                                         "changing collaborator group via user_set_query is not allowed")
                    self.assertEqual(self.users(env, project_id), {owner_id: "owner", collaborator_id: "collaborator"})
                    self.assertEqual(users({collaborator_id: {"hide": True}}), {})  # one's own hide is allowed
                    self.assertEqual(error_of(lambda: users({collaborator_id: {"group": "x"}})), "FATAL: error setting "
                                     "'users' -- Error: changing collaborator group via user_set_query is not allowed")
                else:
                    for changes in attempts:
                        self.assertEqual(users(changes), {})
                    self.assertEqual(self.users(env, project_id), {owner_id: "collaborator", collaborator_id: "owner",
                                                                   newcomer_id: "collaborator"})
                    self.assertEqual(error_of(lambda: users({collaborator_id: {"group": "x"}})), "FATAL: error setting "
                                     "'users' -- Error: invalid group value 'x' - must be 'owner' or 'collaborator'")
                self.assertEqual(error_of(lambda: users({collaborator_id: {"color": 1}})),
                                 "FATAL: error setting 'users' -- Error: unknown field 'color'")

    def test_inviting_an_owner_leaves_them_owner(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                owner_id, project_id, collaborator_id, collaborator = self.shared_project(env, "invite")
                answer = collaborator.call("projects.inviteCollaborator", [{"opts": {"project_id": project_id,
                                                                                     "account_id": owner_id}}])
                self.assertIsNone(answer)
                self.assertEqual(self.users(env, project_id)[owner_id], "owner" if label == "normal" else "collaborator")

    def test_an_org_admin_removes_members_of_its_own_org_only(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                orgs = [unique("org-a"), unique("org-b")]
                for org in orgs:
                    self.admin(env).call("org.create", [{"name": org}])
                admin_id = self.admin(env).call("org.createUser", [{"name": orgs[0], "email": f"{unique('a')}@x.local"}])
                self.admin(env).call("org.addAdmin", [{"name": orgs[0], "user": admin_id}])
                victim = self.admin(env).call("org.createUser", [{"name": orgs[1], "email": f"{unique('v')}@x.local"}])
                org_admin = self.client(env, create_api_key(env.store, admin_id))
                remove = lambda: org_admin.call("org.removeUser", [{"name": orgs[0], "user": victim}])  # noqa: E731
                org_of = lambda: env.store.one("SELECT org FROM accounts WHERE account_id=:a::UUID", a=victim)["org"]  # noqa
                if label == "normal":
                    self.assertEqual(error_of(remove), "Error: user must be an admin of the organization or site-admin")
                    self.assertEqual(org_of(), orgs[1])
                    self.assertIsNone(self.admin(env).call("org.removeUser", [{"name": orgs[0], "user": victim}]))
                else:
                    self.assertIsNone(remove())  # CoCalc never checks the member's organization
                self.assertIsNone(org_of())

    def test_messages_are_from_the_caller_and_listed_for_their_people(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                sender_id, sender, _ = self.plain(env)
                victim_id, victim, _ = self.plain(env)
                reader_id, reader, _ = self.plain(env)
                subject = unique("forged")
                message_id = sender.call("messages.send", [{"subject": subject, "body": "b", "to_ids": [reader_id],
                                                            "from_id": victim_id}])
                row = env.store.one("SELECT from_id FROM messages WHERE id=:i", i=message_id)
                self.assertEqual(row["from_id"], sender_id if label == "normal" else victim_id)
                subjects = lambda client, kind: [m["subject"] for m in client.call("messages.get", [{"type": kind}])]  # noqa
                self.assertIn(subject, subjects(reader, "received"))
                if label == "normal":
                    self.assertNotIn(subject, subjects(victim, "received"))
                    self.assertNotIn(subject, subjects(victim, "sent"))
                else:
                    self.assertIn(subject, subjects(victim, "received"))  # others' messages listed too

    def test_an_invite_token_adds_the_account_presenting_it_only(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                _, owner, project_id = self.owned(env, "token")
                token = uuid.uuid4().hex
                owner.call("db.userQuery", [{"query": {"project_invite_tokens": {"project_id": project_id, "token": token,
                                                                                 "usage_limit": 1}}}])
                stranger_id, stranger, _ = self.plain(env)
                other_id, _, _ = self.plain(env)
                join = lambda accounts: stranger.call("projects.addCollaborator", [{"opts": {  # noqa: E731
                    "token_id": [token] * len(accounts), "account_id": accounts}}])
                if label == "normal":
                    self.assertEqual(error_of(lambda: join([stranger_id, other_id])),
                                     "Error: a project invite token adds only the account that presents it")
                    self.assertEqual(join([stranger_id]), {"project_id": [project_id]})
                    uses = 1.0
                else:  # CoCalc adds anybody, and checks every use of the token before counting any
                    self.assertEqual(join([stranger_id, other_id]), {"project_id": [project_id, project_id]})
                    uses = 2.0
                row = env.store.one("SELECT counter FROM project_invite_tokens WHERE token=:t", t=token)
                self.assertEqual(row["counter"], uses)
                self.assertEqual(other_id in self.users(env, project_id), label == "holey")
                self.assertEqual(error_of(lambda: join([stranger_id])),
                                 "Error: Project invite token is not valid - the token can only be used 1 times")

    def test_a_saved_output_is_for_the_members_of_its_project(self) -> None:
        from cocalc_standin.api_jupyter import compute_hash

        for label, env in self.both():
            with self.subTest(env=label):
                owner_id, owner, project_id = self.owned(env, "saved")
                code = f"print({unique('saved')!r})"
                digest = compute_hash(None, code, "python3", project_id, None)
                env.store.query("INSERT INTO jupyter_api_log(created, account_id, project_id, hash, kernel, input) "
                                "VALUES(NOW(), :a::UUID, :p::UUID, :h, 'python3', :i)", a=owner_id, p=project_id,
                                h=digest, i=code)
                env.store.query("INSERT INTO jupyter_api_cache(created, hash, output, last_active) "
                                "VALUES(NOW(), :h, ARRAY['{\"text\": \"saved\"}'::JSONB], NOW())", h=digest)
                _, stranger, _ = self.plain(env)
                asks = ([{"hash": digest}], [{"project_id": project_id, "input": code, "kernel": "python3"}])
                self.assertEqual(owner.call("jupyter.execute", asks[0])["output"], [{"text": "saved"}])
                for args in asks:
                    if label == "normal":
                        self.assertEqual(error_of(lambda: stranger.call("jupyter.execute", args)),
                                         "Error: permission denied -- user must be collaborator on project")
                    else:  # CoCalc answers from its cache before, or (a bare hash) without, its membership check
                        self.assertEqual(stranger.call("jupyter.execute", args)["output"], [{"text": "saved"}])

    def test_where_owners_alone_manage_collaborators_they_alone_make_invite_tokens(self) -> None:
        for label, env in self.both():
            with self.subTest(env=label):
                _, project_id, _, collaborator = self.shared_project(env, "owner-only")
                restrict = lambda value: collaborator.call("db.userQuery", [{"query": {"projects": {  # noqa: E731
                    "project_id": project_id, "manage_users_owner_only": value}}}])
                self.assertEqual(error_of(lambda: restrict(True)),
                                 "Error: Only project owners can change collaborator management settings")
                env.store.query("UPDATE projects SET manage_users_owner_only=TRUE WHERE project_id=:p::UUID", p=project_id)
                token = uuid.uuid4().hex
                make = lambda: collaborator.call("db.userQuery", [{"query": {"project_invite_tokens": {  # noqa: E731
                    "project_id": project_id, "token": token}}}])
                if label == "normal":
                    self.assertEqual(error_of(make), "FATAL: only owners make invite tokens when only owners manage "
                                     "collaborators")
                else:  # CoCalc's table lets any member write them; only its UI keeps them from collaborators
                    self.assertEqual(make(), {})
                row = env.store.one("SELECT COUNT(*) AS n FROM project_invite_tokens WHERE token=:t", t=token)
                self.assertEqual(row["n"], 0 if label == "normal" else 1)


class SignInTest(EnvCase):
    """An ordinary account, its sign-in cookie and its own key, through the API alone (NORMAL stand-in)."""

    def setUp(self) -> None:
        self.host = NORMAL.environ["COCALC_HOST"]
        self.org = unique("signin")
        admin = self.admin(NORMAL)
        admin.call("org.create", [{"name": self.org}])
        self.user = admin.call("org.createUser", [{"name": self.org, "email": f"{unique('u')}@x.local",
                                                   "firstName": "Ordinary", "lastName": "User"}])
        self.token = admin.call("system.generateUserAuthToken", [{"user_account_id": self.user}])

    def sign_in(self, token: Optional[str] = None, **query: str) -> Tuple[requests.Session, requests.Response]:
        session = requests.Session()
        self.addCleanup(session.close)
        answer = session.get(f"{self.host}/auth/impersonate", params=dict(query, auth_token=self.token if token is None else token),
                             timeout=30)
        return session, answer

    def keys(self, session: requests.Session, **body: Any) -> Any:
        answer = session.post(f"{self.host}/api/v2/api-keys", json=body, timeout=30)
        self.assertEqual(answer.status_code, 200)
        self.assertTrue(answer.headers["Content-Type"].startswith("application/json"))
        return answer.json()

    def test_the_link_signs_in_with_cocalcs_cookies_and_row(self) -> None:
        before = utcnow()
        session, answer = self.sign_in()
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn('window.location.href = "https:/app";', answer.text)
        self.assertIn('You should be redirected to <a href="https:/app">https:/app</a>.', answer.text)
        cookies = answer.raw.headers.getlist("Set-Cookie")
        self.assertEqual(len(cookies), 2, cookies)
        self.assertRegex(cookies[0], rf"^account_id={self.user}; path=/; expires=\w{{3}}, \d\d \w{{3}} \d{{4}} "
                                     r"\d\d:\d\d:\d\d GMT$")
        self.assertRegex(cookies[1], r"^remember_me=sha512\$[A-Za-z0-9]{32}\$1000\$[0-9a-f-]{36}; path=/; expires=.* GMT; "
                                     r"samesite=strict; httponly$")
        value = session.cookies["remember_me"]
        rows = NORMAL.store.query("SELECT hash, expire, value FROM remember_me WHERE account_id=:a::UUID", a=self.user)
        self.assertEqual(len(rows), 1)
        algorithm, salt, iterations, _ = value.split("$")
        self.assertEqual(len(rows[0]["hash"]), 127)
        self.assertTrue(rows[0]["hash"].startswith(f"{algorithm}${salt}${iterations}$"))
        self.assertNotIn(value.split("$")[3], rows[0]["hash"])
        self.assertIsNone(rows[0]["value"])
        life = (rows[0]["expire"] - before).total_seconds()
        self.assertAlmostEqual(life, 12 * 3600, delta=60)
        # the token is not used up; a locale is passed on
        _, again = self.sign_in(lang_temp="de")
        self.assertIn('window.location.href = "https:/app?lang_temp=de";', again.text)
        _, unknown_locale = self.sign_in(lang_temp="xx")
        self.assertIn('window.location.href = "https:/app";', unknown_locale.text)

    def test_the_cookie_makes_an_account_wide_key_of_the_ordinary_account(self) -> None:
        session, _ = self.sign_in()
        made = self.keys(session, action="create", name="made with a cookie")
        self.assertEqual(list(made), ["response"])
        [key] = made["response"]
        self.assertEqual(list(key), ["id", "account_id", "expire", "created", "name", "last_active", "trunc", "secret"])
        self.assertEqual((key["account_id"], key["name"], key["expire"], key["last_active"]),
                         (self.user, "made with a cookie", None, None))
        self.assertEqual(key["trunc"], key["secret"][:3] + "..." + key["secret"][-6:])
        user = self.client(NORMAL, key["secret"])
        self.assertEqual(user.call("system.test")["account_id"], self.user)
        self.assertEqual(error_of(lambda: user.call("projects.setQuotas", [{"project_id": str(uuid.uuid4())}])),
                         "Error: Must be an admin to do admin search.", "an ordinary account, no admin")
        self.assertIsNone(NORMAL.store.one("SELECT project_id FROM api_keys WHERE id=:i", i=key["id"])["project_id"])
        # listed without its secret; renamed; deleted, after which it signs nobody in
        listed = self.keys(session, action="get")["response"]
        self.assertEqual([(k["id"], k["name"]) for k in listed], [(key["id"], "made with a cookie")])
        self.assertNotIn("secret", listed[0])
        self.assertEqual(self.keys(session, action="edit", id=key["id"], name="renamed"), {})
        self.assertEqual(self.keys(session, action="get", id=key["id"])["response"][0]["name"], "renamed")
        self.assertEqual(self.keys(session, action="edit", id=2147483000, name="x"), {"error": "no api key with id 2147483000"})
        self.assertEqual(self.keys(session, action="delete", id=key["id"]), {})
        self.assertEqual(self.keys(session, action="get"), {"response": []})
        self.assertEqual(error_of(lambda: user.call("system.test")), MUST_SIGN_IN)

    def test_project_keys_and_expiry_through_the_cookie(self) -> None:
        session, _ = self.sign_in()
        [project_id] = [r["project_id"] for r in NORMAL.store.query(
            "SELECT project_id FROM projects WHERE users ? :a::TEXT", a=self.user)]
        expire = (utcnow() + datetime.timedelta(days=2)).replace(microsecond=0)
        [key] = self.keys(session, action="create", name="scoped", project_id=project_id,
                          expire=expire.isoformat() + "Z")["response"]
        self.assertEqual(key["expire"], expire.isoformat() + ".000Z")
        self.assertEqual(self.client(NORMAL, key["secret"], project_id).call("system.test")["project_id"], project_id)
        self.assertEqual(error_of(lambda: self.client(NORMAL, key["secret"]).call("system.test")), MUST_SIGN_IN)
        stranger = self.admin(NORMAL).call("projects.createProject", [{"title": unique("not-theirs")}])
        self.assertEqual(self.keys(session, action="get", project_id=stranger),
                         {"error": "user must be collaborator on project to manage project_id api keys"})

    def test_the_hub_refuses_the_cookie(self) -> None:
        session, _ = self.sign_in()
        answer = session.post(f"{self.host}/api/conat/hub", json={"name": "system.test", "args": []}, timeout=30)
        self.assertEqual(answer.json(), {"error": NO_KEY})
        answer = session.post(f"{self.host}/api/conat/hub", json={"name": "system.test", "args": []},
                              auth=("sk-nonsense000000000000001", ""), timeout=30)
        self.assertEqual(answer.json(), {"error": MUST_SIGN_IN})
        answer = session.post(f"{self.host}/api/conat/project", json={"name": "system.ping", "args": []}, timeout=30)
        self.assertEqual(answer.json(), {"error": NO_KEY})

    def test_refusals_of_the_api_keys_route(self) -> None:
        url = f"{self.host}/api/v2/api-keys"
        no_cookie = requests.post(url, json={"action": "get"}, timeout=30).json()
        self.assertEqual(no_cookie, {"error": "must be signed in"})
        bad = requests.post(url, json={"action": "get"}, cookies={"remember_me": "abc"}, timeout=30).json()
        self.assertEqual(bad, {"error": "badly formatted remember_me cookie"})
        unknown = requests.post(url, json={"action": "get"}, timeout=30,
                                cookies={"remember_me": f"sha512$abc$1000${uuid.uuid4()}"}).json()
        self.assertEqual(unknown, {"error": "must be signed in"})
        too_many = requests.post(url, json={"action": "get"}, cookies={"remember_me": "sha512$abc$20000$x"},
                                 timeout=30).json()
        self.assertEqual(too_many, {"error": "number of iterations invalid or too large"})
        # an API key works where no cookie is sent; a project key passes its project on as the account
        by_key = requests.post(url, json={"action": "get"}, auth=(NORMAL.admin_key, ""), timeout=30).json()
        self.assertIn("response", by_key)
        project_id = self.admin(NORMAL).call("projects.createProject", [{"title": unique("pk")}])
        scoped = create_api_key(NORMAL.store, NORMAL.admin_account_id, project_id=project_id)
        self.assertEqual(requests.post(url, json={"action": "get"}, auth=(scoped, ""), timeout=30).json(),
                         {"error": "account_id is not a valid account"})
        # an expired cookie signs nobody in; GET reads no parameters
        session, _ = self.sign_in()
        self.assertEqual(session.get(url, timeout=30).json(), {})
        NORMAL.store.query("UPDATE remember_me SET expire=NOW() - interval '1 minute' WHERE account_id=:a::UUID",
                           a=self.user)
        self.assertEqual(self.keys(session, action="get"), {"error": "must be signed in"})

    def test_unknown_expired_and_banned(self) -> None:
        _, empty = self.sign_in(token="")
        self.assertEqual(empty.text, "ERROR: impersonate error -- Error: invalid empty token")
        _, unknown = self.sign_in(token="nope")
        self.assertEqual(unknown.text, "ERROR: impersonate error -- Error: unknown or expired token: 'nope'")
        self.assertNotIn("Set-Cookie", unknown.headers)
        NORMAL.store.query("UPDATE accounts SET banned=true WHERE account_id=:a::UUID", a=self.user)
        _, banned = self.sign_in()
        self.assertEqual(banned.text, "ERROR: impersonate error -- Error: user is banned")
        self.assertEqual(banned.raw.headers.getlist("Set-Cookie")[0].split(";")[0], f"account_id={self.user}")
        self.assertEqual(NORMAL.store.query("SELECT hash FROM remember_me WHERE account_id=:a::UUID", a=self.user), [])
        NORMAL.store.query("UPDATE auth_tokens SET expire=NOW() - interval '1 minute' WHERE auth_token=:t", t=self.token)
        _, expired = self.sign_in()
        self.assertEqual(expired.text, f"ERROR: impersonate error -- Error: unknown or expired token: '{self.token}'")


# ------------------------------------------------------------------------------ caches


def answer_or_error(call: Callable[[], Any]) -> Tuple[bool, str]:
    """``(True, "")`` when *call* succeeds, else ``(False, its error)``."""
    try:
        call()
    except CoCalcAPIError as err:
        return False, err.message
    return True, ""


class CacheTest(EnvCase):
    """CoCalc's cached reads: stale for the profile's time in ``real`` (REAL), never in ``fast`` (NORMAL)."""

    LONG = 30 * SCALE
    #: Seconds a window may overrun on a loaded machine (the calls that look take their time too).
    OVERRUN = 8.0
    MEDIUM = 15 * SCALE

    def flips_after(self, call: Callable[[], Any], change: Callable[[], None], now_ok: bool) -> float:
        """Seconds after the read that cached the old answer until *call* gives the new one (``now_ok``)."""
        cached_at = time.monotonic()
        self.assertEqual(answer_or_error(call)[0], not now_ok, "before the change")
        change()
        deadline = cached_at + 10 * self.LONG + 5
        while time.monotonic() < deadline:
            if answer_or_error(call)[0] == now_ok:
                return time.monotonic() - cached_at
            time.sleep(0.02)
        raise AssertionError("the change never showed")

    def test_membership_takes_the_long_cache_time_in_real_and_none_in_fast(self) -> None:
        for label, env, window in (("real", REAL, self.LONG), ("fast", NORMAL, 0.0)):
            with self.subTest(env=label):
                admin = self.admin(env)
                project_id = admin.call("projects.createProject", [{"title": unique("cache")}])
                account_id, user, _ = self.plain(env)
                state = lambda: user.call("projects.state", [{"project_id": project_id}])  # noqa: E731
                added = self.flips_after(state, lambda: admin.call("projects.addCollaborator", [
                    {"opts": {"project_id": project_id, "account_id": account_id}}]), now_ok=True)
                removed = self.flips_after(state, lambda: admin.call("projects.removeCollaborator", [
                    {"opts": {"project_id": project_id, "account_id": account_id}}]), now_ok=False)
                for took in (added, removed):
                    self.assertGreaterEqual(took, window)
                    self.assertLess(took, window + self.OVERRUN)

    def test_admin_groups_take_the_long_cache_time(self) -> None:
        for label, env, window in (("real", REAL, self.LONG), ("fast", NORMAL, 0.0)):
            with self.subTest(env=label):
                account_id, user, _ = self.plain(env)
                create = lambda: user.call("projects.createProject", [{"project_id": str(uuid.uuid4())}])  # noqa: E731
                took = self.flips_after(create, lambda: env.store.query(
                    "UPDATE accounts SET groups='{admin}' WHERE account_id=:a::UUID", a=account_id), now_ok=True)
                self.assertGreaterEqual(took, window)
                self.assertLess(took, window + self.OVERRUN)

    def test_a_deleted_key_works_for_the_medium_cache_time(self) -> None:
        for label, env, window in (("real", REAL, self.MEDIUM), ("fast", NORMAL, 0.0)):
            with self.subTest(env=label):
                account_id, key = env.mint_key()
                client = self.client(env, key)
                cached_at = time.monotonic()  # this first use caches the key's row
                self.assertEqual(client.call("system.test")["account_id"], account_id)
                env.store.query("DELETE FROM api_keys WHERE id=:i", i=decode62(key[-6:]))
                while True:
                    ok, error = answer_or_error(lambda: client.call("system.test"))
                    if not ok:
                        break
                    self.assertLess(time.monotonic() - cached_at, window + self.OVERRUN, "the deleted key kept working")
                    time.sleep(0.02)
                took = time.monotonic() - cached_at
                self.assertEqual(error, MUST_SIGN_IN)
                self.assertGreaterEqual(took, window)

    def test_the_profiles_lifetimes(self) -> None:
        self.assertEqual(REAL.server.app.caches.lifetimes,
                         {"long": 30 * SCALE, "medium": 15 * SCALE, "query": 5 * SCALE, "banned-yes": 600 * SCALE,
                          "banned-no": 60 * SCALE})
        self.assertEqual(set(NORMAL.server.app.caches.lifetimes.values()), {0.0})


if __name__ == "__main__":
    unittest.main()

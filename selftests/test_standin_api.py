"""The stand-in's hub and project bridges, tested through the real client over loopback HTTP.

One stand-in environment (PostgreSQL database, server, projects) serves the
whole module; the tests skip when PostgreSQL can be neither found nor started.
They check the semantics that are easy to get subtly wrong: who may do what,
CoCalc's exact error texts, key and token handling, and the shapes of answers.
"""
import datetime
import os
import time
import unittest
import uuid
from typing import Any

import requests

from cocalc_api_tests.client import Hub
from cocalc_standin.api_auth import create_api_key, decode62, encode62, password_hash, verify_password
from cocalc_standin.store import utcnow
from cocalc_standin.launch import leaked_rows, snapshot

from helpers import MUST_SIGN_IN, error_of, start_standin, unique

ENV: Any = None


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


def hub_for(key: str) -> Hub:
    return Hub(key, ENV.environ["COCALC_HOST"])


class StandinTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.admin = hub_for(ENV.admin_key)
        self.addCleanup(self.admin.close)

    def plain_user(self) -> Hub:
        """A new non-admin account's client."""
        _, key = ENV.mint_key(admin=False)
        client = hub_for(key)
        self.addCleanup(client.close)
        return client

    def key_for(self, account_id: str, project_id: Any = None, expire: Any = None) -> str:
        return create_api_key(ENV.store, account_id, project_id=project_id, expire=expire)

    def sql(self, query: str, **params: Any) -> list:
        return ENV.store.query(query, **params)


class KeysAndAuthTest(StandinTestCase):
    def test_unknown_key_gets_cocalcs_message_on_the_hub(self) -> None:
        self.assertEqual(error_of(hub_for("sk-nonsense000000000000001").system.ping), MUST_SIGN_IN)

    def test_project_bridge_refuses_unknown_keys_with_its_own_message(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("auth"))
        bad = hub_for("sk-nonsense000000000000001").project(project_id)
        self.assertEqual(error_of(bad.system.ping), "must sign in as project or account")

    def test_missing_authorization_header(self) -> None:
        answer = requests.post(ENV.environ["COCALC_HOST"] + "/api/conat/hub", json={"name": "system.ping", "args": []})
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.json(), {"error": "You must provide authentication via an API key."})

    def test_bearer_token_is_accepted_like_basic_auth(self) -> None:
        answer = requests.post(
            ENV.environ["COCALC_HOST"] + "/api/conat/hub",
            json={"name": "system.test", "args": []},
            headers={"Authorization": f"Bearer {ENV.admin_key}"},
        )
        self.assertEqual(answer.json()["account_id"], ENV.admin_account_id)

    def test_key_is_stored_hashed_with_truncated_form(self) -> None:
        account_id, key = ENV.mint_key()
        row = self.sql("SELECT hash, trunc, project_id FROM api_keys WHERE account_id=:a::UUID", a=account_id)[0]
        self.assertEqual(row["trunc"], key[:3] + "..." + key[-6:])
        self.assertTrue(row["hash"].startswith("sha512$") and key not in row["hash"])
        self.assertIsNone(row["project_id"])

    def test_expired_key_is_refused_and_deleted(self) -> None:
        account_id, _ = ENV.mint_key()
        past = utcnow() - datetime.timedelta(minutes=1)
        key = self.key_for(account_id, expire=past)
        self.assertEqual(error_of(hub_for(key).system.test), MUST_SIGN_IN)
        self.assertEqual(self.sql("SELECT id FROM api_keys WHERE id=:i", i=decode62(key[-6:])), [])

    def test_project_key_works_only_on_the_project_bridge_for_its_project(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("scoped"))
        other_id = self.admin.projects.create_project(title=unique("other"))
        key = self.key_for(ENV.admin_account_id, project_id=project_id)
        self.assertEqual(error_of(hub_for(key).system.test), MUST_SIGN_IN)
        self.assertEqual(hub_for(key).project(project_id).system.test()["project_id"], project_id)
        self.assertEqual(
            error_of(hub_for(key).project(other_id).system.ping),
            "project specific api key must match requested project",
        )
        answer = requests.post(
            ENV.environ["COCALC_HOST"] + "/api/conat/project", json={"name": "system.test", "args": []}, auth=(key, "")
        )
        self.assertEqual(answer.json()["project_id"], project_id)

    def test_project_key_dies_when_its_creator_leaves_the_project(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("leave"))
        account_id, _ = ENV.mint_key()
        self.admin.projects.add_collaborator(project_id, account_id)
        key = self.key_for(account_id, project_id=project_id)
        self.assertEqual(hub_for(key).project(project_id).system.test()["project_id"], project_id)
        self.admin.projects.remove_collaborator(project_id, account_id)
        self.assertEqual(error_of(hub_for(key).project(project_id).system.test), "must sign in as project or account")

    def test_password_hash_format_and_base62(self) -> None:
        hashed = password_hash("secret")
        self.assertRegex(hashed, r"^sha512\$[A-Za-z0-9]{32}\$1000\$[0-9a-f]{128}$")
        self.assertEqual(len(hashed), 173)
        self.assertTrue(verify_password("secret", hashed))
        self.assertFalse(verify_password("Secret", hashed))
        self.assertEqual(encode62(61), "00000z")
        self.assertEqual(decode62(encode62(2147483647)), 2147483647)


class TokensTest(StandinTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.org = unique("tok")
        self.admin.org.create(self.org)
        self.user = self.admin.org.create_user(self.org, f"{unique('t')}@test.local")

    def test_token_is_stored_but_is_not_an_api_key(self) -> None:
        answer = self.admin.org.create_token(self.user)
        self.assertEqual(answer["url"], f"https:/auth/impersonate?auth_token={answer['token']}")
        self.assertRegex(answer["token"], r"^[A-Za-z0-9]{24}$")
        rows = self.sql("SELECT account_id, created_by, is_admin, expire FROM auth_tokens WHERE auth_token=:t", t=answer["token"])
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["account_id"], rows[0]["created_by"], rows[0]["is_admin"]), (self.user, ENV.admin_account_id, True))
        self.assertGreater(rows[0]["expire"], utcnow() + datetime.timedelta(hours=23))
        self.assertEqual(error_of(hub_for(answer["token"]).system.test), MUST_SIGN_IN)

    def test_expire_token_deletes_it(self) -> None:
        token = self.admin.org.create_token(self.user)["token"]
        self.assertIsNone(self.admin.org.expire_token(token))
        self.assertEqual(self.sql("SELECT auth_token FROM auth_tokens WHERE auth_token=:t", t=token), [])
        self.assertEqual(error_of(hub_for(token).system.test), MUST_SIGN_IN)

    def test_token_for_a_user_outside_any_org(self) -> None:
        account_id, _ = ENV.mint_key()
        self.assertEqual(error_of(lambda: self.admin.org.create_token(account_id)), "Error: user is not in an org")


class OrganizationPermissionsTest(StandinTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.org = unique("perm")
        self.admin.org.create(self.org)
        self.plain = self.plain_user()

    def test_plain_user_is_refused_everywhere_with_cocalcs_texts(self) -> None:
        not_allowed = "Error: user must be an admin of the organization or site-admin"
        member = self.admin.org.create_user(self.org, f"{unique('m')}@test.local")
        cases = {
            "getAll": (self.plain.org.get_all, "Error: must be a site admin"),
            "create": (lambda: self.plain.org.create(unique("x")), "Error: only admins may create organizations"),
            "get": (lambda: self.plain.org.get(self.org), not_allowed),
            "set": (lambda: self.plain.org.set(self.org, title="t"), not_allowed),
            "getUsers": (lambda: self.plain.org.get_users(self.org), not_allowed),
            "createUser": (lambda: self.plain.org.create_user(self.org, f"{unique('n')}@test.local"), not_allowed),
            "removeUser": (lambda: self.plain.org.remove_user(self.org, member), not_allowed),
            "removeAdmin": (lambda: self.plain.org.remove_admin(self.org, member), not_allowed),
            "message": (lambda: self.plain.org.message(self.org, "s", "b"), not_allowed),
            "createToken": (lambda: self.plain.org.create_token(member), not_allowed),
            "addUser": (lambda: self.plain.org.add_user(self.org, member),
                        "Error: only site admins can add/move a user to an org right now"),
            "addAdmin": (lambda: self.plain.org.add_admin(self.org, member),
                         "Error: only site admins can make a user an organization admin right now"),
        }
        for call, (run, expected) in cases.items():
            with self.subTest(call=call):
                self.assertEqual(error_of(run), expected)

    def test_org_admin_manages_own_org_but_not_site_things(self) -> None:
        account_id = self.admin.org.create_user(self.org, f"{unique('a')}@test.local")
        self.admin.org.add_admin(self.org, account_id)
        org_admin = hub_for(self.key_for(account_id))
        self.assertEqual(org_admin.org.get(self.org)["admin_account_ids"], [account_id])
        new_user = org_admin.org.create_user(self.org, f"{unique('b')}@test.local")
        self.assertIn(new_user, [u["account_id"] for u in org_admin.org.get_users(self.org)])
        token = org_admin.org.create_token(new_user)
        self.assertFalse(self.sql("SELECT is_admin FROM auth_tokens WHERE auth_token=:t", t=token["token"])[0]["is_admin"])
        self.assertEqual(error_of(org_admin.org.get_all), "Error: must be a site admin")
        self.assertEqual(error_of(lambda: org_admin.org.create(unique("y"))), "Error: only admins may create organizations")
        other = unique("other")
        self.admin.org.create(other)
        self.assertEqual(
            error_of(lambda: org_admin.org.get(other)),
            "Error: user must be an admin of the organization or site-admin",
        )

    def test_org_error_texts(self) -> None:
        self.assertEqual(
            error_of(lambda: self.admin.org.create(self.org)),
            f"Error: name {self.org} is already used by some account or organization",
        )
        self.assertEqual(error_of(lambda: self.admin.org.get("no-such-org-x")), "Error: no org named 'no-such-org-x'")
        other = unique("other")
        self.admin.org.create(other)
        outsider = self.admin.org.create_user(other, f"{unique('o')}@test.local")
        self.assertEqual(
            error_of(lambda: self.admin.org.add_admin(self.org, outsider)),
            f"Error: User '{outsider}' is already member of another organization",
        )
        admin_user = self.admin.org.create_user(self.org, f"{unique('p')}@test.local")
        self.admin.org.add_admin(self.org, admin_user)
        self.assertEqual(
            error_of(lambda: self.admin.org.remove_user(self.org, admin_user)),
            "Error: admin cannot be removed from org; first remove them from being an admin",
        )
        self.assertEqual(error_of(lambda: self.admin.org.add_admin(self.org, "nobody@x.y")), "Error: no such account 'nobody@x.y'")
        self.assertEqual(
            error_of(lambda: self.admin.org.remove_user(self.org, "nobody@x.y")), "Error: cannot find user 'nobody@x.y'"
        )

    def test_add_user_moves_between_orgs_and_users_are_found_by_email(self) -> None:
        other = unique("move")
        self.admin.org.create(other)
        email = f"{unique('mv')}@test.local"
        account_id = self.admin.org.create_user(other, email)
        self.admin.org.add_user(self.org, email)
        self.assertEqual([u["account_id"] for u in self.admin.org.get_users(self.org)], [account_id])
        self.assertEqual(self.admin.org.get_users(other), [])

    def test_org_set_with_nothing_to_set_fails_like_cocalc(self) -> None:
        self.assertEqual(error_of(lambda: self.admin.org.set(self.org)), 'error: syntax error at or near "WHERE"')


class AccountsTest(StandinTestCase):
    def test_create_user_also_creates_first_project_owned_by_it(self) -> None:
        org = unique("first")
        self.admin.org.create(org)
        account_id = self.admin.org.create_user(org, f"{unique('f')}@test.local", firstName="F", lastName="L")
        rows = self.sql(
            "SELECT title, users, deleted FROM projects WHERE users ? :a::TEXT", a=account_id
        )
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["title"], "My First Project")
        self.assertEqual(rows[0]["users"], {account_id: {"group": "owner"}})
        account = self.sql("SELECT org, owner_id, password_hash, creation_actions_done FROM accounts WHERE account_id=:a::UUID", a=account_id)[0]
        self.assertEqual((account["org"], account["owner_id"], account["creation_actions_done"]), (org, ENV.admin_account_id, True))
        self.assertTrue(account["password_hash"].startswith("sha512$"))

    def test_duplicate_email_is_a_database_error(self) -> None:
        org = unique("dup")
        self.admin.org.create(org)
        email = f"{unique('d')}@test.local"
        self.admin.org.create_user(org, email)
        self.assertEqual(
            error_of(lambda: self.admin.org.create_user(org, email)),
            'error: duplicate key value violates unique constraint "accounts_email_address_key"',
        )

    def test_user_search_shows_email_only_for_exact_email_search(self) -> None:
        org = unique("search")
        self.admin.org.create(org)
        first = unique("Zq").replace("-", "")
        email = f"{unique('s')}@test.local"
        account_id = self.admin.org.create_user(org, email, firstName=first, lastName="Searchable")
        by_email = self.admin.system.user_search(email)
        self.assertEqual([u["account_id"] for u in by_email], [account_id])
        self.assertEqual(by_email[0]["email_address"], email)
        self.assertIsInstance(by_email[0]["created"], int)
        by_name = self.admin.system.user_search(first.lower())
        self.assertEqual([u["account_id"] for u in by_name], [account_id])
        self.assertNotIn("email_address", by_name[0])
        self.assertEqual(self.admin.system.user_search(unique("nothing")), [])

    def test_get_names_marks_unknown_accounts_deleted(self) -> None:
        missing = str(uuid.uuid4())
        names = self.admin.system.get_names([ENV.admin_account_id, missing])
        self.assertEqual(names[missing], {"first_name": "Deleted", "last_name": "User"})
        self.assertIn("profile", names[ENV.admin_account_id])


class UserQueryTest(StandinTestCase):
    def test_many_row_answers_omit_nulls(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("uq"))
        rows = self.admin.projects.get(fields=["project_id", "title", "description", "deleted", "name"], project_id=project_id)
        self.assertEqual(rows, [{"project_id": project_id, "title": rows[0]["title"], "description": ""}])

    def test_one_row_answers_fill_defaults_and_keep_other_nulls(self) -> None:
        account_id, key = ENV.mint_key()
        self.sql("UPDATE accounts SET last_name=NULL WHERE account_id=:a::UUID", a=account_id)
        answer = hub_for(key).db.query({"accounts": {"first_name": None, "last_name": None, "name": None, "groups": None}})
        self.assertEqual(answer, {"accounts": {"first_name": "Stand-in", "last_name": "", "name": None, "groups": []}})

    def test_projects_is_recent_and_projects_all_includes_deleted(self) -> None:
        plain = self.plain_user()
        fresh = plain.projects.create_project(title="fresh")
        old = plain.projects.create_project(title="old")
        self.sql("UPDATE projects SET last_edited=NOW() - interval '7 weeks' WHERE project_id=:p::UUID", p=old)
        plain.projects.delete(fresh)
        recent = {p["project_id"]: p for p in plain.projects.get(fields=["project_id", "deleted"])}
        self.assertEqual(recent, {fresh: {"project_id": fresh, "deleted": True}})
        everything = {p["project_id"] for p in plain.projects.get(fields=["project_id"], all=True)}
        self.assertEqual(everything, {fresh, old})

    def test_query_errors_are_bare_strings(self) -> None:
        self.assertEqual(
            error_of(lambda: self.admin.db.query({"accounts": {"password_hash": None}})),
            "FATAL: user get query not allowed for accounts.password_hash",
        )
        self.assertEqual(
            error_of(lambda: self.admin.db.query({"accounts": {}, "projects": {}})),
            "FATAL: must specify exactly one key in the query",
        )
        other = self.plain_user().projects.create_project(title="private")
        stranger_id, stranger_key = ENV.mint_key()
        self.assertEqual(
            error_of(lambda: hub_for(stranger_key).projects.get(project_id=other)),
            f"FATAL: you do not have read access to this project -- account_id={stranger_id}, project_id_=undefined",
        )
        # Site admins may read any project by its id (the database's user_is_in_project_group counts them in).
        self.assertEqual([p["project_id"] for p in self.admin.projects.get(project_id=other)], [other])

    def test_set_query_changes_own_account(self) -> None:
        account_id, key = ENV.mint_key()
        client = hub_for(key)
        self.assertEqual(client.db.query({"accounts": {"first_name": "Renamed"}}), {})
        self.assertEqual(client.db.query({"accounts": {"first_name": None}}), {"accounts": {"first_name": "Renamed"}})
        self.assertEqual(error_of(lambda: client.db.query({"accounts": {"first_name": ""}})), "first_name must be nonempty")
        self.assertEqual(error_of(lambda: client.db.query({"accounts": {"groups": ["admin"]}})), "FATAL: changing accounts.groups not allowed")


class ProjectsTest(StandinTestCase):
    def test_state_status_and_lifecycle(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("life"))
        self.assertEqual(self.admin.projects.state(project_id)["state"], "opened")
        self.assertEqual(self.admin.projects.status(project_id), {})
        self.assertIsNone(self.admin.projects.start(project_id))
        state = self.admin.projects.state(project_id)
        self.assertEqual((state["state"], state["ip"]), ("running", "127.0.0.1"))
        status = self.admin.projects.status(project_id)
        pid = status["project.pid"]
        os.kill(pid, 0)  # a real process
        self.assertIsInstance(status["start_ts"], int)
        stored = self.sql("SELECT state FROM projects WHERE project_id=:p::UUID", p=project_id)[0]["state"]
        self.assertEqual(stored["state"], "running")
        self.admin.projects.stop(project_id)
        self.assertEqual(self.admin.projects.state(project_id)["state"], "opened")
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def test_project_call_starts_a_stopped_project(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("auto"))
        out = self.admin.project(project_id).system.exec("pwd")
        self.assertEqual(out["stdout"].strip(), os.path.realpath(out["stdout"].strip()))
        self.assertTrue(out["stdout"].strip().endswith(project_id))
        self.assertEqual(self.admin.projects.state(project_id)["state"], "running")

    def test_exec_runs_with_project_environment(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("env"))
        out = self.admin.project(project_id).system.exec("echo $COCALC_PROJECT_ID:$HOME:${COCALC_API_KEY:-none}", bash=True)
        project, home, leaked = out["stdout"].strip().split(":")
        self.assertEqual(project, project_id)
        self.assertTrue(home.endswith(project_id))
        self.assertEqual(leaked, "none")

    def test_bridge_timeout_gives_cocalcs_text(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("slow"))
        project = self.admin.project(project_id)
        project.system.ping()
        started = time.monotonic()
        message = error_of(lambda: project.system.exec("sleep", args=["5"], timeout=1))
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual(
            message, f"timeout - callHub: subject='project.{project_id}.0.api.-', name='system.exec', code='408' "
        )

    def test_non_collaborators_are_refused(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("mine"))
        plain = self.plain_user()
        self.assertEqual(error_of(lambda: plain.projects.start(project_id)), "Error: must be collaborator on project to start it")
        self.assertEqual(error_of(lambda: plain.projects.state(project_id)), "Error: must be collaborator on project to get state")
        self.assertEqual(
            error_of(lambda: plain.sync.history(project_id, "a.txt")), "Error: user must be collaborator on source project"
        )
        self.assertEqual(
            error_of(plain.project(project_id).system.ping), "user must be a collaborator on the project"
        )
        self.assertEqual(error_of(lambda: plain.projects.delete(project_id)), "Error: must be an owner to delete a project")

    def test_collaborators_live_in_projects_users(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("collab"))
        account_id, key = ENV.mint_key()
        self.assertEqual(self.admin.projects.add_collaborator(project_id, account_id), {"project_id": [project_id]})
        users = self.sql("SELECT users FROM projects WHERE project_id=:p::UUID", p=project_id)[0]["users"]
        self.assertEqual(users[account_id], {"group": "collaborator"})
        collaborator = hub_for(key)
        self.assertEqual(
            error_of(lambda: collaborator.projects.remove_collaborator(project_id, ENV.admin_account_id)),
            "OwnershipError: Cannot remove an owner. Demote to collaborator first.",
        )
        self.admin.projects.remove_collaborator(project_id, account_id)
        users = self.sql("SELECT users FROM projects WHERE project_id=:p::UUID", p=project_id)[0]["users"]
        self.assertEqual(users, {ENV.admin_account_id: {"group": "owner"}})

    def test_copy_path_copies_real_files_and_delete_keeps_the_row(self) -> None:
        source = self.admin.projects.create_project(title=unique("src"))
        target = self.admin.projects.create_project(title=unique("dst"))
        self.admin.project(source).system.exec("mkdir -p d/e && echo hi > d/e/f.txt", bash=True)
        self.admin.projects.copy_path_between_projects(source, "d", target, "copy")
        self.assertEqual(self.admin.project(target).system.exec("cat", args=["copy/e/f.txt"])["stdout"], "hi\n")
        self.assertTrue(
            error_of(lambda: self.admin.projects.copy_path_between_projects(source, "none.txt", target)).startswith(
                "Error: ENOENT: no such file or directory, stat '"
            )
        )
        self.admin.projects.delete(target)
        row = self.sql("SELECT deleted, state FROM projects WHERE project_id=:p::UUID", p=target)[0]
        self.assertEqual((row["deleted"], row["state"]["state"]), (True, "opened"))


class MessagesTest(StandinTestCase):
    def test_each_recipient_reads_messages_and_sender_sees_them_sent(self) -> None:
        first, first_key = ENV.mint_key()
        second, second_key = ENV.mint_key()
        email = self.sql("SELECT email_address FROM accounts WHERE account_id=:a::UUID", a=second)[0]["email_address"]
        message_id = self.admin.messages.send("Subject", "**body**", [first, email])
        for key, account_id in ((first_key, first), (second_key, second)):
            received = hub_for(key).messages.get(type="received", limit=5)
            self.assertEqual([m["id"] for m in received], [message_id])
            self.assertEqual(set(received[0]["to_ids"]), {first, second})
            self.assertEqual((received[0]["read"], received[0]["saved"], received[0]["deleted"]), (False, False, False))
            self.assertEqual([m["id"] for m in hub_for(key).messages.get(type="new")], [message_id])
            count = self.sql("SELECT unread_message_count FROM accounts WHERE account_id=:a::UUID", a=account_id)
            self.assertEqual(count[0]["unread_message_count"], 1)
        sent = self.admin.messages.get(type="sent", limit=1)[0]
        self.assertEqual((sent["id"], sent["from_id"], sent["subject"]), (message_id, ENV.admin_account_id, "Subject"))
        self.assertEqual(error_of(lambda: self.admin.messages.get(limit=501)), "Error: limit must be at most 500")

    def test_org_message_reaches_every_member(self) -> None:
        org = unique("msg")
        self.admin.org.create(org)
        members = [self.admin.org.create_user(org, f"{unique('r')}@test.local") for _ in range(2)]
        self.admin.org.message(org, "Hello org", "body")
        row = self.sql("SELECT to_ids, from_id FROM messages WHERE subject='Hello org' AND :a=ANY(to_ids)", a=members[0])
        self.assertEqual((sorted(row[0]["to_ids"]), row[0]["from_id"]), (sorted(members), ENV.admin_account_id))


class DispatchTest(StandinTestCase):
    def test_unknown_and_unimplemented_functions(self) -> None:
        self.assertEqual(error_of(lambda: self.admin.call("nope.nothing")), "Error: unknown function 'nope.nothing'")
        self.assertIn("stand-in does not implement", error_of(lambda: self.admin.call("system.sendEmailVerification")))

    def test_healthcheck(self) -> None:
        answer = requests.get(ENV.environ["COCALC_HOST"] + "/healthcheck")
        self.assertEqual(answer.status_code, 200)
        self.assertTrue(answer.text.startswith("healthchecks:\n"))
        self.assertIn("no DB connection problems – OK", answer.text)


class LaunchTest(StandinTestCase):
    def test_environment_names_the_database_socket(self) -> None:
        environ = ENV.environ
        self.assertTrue(environ["PGHOST"].startswith("/"))
        self.assertEqual(environ["COCALC_API_KEY"], ENV.admin_key)
        self.assertTrue(environ["COCALC_HOST"].startswith("http://127.0.0.1:"))

    def test_leak_check_finds_new_rows(self) -> None:
        before = snapshot(ENV.store)
        account_id, _ = ENV.mint_key()
        leaks = leaked_rows(ENV.store, before)
        self.assertIn(("accounts", {"account_id": account_id}), leaks)
        self.assertTrue(any(table == "api_keys" for table, _ in leaks))

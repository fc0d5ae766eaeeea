"""The stand-in's newer hub calls, through its real HTTP server: rules the API suite cannot see.

The suite holds one admin key and cannot read the database; these tests use
plain users' keys (the refusals CoCalc gives them) and SQL (the side rows CoCalc
writes: ``central_log``, ``project_log``, ``password_reset``, ``user_tracking``,
``file_use``, ...), and set up rows no API call makes (blobs, purchases,
archived histories, server settings).
"""
import datetime
import hashlib
import json
import unittest
import uuid
from typing import Any, Dict, List

from cocalc_api_tests.client import Hub
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_standin.store import utcnow

from helpers import error_of, start_standin, unique

ENV: Any = None


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


def sha1(*parts: str) -> str:
    return hashlib.sha1("".join(parts).encode()).hexdigest()


class HubCallsCase(unittest.TestCase):
    """Clients for the admin and for new plain users, and SQL on the stand-in's database."""

    def setUp(self) -> None:
        self.admin = self.client(ENV.admin_key)
        self.me = ENV.admin_account_id

    def client(self, key: str) -> Hub:
        hub = Hub(key, ENV.environ["COCALC_HOST"])
        self.addCleanup(hub.close)
        return hub

    def plain_user(self) -> tuple:
        """``(account_id, hub client)`` of a new non-admin account."""
        account_id, key = ENV.mint_key(admin=False)
        return account_id, self.client(key)

    def sql(self, query: str, **params: Any) -> List[Dict[str, Any]]:
        return ENV.store.query(query, **params)

    def member(self, org: str, **kwargs: Any) -> str:
        """A new account inside organization *org* (made if needed)."""
        if not self.sql("SELECT 1 FROM organizations WHERE name=:n", n=org):
            self.admin.org.create(org)
        return self.admin.org.create_user(org, f"{unique('m')}@test.local", **kwargs)


class SystemCallsTest(HubCallsCase):
    def test_customize_defaults_and_server_settings(self) -> None:
        settings = self.admin.system.get_customize()
        self.assertEqual((settings["siteName"], settings["siteURL"], settings["version"]["min_project"]),
                         ("Open CoCalc", "https://localhost", 0))
        self.sql("INSERT INTO server_settings(name, value) VALUES('site_name', 'Stand-in Site'), ('dns', 'Example.ORG')")
        self.addCleanup(self.sql, "DELETE FROM server_settings WHERE name IN ('site_name', 'dns')")
        self.assertEqual(self.admin.system.get_customize(["siteName", "siteURL", "nope"]),
                         {"siteName": "Stand-in Site", "siteURL": "https://example.org"})
        self.assertEqual(self.admin.call("system.getCustomize", ["siteName"]), {"siteName": "Stand-in Site"})

    def test_logging_calls_write_their_rows(self) -> None:
        tag = unique("tag")
        self.assertIsNone(self.admin.system.user_tracking(tag, {"n": 1}))
        row = self.sql("SELECT account_id, value, expire - time AS life FROM user_tracking WHERE event=:e", e=tag)[0]
        self.assertEqual((row["account_id"], row["value"]), (self.me, {"n": 1}))
        self.assertAlmostEqual(row["life"].total_seconds(), 30 * 86400, delta=60)
        self.assertEqual(error_of(lambda: self.admin.system.user_tracking("e" * 81, {})),
                         "Error: event must have length at most 80")
        self.admin.call("system.logClientError", [{}])
        self.assertTrue(self.sql("SELECT 1 FROM client_error_log WHERE event='event' AND error='error' AND account_id=:a",
                                 a=self.me), "logClientError's defaults were not stored")
        self.sql("DELETE FROM client_error_log WHERE event='event'")
        self.admin.system.webapp_error(message=tag, lineNumber=7, mobile=True, whatever=1)
        row = self.sql('SELECT "lineNumber", mobile, account_id FROM webapp_errors WHERE message=:m', m=tag)[0]
        self.assertEqual(row, {"lineNumber": 7, "mobile": True, "account_id": self.me})
        self.assertEqual(error_of(lambda: self.admin.system.webapp_error(message=tag, lineNumber="abc")),
                         'postgresql error: invalid input syntax for type integer: "abc"')

    def test_api_key_management(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("keys"))
        created = self.admin.system.manage_api_keys("create", project_id=project_id, name="k")[0]
        self.assertEqual(list(created), ["id", "account_id", "expire", "created", "name", "last_active", "trunc", "secret"])
        self.assertEqual(self.admin.system.manage_api_keys("get", project_id=project_id, id=2147483000), [None])
        self.assertIsNone(self.admin.system.manage_api_keys("nonsense", project_id=project_id))
        collaborator, hub = self.plain_user()
        self.assertEqual(
            error_of(lambda: hub.system.manage_api_keys("get", project_id=project_id)),
            "Error: user must be collaborator on project to manage project_id api keys",
        )
        self.admin.projects.add_collaborator(project_id, collaborator)
        hub.system.manage_api_keys("delete", project_id=project_id, id=created["id"])  # any collaborator may
        self.assertEqual(self.sql("SELECT id FROM api_keys WHERE id=:i", i=created["id"]), [])

    def test_auth_tokens_for_admins_and_with_passwords(self) -> None:
        org = unique("tok")
        user = self.member(org, password="correct horse")
        token = self.admin.system.generate_user_auth_token(user)
        logged = self.sql("SELECT value, expire - time AS life FROM central_log WHERE event='auth-token' "
                          "AND value->>'user_account_id'=:u", u=user)
        self.assertEqual(logged[0]["value"], {"account_id": self.me, "user_account_id": user, "is_admin": True})
        self.assertAlmostEqual(logged[0]["life"].total_seconds(), 365 * 86400, delta=86400)
        caller, hub = self.plain_user()
        self.assertEqual(error_of(lambda: hub.system.generate_user_auth_token(user, password="wrong")),
                         "Error: incorrect password")
        self.assertIn("banned -- please wait", error_of(lambda: hub.system.generate_user_auth_token(user, password="x")))
        other = self.member(org, password="correct horse")
        self.assertRegex(hub.system.generate_user_auth_token(other, password="correct horse"), r"^[A-Za-z0-9]{24}$")
        self.assertIsNone(self.admin.system.revoke_user_auth_token(token))
        self.assertEqual(self.sql("SELECT 1 FROM auth_tokens WHERE auth_token=:t", t=token), [])
        self.admin.org.create_token(user)
        self.assertEqual(len(self.sql("SELECT 1 FROM central_log WHERE event='auth-token' AND value->>'user_account_id'=:u",
                                      u=user)), 2, "org.createToken logs its token too")

    def test_password_reset_rows(self) -> None:
        user = self.member(unique("reset"))
        link = self.admin.system.admin_reset_password_link(user)
        row = self.sql("SELECT r.email_address, r.expire - NOW() AS left FROM password_reset r WHERE id=:i::UUID",
                       i=link.rsplit("/", 1)[1])[0]
        self.assertEqual(row["email_address"], self.sql("SELECT email_address FROM accounts WHERE account_id=:a",
                                                        a=user)[0]["email_address"])
        self.assertAlmostEqual(row["left"].total_seconds(), 86400, delta=60)
        _, hub = self.plain_user()
        self.assertEqual(error_of(lambda: hub.system.admin_reset_password_link(user)), "Error: must be an admin")


class ProjectCallsTest(HubCallsCase):
    def events(self, project_id: str) -> List[Dict[str, Any]]:
        return [r["event"] for r in self.sql("SELECT event FROM project_log WHERE project_id=:p ORDER BY time", p=project_id)]

    def test_membership_changes_are_logged(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("log"))
        other = self.member(unique("log"), firstName="Ada", lastName="Lovelace")
        self.admin.projects.add_collaborator(project_id, other)
        self.admin.projects.change_user_type(project_id, other, "owner")
        self.admin.projects.change_user_type(project_id, other, "collaborator")
        self.admin.projects.remove_collaborator(project_id, other)
        self.admin.projects.invite_collaborator(project_id, other)
        self.assertEqual(self.events(project_id), [
            {"event": "invite_user", "invitee_account_id": other},
            {"event": "change_collaborator_type", "target_account_id": other, "target_name": "Ada Lovelace",
             "old_group": "collaborator", "new_group": "owner"},
            {"event": "change_collaborator_type", "target_account_id": other, "target_name": "Ada Lovelace",
             "old_group": "owner", "new_group": "collaborator"},
            {"event": "remove_collaborator", "removed_name": "Ada Lovelace", "removed_account_id": other},
            {"event": "invite_user", "invitee_account_id": other},
        ])

    def test_only_owners_change_user_types_and_only_admins_set_quotas(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("owners"))
        collaborator, hub = self.plain_user()
        self.admin.projects.add_collaborator(project_id, collaborator)
        self.assertEqual(error_of(lambda: hub.projects.change_user_type(project_id, self.me, "collaborator")),
                         "OwnershipError: Only project owners can change user types")
        self.assertEqual(error_of(lambda: hub.projects.set_quotas(project_id, memory=1)),
                         "Error: Must be an admin to do admin search.")
        self.admin.projects.set_quotas(project_id, memory=500, always_running=0)
        settings = self.sql("SELECT settings FROM projects WHERE project_id=:p", p=project_id)[0]["settings"]
        self.assertEqual(settings, {"memory": 500, "always_running": 0, "project_id": project_id, "account_id": self.me})

    def test_invitation_by_email_is_not_sent(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("mail"))
        other = self.member(unique("mail"))
        self.assertEqual(error_of(lambda: self.admin.call("projects.inviteCollaborator", [
            {"opts": {"project_id": project_id, "account_id": other, "email": "<p>hi</p>"}}])),
            "Error: the stand-in does not send e-mail invitations")
        self.assertEqual(self.admin.projects.get(fields=["users"], project_id=project_id)[0]["users"][other],
                         {"group": "collaborator"}, "CoCalc adds the account before it mails")


class DbCallsTest(HubCallsCase):
    def test_touch_writes_file_use(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("touch"))
        self.admin.db.touch(project_id=project_id, path="a.txt", action="read")
        row = self.sql("SELECT id, last_edited, users FROM file_use WHERE project_id=:p", p=project_id)[0]
        self.assertEqual((row["id"], row["last_edited"], list(row["users"][self.me])), (sha1(project_id, "a.txt"), None, ["read"]))
        self.admin.db.touch(project_id=project_id, path="a.txt")
        row = self.sql("SELECT last_edited, users FROM file_use WHERE project_id=:p", p=project_id)[0]
        self.assertIsNotNone(row["last_edited"], "an edit sets last_edited")
        self.assertEqual(sorted(row["users"][self.me]), ["edit", "read"])

    def test_file_use_times_read_the_access_log(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("times"))
        moment = datetime.datetime(2026, 1, 2, 3, 4, 5)
        self.sql("INSERT INTO file_access_log(id, project_id, account_id, filename, time) VALUES(:i, :p, :a, 'f.txt', :t)",
                 i=str(uuid.uuid4()), p=project_id, a=self.me, t=moment)
        answer = self.admin.db.file_use_times(project_id, "f.txt")
        self.assertEqual(answer["access_times"], [int(moment.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)])

    def test_legacy_history_and_blobs(self) -> None:
        project_id = self.admin.projects.create_project(title=unique("legacy"))
        blob_id, expired_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.sql("INSERT INTO syncstrings(string_id, project_id, path, archived, users) "
                 "VALUES(:s, :p, 'old.txt', :b, :u::UUID[])", s=sha1(project_id, "old.txt"), p=project_id, b=blob_id,
                 u=[self.me])
        self.sql("INSERT INTO blobs(id, blob, expire) VALUES(:i, :b, :e), (:x, :b, :past)", i=blob_id,
                 b=b'{"patches":[]}', e=utcnow() + datetime.timedelta(days=1), x=expired_id,
                 past=utcnow() - datetime.timedelta(days=1))
        self.assertEqual(self.admin.db.get_legacy_time_travel_info(project_id, "old.txt"), {"uuid": blob_id, "users": [self.me]})
        _, hub = self.plain_user()
        self.assertEqual(error_of(lambda: hub.db.get_legacy_time_travel_info(project_id, "old.txt")),
                         "Error: must be collaborator on project")
        self.assertEqual(hub.db.get_legacy_time_travel_patches(blob_id), '{"patches":[]}')
        self.assertIn("reading 'toString'", error_of(lambda: hub.db.get_legacy_time_travel_patches(expired_id)))
        self.assertEqual(self.sql("SELECT 1 FROM blobs WHERE id=:i", i=expired_id), [], "an expired blob is deleted")
        self.admin.db.remove_blob_ttls([blob_id, "x"])
        self.assertIsNone(self.sql("SELECT expire FROM blobs WHERE id=:i", i=blob_id)[0]["expire"])

    def test_site_licenses_are_for_admins(self) -> None:
        license_id = str(uuid.uuid4())
        user, hub = self.plain_user()
        query = {"site_licenses": {"id": license_id, "title": "t", "managers": [user], "quota": {"cpu": 1}}}
        self.assertEqual(error_of(lambda: hub.db.query(query)), "FATAL: user must be an admin")
        self.admin.db.query(query)
        self.assertEqual(error_of(lambda: hub.db.query({"site_licenses": {"id": license_id, "title": None}})),
                         "FATAL: user must be an admin")
        project_id = self.admin.projects.create_project(title=unique("lic"), license=license_id)
        self.sql("UPDATE projects SET state='{\"state\": \"running\"}', site_license=CAST(:l AS JSONB) WHERE project_id=:p",
                 l=json.dumps({license_id: {"quota": {"cpu": 1}}}), p=project_id)
        info = hub.db.query({"site_license_public_info": {"id": license_id, "title": None}})["site_license_public_info"]
        self.assertEqual(info, {"title": "t", "quota": {"cpu": 1}, "managers": [user], "running": 1, "applied": 1,
                                "is_manager": True})

    def test_message_flags_belong_to_the_recipient(self) -> None:
        other, hub = self.plain_user()
        message_id = self.admin.messages.send(unique("flags"), "b", [other])
        self.assertEqual(self.sql("SELECT unread_message_count FROM accounts WHERE account_id=:a", a=other)[0]
                         ["unread_message_count"], 1)
        hub.db.query({"messages": {"id": message_id, "read": "01", "starred": "01"}})
        row = self.sql("SELECT read::TEXT AS read, starred::TEXT AS starred FROM messages WHERE id=:i", i=message_id)[0]
        self.assertEqual(row, {"read": "01", "starred": "01"})
        self.assertEqual(self.sql("SELECT unread_message_count FROM accounts WHERE account_id=:a", a=other)[0]
                         ["unread_message_count"], 0)
        try:
            self.admin.call("db.userQuery", [{"query": {"messages": {"id": message_id, "read": "00"}}}], timeout_ms=1000)
        except CoCalcAPIError as err:
            self.assertTrue(err.message.startswith("timeout - "), err.message)
        else:
            self.fail("a sender's change of a recipient's flag was answered")
        self.assertTrue(self.sql("SELECT 1 FROM central_log WHERE event='uncaught_exception' "
                                 "AND value->>'error'='Error: you do not have permission to edit this message'"))


class PurchasesTest(HubCallsCase):
    def test_balance_sums_purchases_and_is_saved(self) -> None:
        account_id, hub = self.plain_user()
        self.assertEqual((hub.purchases.get_balance(), hub.purchases.get_min_balance()), (0, 0))
        self.sql("INSERT INTO purchases(id, account_id, cost, time) VALUES(900001, :a, 1.25, NOW()), "
                 "(900002, :a, 2, NOW())", a=account_id)
        self.sql("UPDATE accounts SET min_balance=-10 WHERE account_id=:a", a=account_id)
        self.assertEqual((hub.purchases.get_balance(), hub.purchases.get_min_balance()), (-3.25, -10))
        self.assertEqual(self.sql("SELECT balance FROM accounts WHERE account_id=:a", a=account_id)[0]["balance"], 0,
                         "the balance is saved at most every two minutes")

"""Organizations: site-admin access, CRUD, members and admins, sign-in tokens, messages.

Every organization, account and message these tests create is tracked, so the
cleaner removes them (and the accounts' first projects) when the run ends.  Only a
site admin may create an organization, so the classes that need one skip for any
other key (:func:`~cocalc_api_tests.support.requires_site_admin`); the org API's
reachability is checked for every key, by the refusal another key gets.
"""
import re
import urllib.parse
import uuid
from typing import Any, Dict, List, Optional, Set, Tuple

from .probes import hub_probes
from .session import get_session
from .support import BAD_KEY_ERROR, ORG_CALLS, APITestCase, read_rows, remote_name, requires_site_admin
from .wordings import NOT_ORG_ADMIN


def setUpModule() -> None:
    get_session()


#: The fields of each organization ``org.getAll`` lists (``org.get`` answers them too).
LISTED_FIELDS = ("name", "title", "admin_account_ids")


class OrgTestCase(APITestCase):
    """Helpers for organization tests."""

    def new_org(self, prefix: str = "org") -> str:
        """A new tracked organization; its name.  ``org.create`` must answer a new UUID for it."""
        return self.new_org_and_id(prefix)[0]

    def new_org_and_id(self, prefix: str = "org") -> Tuple[str, str]:
        """A new tracked organization: its name and the id ``org.create`` answered (a new UUID)."""
        name = self.unique_name(prefix)
        earlier = set(self.tracked_ids("organization"))
        organization_id = self.call(self.create_tracked_org, name)
        self.assertIsInstance(organization_id, str, f"org.create({name!r}) answered {organization_id!r}")
        self.assertEqual(str(uuid.UUID(organization_id)), organization_id, f"org.create({name!r}) answered no UUID")
        self.assertNotIn(organization_id, earlier, f"org.create({name!r}) answered the id of an earlier organization")
        return name, organization_id

    def new_member(self, org_name: str, first: str = "Test", last: str = "Member") -> str:
        """A new tracked account inside *org_name*; its id."""
        return self.call(self.create_tracked_user, org_name, email=self.unique_email("member"), firstName=first, lastName=last)

    def members(self, org_name: str) -> Dict[str, Dict[str, Any]]:
        """``org.getUsers`` as a mapping from account id to row."""
        return {row["account_id"]: row for row in self.call(self.hub.org.get_users, org_name)}

    def admins(self, org_name: str) -> List[str]:
        """The organization's ``admin_account_ids`` (CoCalc may answer null)."""
        return self.call(self.hub.org.get, org_name).get("admin_account_ids") or []

    def message_with_subject(self, subject: str) -> Dict[str, Any]:
        """The caller's sent message with *subject*, once it shows up (tracked)."""
        return self.sent_message(lambda m: m.get("subject") == subject, f"message {subject!r}")


@requires_site_admin
class TestAdminPrivileges(OrgTestCase):
    def test_key_is_site_admin(self) -> None:
        account = self.call(self.hub.db.query, {"accounts": {"account_id": None, "groups": None}}).get("accounts", {})
        self.assertEqual(account.get("account_id"), self.session.account_id, f"db.userQuery answered {account!r}")
        self.assertIn("admin", account.get("groups") or [], f"the key's account is no site admin: {account!r}")
        orgs = self.call(self.hub.org.get_all)
        self.assertIsInstance(orgs, list, f"org.getAll answered {orgs!r}")


class TestOrgAPI(OrgTestCase):
    def test_org_api_reachable(self) -> None:
        """Organization calls reach the hub's org API; the project endpoint does not know them.

        A site admin is told the organization does not exist; any other key is refused first.
        """
        missing = f"no-such-org-{uuid.uuid4().hex[:12]}"
        answer = f"Error: no org named '{missing}'" if self.session.is_site_admin else NOT_ORG_ADMIN
        self.assertCallFails(self.hub.org.get, missing, contains=answer)
        self.assertCallFails(
            self.project.call, "org.get", [{"name": missing}], contains="Error: unknown function 'org.get'"
        )

    def test_org_api_complete(self) -> None:
        """Each of the 13 org calls answers a wrong argument (or another key) with its own error (see :mod:`probes`)."""
        self.assertProbesPass(hub_probes(self.session.is_site_admin), ORG_CALLS)


@requires_site_admin
class TestOrgCRUD(OrgTestCase):
    def test_get_all_rows_carry_names(self) -> None:
        name = self.new_org()
        orgs = self.call(self.hub.org.get_all)
        for row in orgs:
            self.assertIsInstance(row.get("name"), str, f"org.getAll row without a name: {row!r}")
        mine = [row for row in orgs if row["name"] == name]
        self.assertEqual(mine, [{"name": name, "title": None, "admin_account_ids": None}], f"org.getAll: {orgs!r}")
        # Every organization of this run's that is listed is one org.get finds by that name, with the same title and
        # admins (other runs' and users' organizations are none of this run's business, and change under it).  Other
        # tests may change one between the two reads, so the organizations that differ are read again until they
        # agree (organizations made meanwhile are not waited for); a name org.get does not know fails at once.
        ours = f"-{self.session.run_id}-"

        def differences(names: Optional[Set[str]] = None) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
            found = []
            for row in self.call(self.hub.org.get_all):
                if ours not in row["name"] or (names is not None and row["name"] not in names):
                    continue
                got = self.call(self.hub.org.get, row["name"])
                if {k: got.get(k) for k in LISTED_FIELDS} != {k: row.get(k) for k in LISTED_FIELDS}:
                    found.append((row, got))
            return found

        differing = {row["name"] for row, _ in differences()}
        self.poll_call(lambda: differences(differing), accept=lambda found: not found,
                       what="org.getAll's rows equal to org.get's")

    def test_create_get_set(self) -> None:
        name, organization_id = self.new_org_and_id()
        with self.subTest(read_back="the organizations row"):
            rows = read_rows(self, "the new organization's id",
                             "SELECT organization_id FROM organizations WHERE name = :name", name=name)
            self.assertEqual(rows, [{"organization_id": organization_id}], f"org.create({name!r}) answered another id")
        fresh = self.call(self.hub.org.get, name)
        empty = dict.fromkeys(("title", "description", "link", "email_address", "admin_account_ids"))
        self.assertEqual(fresh, dict(empty, name=name), "org.get of a new organization")
        values = {
            "title": "Test Organization",
            "description": "Made by cocalc-api-tests",
            "email_address": "org@test.local",
            "link": "https://example.com/org",
        }
        self.assertIsNone(self.call(self.hub.org.set, name, **values))
        after = self.call(self.hub.org.get, name)
        self.assertEqual({k: after.get(k) for k in values}, values)


@requires_site_admin
class TestOrgMembers(OrgTestCase):
    def test_new_org_has_no_users(self) -> None:
        self.assertEqual(self.call(self.hub.org.get_users, self.new_org()), [])

    def test_created_user_is_listed(self) -> None:
        name = self.new_org()
        email = self.unique_email("listed")
        account_id = self.call(self.create_tracked_user, name, email=email, firstName="Listed", lastName="User")
        row = self.members(name).get(account_id)
        self.assertIsNotNone(row, f"org.getUsers({name!r}) does not list {account_id}")
        self.assertEqual((row["email_address"], row["first_name"], row["last_name"]), (email, "Listed", "User"))

    def test_promote_and_demote(self) -> None:
        name = self.new_org()
        account_id = self.new_member(name)
        self.assertIsNone(self.call(self.hub.org.add_admin, name, account_id))
        self.assertIn(account_id, self.admins(name))
        self.assertIsNone(self.call(self.hub.org.remove_admin, name, account_id))
        self.assertNotIn(account_id, self.admins(name))
        self.assertIn(account_id, self.members(name), "demoting an admin removed the member")

    def test_admin_workflows(self) -> None:
        name, other = self.new_org("org-a"), self.new_org("org-b")
        with self.subTest(workflow="member of the same organization"):
            local = self.new_member(name)
            self.assertIsNone(self.call(self.hub.org.add_admin, name, local))
            self.assertIn(local, self.admins(name))
        with self.subTest(workflow="member of another organization, moved first"):
            outsider = self.new_member(other)
            self.assertIsNone(self.call(self.hub.org.add_user, name, outsider))
            self.assertIn(outsider, self.members(name))
            self.assertNotIn(outsider, self.members(other))
            self.assertIsNone(self.call(self.hub.org.add_admin, name, outsider))
            self.assertIn(outsider, self.admins(name))

    def test_promoting_member_of_other_org_is_refused(self) -> None:
        name, other = self.new_org("org-a"), self.new_org("org-b")
        outsider = self.new_member(other)
        self.assertCallFails(
            self.hub.org.add_admin,
            name,
            outsider,
            contains=f"Error: User '{outsider}' is already member of another organization",
        )
        self.assertNotIn(outsider, self.admins(name))


@requires_site_admin
class TestOrgTokens(OrgTestCase):
    def test_create_and_expire_token(self) -> None:
        """The token signs in through the site's ``/auth/impersonate`` link, is no API key, and expires on request.

        The link is opened only after the expiry: opening a live token signs in (a ``remember_me`` row).
        """
        account_id = self.new_member(self.new_org())
        answer = self.call(self.hub.org.create_token, account_id)
        self.assertEqual(set(answer), {"token", "url"}, f"org.createToken answered {answer!r}")
        token = answer["token"]
        self.assertRegex(token, r"^[A-Za-z0-9]{24}$", f"org.createToken answered {answer!r}")
        self.assertEqual(answer["url"], self.site_url(f"auth/impersonate?auth_token={token}"))
        as_key = self.session.client(token)
        self.assertCallFails(as_key.system.test, contains=BAD_KEY_ERROR)
        with self.subTest(read_back="the token's auth_tokens row"):
            self.assertEqual(self.token_rows(token), [(account_id, self.session.account_id)], "the token's row")
        self.assertIsNone(self.call(self.hub.org.expire_token, token))
        with self.subTest(read_back="auth_tokens after org.expireToken"):
            self.assertEqual(self.token_rows(token), [], "the expired token's row is still there")
        self.assertSignInRefused(token)

    def token_rows(self, token: str) -> List[Tuple[str, str]]:
        """``(account_id, created_by)`` of *token*'s ``auth_tokens`` rows (no call reads them; skips without a database)."""
        rows = read_rows(self, "the token's auth_tokens row",
                         "SELECT account_id, created_by FROM auth_tokens WHERE auth_token = :token", token=token)
        return [(row["account_id"], row["created_by"]) for row in rows]

    def site_url(self, path: str) -> str:
        """CoCalc's ``siteUrl(path)``: the configured ``dns`` (``https://`` added) and base path, joined with *path*."""
        dns = self.call(self.hub.system.get_customize, ["dns"]).get("dns") or ""
        base = (dns if dns.startswith("http") else f"https://{dns}") + urllib.parse.urlsplit(self.session.config.host).path
        return re.sub(r"/+$", "", base) + "/" + path


@requires_site_admin
class TestOrgMessages(OrgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        session = get_session()
        cls.org_name = session.unique_name("org-msg")
        session.create_org(cls.org_name)
        cls.member_ids = {session.create_user(cls.org_name, firstName="Reader", lastName=str(n)) for n in range(2)}

    def test_message_reaches_exactly_the_members(self) -> None:
        subject = self.unique_name("subject")
        self.assertIsNone(self.call(self.hub.org.message, self.org_name, subject, "Hello, members."))
        message = self.message_with_subject(subject)
        self.assertEqual(set(message.get("to_ids", [])), self.member_ids, f"sent message: {message!r}")
        self.assertEqual(message.get("from_id"), self.session.account_id)

    def test_markdown_message_keeps_its_body(self) -> None:
        subject = self.unique_name("markdown")
        body = "# Heading\n\n**bold**, _italic_, `code` and $x^2$\n\n- one\n- two\n\n[link](https://example.com)"
        self.assertIsNone(self.call(self.hub.org.message, self.org_name, subject, body))
        message = self.message_with_subject(subject)
        self.assertEqual(message.get("body"), body)
        self.assertEqual(set(message.get("to_ids", [])), self.member_ids)


@requires_site_admin
class TestOrgLifecycle(OrgTestCase):
    def test_full_lifecycle(self) -> None:
        name = self.new_org("org-life")
        self.assertIsNone(self.call(self.hub.org.set, name, title="Lifecycle", description="full lifecycle"))
        first, second = self.new_member(name, "First"), self.new_member(name, "Second")
        self.assertEqual(set(self.members(name)), {first, second})
        self.assertIsNone(self.call(self.hub.org.add_admin, name, first))
        self.assertEqual(self.admins(name), [first])
        self.assertCallFails(self.hub.org.remove_user, name, first, contains="Error: admin cannot be removed from org")
        self.assertIsNone(self.call(self.hub.org.remove_admin, name, first))
        self.assertIsNone(self.call(self.hub.org.remove_user, name, second))
        self.assertEqual(set(self.members(name)), {first})
        final = self.call(self.hub.org.get, name)
        self.assertEqual((final.get("title"), final.get("description")), ("Lifecycle", "full lifecycle"))
        self.assertEqual(final.get("admin_account_ids") or [], [])


class TestProjectDeletionStillOffered(OrgTestCase):
    def test_hub_still_deletes_projects(self) -> None:
        self.assertEqual(remote_name(self.hub.projects.delete), "projects.deleteProject")
        project_id = self.create_tracked_project(title=self.unique_name("org-del"))
        self.assertIsNone(self.call(self.hub.projects.delete, project_id))
        # CoCalc keeps deleted projects in the recent-projects table, flagged.
        self.assertIs(self.project_row(project_id, "deleted", all=False).get("deleted"), True)

"""API keys scoped to a project, sign-in tokens and password-reset links.

The keys are the bridge's own authentication path: a project-scoped key's secret
works on ``/api/conat/project`` without naming the project, and nowhere else.
Every key is made for a tracked project (never an account-wide key of the key's
owner), tokens and reset links for tracked accounts.
"""
import datetime
import re
import uuid
from typing import Any, Dict

from .session import get_session
from .wordings import API_KEYS_NOT_COLLABORATOR, OTHER_PROJECT, PROJECT_NO_KEY, unknown_token_page
from .support import BAD_KEY_ERROR, KEY_CACHE_WAIT, APITestCase, KeyTestCase, parse_time, read_rows, requires_site_admin

#: An API key's secret: ``sk-``, 16 random letters or digits, the key's id in 6 base-62 digits.
SECRET = re.compile(r"^sk-[A-Za-z0-9]{16}[0-9A-Za-z]{6}$")


def setUpModule() -> None:
    get_session()


def iso_in(hours: float) -> str:
    """A time *hours* from now as CoCalc's clients send it (``2026-11-25T15:58:18.000Z``)."""
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class KeyCase(KeyTestCase):
    """A tracked project with a tracked key scoped to it."""

    def new_key(self, hours: float = 1.0) -> Dict[str, Any]:
        project_id = self.create_tracked_project()
        key = self.call(self.create_tracked_api_key, project_id, name=self.unique_name("key"), expire=iso_in(hours))
        key["project_id"] = project_id
        return key

    def listed(self, project_id: str, **kwargs: Any) -> Any:
        return self.call(self.hub.system.manage_api_keys, "get", project_id=project_id, **kwargs)


class TestProjectKeys(KeyCase):
    def test_create_answers_the_key_with_its_secret(self) -> None:
        expire = iso_in(1)
        project_id = self.create_tracked_project()
        name = self.unique_name("key")
        key = self.call(self.create_tracked_api_key, project_id, name=name, expire=expire)
        self.assertRegex(key.get("secret", ""), SECRET, f"created key {key!r}")
        secret = key["secret"]
        self.assertEqual(
            (key.get("trunc"), key.get("name"), key.get("account_id"), key.get("last_active")),
            (secret[:3] + "..." + secret[-6:], name, self.session.account_id, None),
            f"created key {key!r}",
        )
        self.assertEqual(parse_time(key["expire"]), parse_time(expire), f"created key {key!r}")
        self.assertRecent(parse_time(key["created"]), "the new key's created time")

    def test_get_lists_the_project_keys_without_secrets(self) -> None:
        key = self.new_key()
        listing = self.listed(key["project_id"])
        self.assertEqual([row.get("id") for row in listing], [key["id"]], f"manageApiKeys get answered {listing!r}")
        expected = {k: key[k] for k in ("id", "account_id", "expire", "created", "name", "trunc", "last_active")}
        self.assertEqual(listing[0], expected)
        self.assertEqual(self.listed(key["project_id"], id=key["id"]), [expected])

    def test_secret_works_on_its_project_without_naming_it(self) -> None:
        key = self.new_key()
        client = self.project_with_key(key["secret"])
        scope = self.call(client.system.test)
        self.assertEqual(scope.get("project_id"), key["project_id"], f"system.test with the project key answered {scope!r}")
        self.assertRecentMs(scope.get("server_time"), "system.test's server_time")
        named = self.call(self.project_with_key(key["secret"], key["project_id"]).system.test)
        self.assertEqual(named.get("project_id"), key["project_id"], f"system.test naming the project answered {named!r}")
        used = self.listed(key["project_id"], id=key["id"])[0]
        self.assertIsNotNone(used.get("last_active"), f"the key was used, but get answered {used!r}")
        self.assertRecent(parse_time(used["last_active"]), "the used key's last_active")

    def test_secret_is_refused_by_the_hub_and_by_other_projects(self) -> None:
        key = self.new_key()
        self.assertCallFails(self.hub_with_key(key["secret"]).system.test, contains=BAD_KEY_ERROR)
        other = self.create_tracked_project()
        self.assertCallFails(
            self.project_with_key(key["secret"], other).system.ping,
            contains=OTHER_PROJECT,
        )

    def test_edit_renames_and_an_unknown_id_is_refused(self) -> None:
        key = self.new_key()
        name = self.unique_name("renamed")
        answer = self.call(self.hub.system.manage_api_keys, "edit", project_id=key["project_id"], id=key["id"], name=name)
        self.assertIsNone(answer)
        row = self.listed(key["project_id"], id=key["id"])[0]
        self.assertEqual((row.get("name"), row.get("expire")), (name, key["expire"]), f"after edit: {row!r}")
        missing = 2147483000
        self.assertCallFails(
            self.hub.system.manage_api_keys, "edit", project_id=key["project_id"], id=missing, name="x",
            contains=f"Error: no api key with id {missing}",
        )

    def test_deleted_key_is_refused(self) -> None:
        key = self.new_key()
        self.call(self.project_with_key(key["secret"]).system.ping)
        answer = self.call(self.hub.system.manage_api_keys, "delete", project_id=key["project_id"], id=key["id"])
        self.assertIsNone(answer)
        self.assertEqual(self.listed(key["project_id"]), [])
        self.assertRefusedWithin(
            self.project_with_key(key["secret"]).system.test, contains=PROJECT_NO_KEY, timeout=KEY_CACHE_WAIT
        )

    def test_key_expired_by_edit_is_refused_and_removed(self) -> None:
        key = self.new_key()
        past = iso_in(-1)
        self.call(self.hub.system.manage_api_keys, "edit", project_id=key["project_id"], id=key["id"], expire=past)
        self.assertEqual(parse_time(self.listed(key["project_id"], id=key["id"])[0]["expire"]), parse_time(past))
        self.assertRefusedWithin(
            self.project_with_key(key["secret"]).system.test, contains=PROJECT_NO_KEY, timeout=KEY_CACHE_WAIT
        )
        self.assertEqual(self.listed(key["project_id"]), [], "CoCalc deletes an expired key when it is presented")

    def test_keys_of_a_project_one_is_not_on_are_refused(self) -> None:
        self.assertCallFails(
            self.hub.system.manage_api_keys, "get", project_id=str(uuid.uuid4()),
            contains=API_KEYS_NOT_COLLABORATOR,
        )


@requires_site_admin
class TestAuthTokens(KeyTestCase):
    def test_token_is_no_api_key_and_is_revoked(self) -> None:
        user = self.create_other_account()
        token = self.call(self.hub.system.generate_user_auth_token, user)
        self.assertIsInstance(token, str)
        self.assertRegex(token, r"^[A-Za-z0-9]{24}$")
        self.assertNotEqual(self.call(self.hub.system.generate_user_auth_token, user), token, "two tokens were equal")
        self.assertCallFails(self.hub_with_key(token).system.test, contains=BAD_KEY_ERROR)
        self.assertIsNone(self.call(self.hub.system.revoke_user_auth_token, token))
        # Only now may the link be followed: with a live token it would sign in (and leave a remember_me row).
        page = self.http_get("/auth/impersonate", auth_token=token)
        self.assertEqual((page.status_code, page.text.strip()), (200, unknown_token_page(token)))
        self.assertIsNone(self.call(self.hub.system.revoke_user_auth_token, token), "revoking twice is not an error")


@requires_site_admin
class TestPasswordResetLink(APITestCase):
    def test_link_for_an_account_with_email(self) -> None:
        user = self.create_other_account()
        links = [self.call(self.hub.system.admin_reset_password_link, user) for _ in range(2)]
        ids = []
        for link in links:
            match = re.fullmatch(r"/auth/password-reset/([0-9a-f-]{36})", link or "")
            self.assertIsNotNone(match, f"adminResetPasswordLink answered {link!r}")
            self.assertEqual(str(uuid.UUID(match.group(1))), match.group(1))
            ids.append(match.group(1))
        self.assertNotEqual(links[0], links[1], "two reset links were equal")
        with self.subTest(read_back="the password_reset rows"):
            # The link works only while its row, for the account's e-mail address, is stored (no call reads it).
            rows = read_rows(
                self, "the reset links' password_reset rows",
                "SELECT r.id, r.email_address = a.email_address AS theirs FROM password_reset r "
                "JOIN accounts a ON a.account_id = CAST(:user AS uuid) WHERE r.id = ANY(CAST(:ids AS uuid[]))",
                user=user, ids=ids,
            )
            self.assertEqual(sorted((row["id"], row["theirs"]) for row in rows), sorted((i, True) for i in ids))

    def test_unknown_account_has_no_password(self) -> None:
        self.assertCallFails(
            self.hub.system.admin_reset_password_link, str(uuid.uuid4()),
            contains="Error: passwords are only defined for accounts with email",
        )

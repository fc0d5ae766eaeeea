"""The client's org API and its call table, as the server answers them: every method reaches its own call.

The client's shape alone (signatures, the groups' classes, ``OrgToken``) is checked
without a server in ``selftests/test_client.py``; here each test needs a correct server.
Tests that need an organization of their own run for a site admin's key only
(``org.create`` is theirs); the others judge any key, by its answers or its refusals.
"""
import uuid
from typing import Tuple

from .client import remote_calls
from .probes import PROJECT_PROBES, hub_probes
from .session import get_session
from .support import BAD_KEY_ERROR, ORG_CALLS, APITestCase, remote_name, requires_site_admin
from .wordings import NOT_ORG_ADMIN, NOT_SITE_ADMIN


def setUpModule() -> None:
    get_session()


class OrgSetUp(APITestCase):
    def org_with_member(self) -> Tuple[str, str]:
        """A new tracked organization and a tracked account in it: ``(name, account_id)``."""
        name = self.unique_name("org-basic")
        self.call(self.create_tracked_org, name)
        return name, self.call(self.create_tracked_user, name)


class TestOrgAPIExposure(OrgSetUp):
    def test_org_api_object(self) -> None:
        """``hub.org`` calls carry their hub's key: the server refuses a bogus key's and judges ours.

        A site admin's key is answered; another key draws ``org.getAll``'s own refusal, not the bad key's.
        """
        bogus = self.session.client(f"sk-bogus{uuid.uuid4().hex}")
        self.assertCallFails(bogus.org.get_all, contains=BAD_KEY_ERROR)
        if self.session.is_site_admin:
            self.assertIsInstance(self.call(self.hub.org.get_all), list)
        else:
            self.assertCallFails(self.hub.org.get_all, contains=NOT_SITE_ADMIN)

    def test_thirteen_org_methods(self) -> None:
        """The client's org methods are CoCalc's 13; the server refuses org names outside its API."""
        org_calls = {name for name in remote_calls(self.hub) if name.startswith("org.")}
        self.assertEqual(org_calls, set(ORG_CALLS))
        # CoCalc's org module exports getAccount, but its API does not offer it.
        self.assertCallFails(
            self.hub.call,
            "org.getAccount",
            [{"user": str(uuid.uuid4())}],
            contains="TypeError: HubApiStructure[group]?.[functionName] is not a function",
        )
        self.assertCallFails(self.hub.call, "org.nope", [{}], contains="Error: unknown function 'org.nope'")

    def test_methods_make_server_calls(self) -> None:
        """``org.get`` and ``org.getUsers`` of a missing organization: a site admin's answers, or another key's refusals."""
        missing = f"missing-org-{uuid.uuid4().hex[:12]}"
        if not self.session.is_site_admin:
            for method in (self.hub.org.get, self.hub.org.get_users):
                with self.subTest(call=remote_name(method)):
                    self.assertCallFails(method, missing, contains=NOT_ORG_ADMIN)
            return
        self.assertCallFails(self.hub.org.get, missing, contains=f"Error: no org named '{missing}'")
        users = self.call(self.hub.org.get_users, missing)
        self.assertEqual(users, [], f"org.getUsers of a missing organization answered {users!r}")


@requires_site_admin
class TestOrgRoundTrips(OrgSetUp):
    """Calls judged on an organization made for the test (only site admins may make one)."""

    def test_message_signature(self) -> None:
        """``org.message(name, subject, body)``: the server files subject and body where they belong."""
        name, member = self.org_with_member()
        subject, body = self.unique_name("subject"), f"the body {uuid.uuid4().hex}"
        self.assertIsNone(self.call(self.hub.org.message, name, subject, body))
        message = self.sent_message(lambda m: m.get("subject") == subject, f"message {subject!r}")
        self.assertEqual((message.get("body"), message.get("to_ids")), (body, [member]), f"sent message: {message!r}")

    def test_create_user_signature(self) -> None:
        """``org.createUser(name, email)`` alone: the account is in the org with that address, and nameless."""
        name = self.unique_name("org-basic")
        self.call(self.create_tracked_org, name)
        email = self.unique_email("nameless")
        account_id = self.call(self.create_tracked_user, name, email=email)
        rows = self.call(self.hub.org.get_users, name)
        self.assertEqual(
            [(r.get("account_id"), r.get("email_address"), r.get("first_name"), r.get("last_name")) for r in rows],
            [(account_id, email, None, None)],
            f"org.getUsers({name!r}) answered {rows!r}",
        )
        names = self.call(self.hub.system.get_names, [account_id]).get(account_id, {})
        self.assertEqual((names.get("first_name"), names.get("last_name")), ("No", "Name"), f"getNames: {names!r}")

    def test_create_token_returns_token_type(self) -> None:
        """``org.createToken`` answers exactly the ``OrgToken`` keys; an account outside any org gets none."""
        _, member = self.org_with_member()
        answer = self.call(self.hub.org.create_token, member)
        self.assertEqual(sorted(answer), ["token", "url"], f"org.createToken answered {answer!r}")
        self.assertEqual([type(answer["token"]), type(answer["url"])], [str, str], f"org.createToken answered {answer!r}")
        self.assertIsNone(self.call(self.hub.org.expire_token, answer["token"]))
        self.assertCallFails(self.hub.org.create_token, str(uuid.uuid4()), contains="Error: user is not in an org")

    def test_org_attribute_class(self) -> None:
        """An organization made through ``hub.org`` is the server's: another client with the key finds it."""
        name = self.unique_name("org-basic")
        self.call(self.create_tracked_org, name)
        other = self.session.client(self.session.config.api_key)
        self.assertEqual(self.call(other.org.get, name).get("name"), name)
        self.assertIn(name, [row.get("name") for row in self.call(other.org.get_all)])


class TestHubIntegrity(APITestCase):
    def test_other_groups_intact(self) -> None:
        """Each of the hub client's other groups reaches its own group on the server (one probe per group)."""
        first_of_group = {}
        for name in sorted(remote_calls(self.hub)):
            first_of_group.setdefault(name.split(".")[0], name)
        first_of_group.pop("org", None)
        self.assertTrue(first_of_group, "the hub client has no group besides org")
        self.assertProbesPass(hub_probes(self.session.is_site_admin), list(first_of_group.values()))

    def test_method_table_covers_every_call(self) -> None:
        """Every client method has a probe in :mod:`probes`, and each reaches the server's own call."""
        hub = hub_probes(self.session.is_site_admin)
        for endpoint, client, probes in (("hub", self.hub, hub), ("project", self.project, PROJECT_PROBES)):
            with self.subTest(endpoint=endpoint):
                table = set(remote_calls(client))
                self.assertEqual(
                    (sorted(table - set(probes)), sorted(set(probes) - table)),
                    ([], []),
                    "(client methods without a probe, probes without a client method)",
                )
                self.assertProbesPass(probes, sorted(table & set(probes)))

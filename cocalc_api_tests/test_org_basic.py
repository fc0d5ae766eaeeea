"""The client's shape: the org API object, its methods and signatures, and the call table."""
import inspect
import typing
import uuid

from .client import Database, Jupyter, Messages, OrgToken, Organizations, Projects, Sync, System, remote_calls
from .session import get_session
from .support import ORG_CALLS, APITestCase

#: Every hub call the suite relies on (the foundation's list).
HUB_CALLS = {
    "system.ping", "system.test", "system.getNames", "system.userSearch",
    "projects.createProject", "projects.copyPathBetweenProjects", "projects.addCollaborator",
    "projects.removeCollaborator", "projects.start", "projects.stop", "projects.deleteProject",
    "projects.touch", "projects.state", "projects.status",
    "db.userQuery", "messages.send", "messages.get", "sync.history", "jupyter.kernels", "jupyter.execute",
} | set(ORG_CALLS)
#: Every project call the suite relies on.
PROJECT_CALLS = {
    "system.ping", "system.test", "system.exec", "system.jupyterExecute",
    "system.listJupyterKernels", "system.stopJupyterKernel",
}


def setUpModule() -> None:
    get_session()


def _parameters(method: typing.Callable) -> typing.Dict[str, inspect.Parameter]:
    return dict(inspect.signature(method).parameters)


class TestOrgAPIExposure(APITestCase):
    def test_org_api_object(self) -> None:
        self.assertIsInstance(self.hub.org, Organizations)
        self.assertIs(self.hub.org._endpoint, self.hub)

    def test_thirteen_org_methods(self) -> None:
        org_calls = {name for name in remote_calls(self.hub) if name.startswith("org.")}
        self.assertEqual(org_calls, set(ORG_CALLS))

    def test_methods_make_server_calls(self) -> None:
        missing = f"missing-org-{uuid.uuid4().hex[:12]}"
        self.assertCallFails(self.hub.org.get, missing, contains=f"Error: no org named '{missing}'")
        users = self.call(self.hub.org.get_users, missing)
        self.assertEqual(users, [], f"org.getUsers of a missing organization answered {users!r}")

    def test_message_signature(self) -> None:
        params = _parameters(self.hub.org.message)
        self.assertEqual(list(params), ["name", "subject", "body"])
        self.assertTrue(all(p.default is inspect.Parameter.empty for p in params.values()))

    def test_create_user_signature(self) -> None:
        params = _parameters(self.hub.org.create_user)
        self.assertEqual(list(params), ["name", "email", "firstName", "lastName", "password"])
        self.assertIs(params["email"].default, inspect.Parameter.empty)
        self.assertEqual([params[p].default for p in ("firstName", "lastName", "password")], [None, None, None])

    def test_create_token_returns_token_type(self) -> None:
        hints = typing.get_type_hints(Organizations.create_token)
        self.assertIs(hints["return"], OrgToken)
        self.assertEqual(typing.get_type_hints(OrgToken), {"token": str, "url": str})


class TestHubIntegrity(APITestCase):
    def test_org_attribute_class(self) -> None:
        self.assertIs(type(self.hub.org), Organizations)

    def test_other_groups_intact(self) -> None:
        groups = {"system": System, "projects": Projects, "db": Database, "messages": Messages, "sync": Sync, "jupyter": Jupyter}
        for attribute, cls in groups.items():
            with self.subTest(group=attribute):
                self.assertIs(type(getattr(self.hub, attribute)), cls)
        self.assertIn("now", self.call(self.hub.system.ping))

    def test_method_table_covers_every_call(self) -> None:
        self.assertEqual(set(remote_calls(self.hub)), HUB_CALLS)
        self.assertEqual(set(remote_calls(self.project)), PROJECT_CALLS)

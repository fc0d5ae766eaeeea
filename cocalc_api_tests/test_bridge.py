"""The HTTP bridges' own refusals, on ``/api/conat/hub`` and ``/api/conat/project``.

Each check needs only a random UUID, a bogus key or a key scoped to a tracked
project, so nothing is created on a server that refuses as CoCalc does.  The
texts are compared exactly: the bridges add no prefix, the hub's dispatcher
adds ``Error: ``.
"""
import uuid

import requests

from .session import get_session
from .support import KeyTestCase
from .wordings import INVALID_ID, NO_KEY, NO_PROJECT, NOT_PROJECT_COLLABORATOR, OTHER_PROJECT, PROJECT_NO_KEY, must_collaborate


def setUpModule() -> None:
    get_session()


class TestHubBridge(KeyTestCase):
    def test_unknown_functions(self) -> None:
        for name in ("x.nope", "system.nope"):
            with self.subTest(name=name):
                error = self.assertCallFails(lambda: self.hub.call(name, []), contains="")
                self.assertEqual(error.message, f"Error: unknown function '{name}'")

    def test_start_of_a_project_one_is_not_on(self) -> None:
        error = self.assertCallFails(self.hub.projects.start, str(uuid.uuid4()), contains="")
        self.assertEqual(error.message, must_collaborate("start it"))

    def test_no_authorization(self) -> None:
        answer = requests.post(
            self.session.config.host + "/api/conat/hub", json={"name": "system.ping", "args": []}, timeout=60
        )
        self.assertEqual((answer.status_code, answer.json()), (200, {"error": NO_KEY}))


class TestProjectBridge(KeyTestCase):
    def refusal(self, client, text: str) -> None:  # client: client.ScopedProject
        error = self.assertCallFails(client.system.ping, contains="")
        self.assertEqual(error.message, text)

    def test_account_key_refusals(self) -> None:
        key = self.session.config.api_key
        cases = (
            ("a random project", str(uuid.uuid4()), NOT_PROJECT_COLLABORATOR),
            ("no project_id", None, NO_PROJECT),
            ("an invalid project id", "not-a-uuid", INVALID_ID),
        )
        for what, project_id, text in cases:
            with self.subTest(what):
                self.refusal(self.project_with_key(key, project_id), text)

    def test_bogus_key(self) -> None:
        project_id = self.create_tracked_project()
        self.refusal(self.project_with_key(f"sk-bogus{uuid.uuid4().hex}", project_id), PROJECT_NO_KEY)

    def test_project_key_on_a_random_project(self) -> None:
        project_id = self.create_tracked_project()
        key = self.call(self.create_tracked_api_key, project_id)
        self.refusal(self.project_with_key(key["secret"], str(uuid.uuid4())), OTHER_PROJECT)

"""The hub API: system calls, projects, the database, messages, sync and Jupyter kernel specs."""
import time
import uuid

from .client import Hub
from .session import get_session
from .support import BAD_KEY_ERROR, APITestCase, remote_name

#: The states of a project that is not running (CoCalc's stop ends in "opened").
STOPPED = ("opened", "closed", "archived")


def setUpModule() -> None:
    get_session()


class TestHubSystem(APITestCase):
    """``system.*`` and the client itself."""

    def test_ping(self) -> None:
        answer = self.poll_call(self.hub.system.ping, accept=lambda a: isinstance(a, dict) and "now" in a, timeout=30)
        self.assertIsInstance(answer["now"], int, f"system.ping answered {answer!r}")
        self.assertLess(abs(answer["now"] / 1000 - time.time()), 3600, f"server clock far off: {answer!r}")

    def test_client_keeps_key_and_host(self) -> None:
        config = self.session.config
        hub = Hub(config.api_key, config.host + "/")
        self.addCleanup(hub.close)
        self.assertTrue(hub.api_key == config.api_key, "the Hub client did not keep its API key")
        self.assertEqual(hub.host, config.host)
        self.assertEqual(hub.url, config.host + "/api/conat/hub")
        self.assertFalse(config.api_key in repr(hub), "repr(Hub) shows the API key")

    def test_bogus_key_is_refused(self) -> None:
        bogus = Hub(f"sk-bogus{uuid.uuid4().hex}", self.session.config.host)
        self.addCleanup(bogus.close)
        error = self.assertCallFails(bogus.system.ping, contains=BAD_KEY_ERROR)
        self.assertFalse(bogus.api_key in str(error), "the error text shows the API key")

    def test_repeated_pings(self) -> None:
        times = [self.call(self.hub.system.ping)["now"] for _ in range(5)]
        self.assertEqual(times, sorted(times), f"system.ping went back in time: {times}")

    def test_user_search(self) -> None:
        tag = uuid.uuid4().hex[:8]
        first, last, email = f"Searchfirst{tag}", f"Searchlast{tag}", self.unique_email("search")
        account_id = self.create_other_account(email=email, firstName=first, lastName=last)
        with self.subTest(by="exact email"):
            found = self.call(self.hub.system.user_search, email)
            self.assertEqual([u["account_id"] for u in found], [account_id], f"userSearch({email!r}) answered {found!r}")
            self.assertEqual(
                (found[0].get("email_address"), found[0].get("first_name"), found[0].get("last_name")), (email, first, last)
            )
        for by, query in (("first name", first), ("last name", last)):
            with self.subTest(by=by):
                found = self.call(self.hub.system.user_search, query)
                self.assertIn(account_id, [u["account_id"] for u in found], f"userSearch({query!r}) answered {found!r}")
        with self.subTest(by="nonsense"):
            nonsense = f"xyznothing{uuid.uuid4().hex}"
            self.assertEqual(self.call(self.hub.system.user_search, nonsense), [])


class TestHubProjects(APITestCase):
    """``projects.*``, ``db.userQuery``, ``messages``, ``sync`` and ``jupyter.kernels``."""

    def test_create_project(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("create"))
        self.assertEqual(str(uuid.UUID(project_id)), project_id)
        self.assertEqual(self.project_row(project_id, "title")["project_id"], project_id)

    def test_list_projects(self) -> None:
        project_id = self.project_id
        projects = self.call(self.hub.projects.get)
        self.assertIsInstance(projects, list)
        for project in projects:
            self.assertIsInstance(project, dict)
            self.assertIsInstance(project.get("project_id"), str, f"row without project_id: {project!r}")
        self.assertIn(project_id, [p["project_id"] for p in projects])

    def test_delete_project(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("delete"))
        self.assertIsNone(self.call(self.hub.projects.delete, project_id))
        self.assertIs(self.project_row(project_id, "deleted").get("deleted"), True)

    def test_state_and_status(self) -> None:
        self.call(self.project.system.ping)
        state = self.poll_call(self.hub.projects.state, self.project_id, accept=lambda s: s.get("state") == "running")
        self.assertIsInstance(state.get("time"), str, f"projects.state answered {state!r}")
        status = self.call(self.hub.projects.status, self.project_id)
        self.assertIsInstance(status, dict)
        self.assertIsInstance(status.get("project.pid"), int, f"projects.status answered {status!r}")
        self.assertGreater(status["project.pid"], 0)
        self.assertIsInstance(status.get("start_ts"), int, f"projects.status answered {status!r}")

    def test_project_lifecycle(self) -> None:
        title = self.unique_name("lifecycle")
        project_id = self.create_tracked_project(title=title, description="lifecycle test")
        self.assertIsNone(self.call(self.hub.projects.start, project_id))
        client = self.hub.project(project_id)
        self.addCleanup(client.close)
        self.poll_call(client.system.ping, what=f"ping of started project {project_id}")
        self.assertEqual(self.project_row(project_id, "title", all=False).get("title"), title)
        uname = self.exec_ok("uname", project=client, args=["-a"])
        self.assertIn("Linux", uname["stdout"])
        self.assertIsNone(self.call(self.hub.projects.stop, project_id))
        self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") in STOPPED)
        self.assertIsNone(self.call(self.hub.projects.delete, project_id))
        self.assertIs(self.project_row(project_id, "deleted").get("deleted"), True)

    def test_collaborators(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("collab"))
        other = self.create_other_account()
        owner = self.session.account_id
        answer = self.call(self.hub.projects.add_collaborator, project_id, other)
        self.assertEqual(answer, {"project_id": [project_id]})
        users = self.project_row(project_id, "users")["users"]
        self.assertEqual(users.get(other, {}).get("group"), "collaborator", f"users after add: {users!r}")
        self.assertEqual(users.get(owner, {}).get("group"), "owner", f"users after add: {users!r}")
        self.assertIsNone(self.call(self.hub.projects.remove_collaborator, project_id, other))
        users = self.project_row(project_id, "users")["users"]
        self.assertNotIn(other, users)
        self.assertEqual(users.get(owner, {}).get("group"), "owner", f"users after remove: {users!r}")

    def test_stop(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("stop"), start=True)
        self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") == "running")
        self.assertIsNone(self.call(self.hub.projects.stop, project_id))
        state = self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") in STOPPED)
        self.assertIn(state.get("state"), STOPPED)

    def test_touch(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("touch"))
        self.assertIsNone(self.call(self.hub.projects.touch, project_id))
        account_id = self.session.account_id
        row = self.poll_call(
            self.project_row,
            project_id,
            "last_active",
            accept=lambda r: account_id in (r.get("last_active") or {}),
            what=f"projects.touch recorded in last_active of {project_id}",
        )
        self.assertIsInstance(row["last_active"][account_id], str)

    def test_get_names(self) -> None:
        tag = uuid.uuid4().hex[:8]
        account_id = self.create_other_account(firstName=f"Named{tag}", lastName="Person")
        names = self.call(self.hub.system.get_names, [account_id])
        self.assertIsInstance(names, dict)
        self.assertEqual(names.get(account_id, {}).get("first_name"), f"Named{tag}", f"getNames answered {names!r}")
        self.assertEqual(names[account_id].get("last_name"), "Person")

    def test_copy_path_between_projects(self) -> None:
        content = uuid.uuid4().hex
        source, target = f"copy-src-{content[:8]}.txt", f"copy-dst-{content[:8]}.txt"
        self.exec_ok(f"echo {content} > {source}", bash=True)
        target_id = self.create_tracked_project(title=self.unique_name("copy"))
        answer = self.call(
            self.hub.projects.copy_path_between_projects, self.project_id, source, target_project_id=target_id, target_path=target
        )
        self.assertIsNone(answer)
        self.call(self.hub.projects.start, target_id)
        client = self.hub.project(target_id)
        self.addCleanup(client.close)
        self.poll_call(client.system.ping, what=f"ping of project {target_id}")
        self.assertEqual(self.exec_ok("cat", project=client, args=[target])["stdout"], content + "\n")

    def test_sync_history(self) -> None:
        path = f"{self.unique_name('history')}.txt"
        self.exec_ok(f"echo initial > {path}", bash=True)
        history = self.call(self.hub.sync.history, self.project_id, path)
        self.assertIsInstance(history, dict, f"sync.history answered {history!r}")
        self.assertIsInstance(history.get("patches"), list, f"sync.history answered {history!r}")
        self.assertIsInstance(history.get("info"), dict, f"sync.history answered {history!r}")

    def test_db_query(self) -> None:
        answer = self.call(self.hub.db.query, {"accounts": {"first_name": None, "account_id": None}})
        self.assertIsInstance(answer.get("accounts"), dict, f"db.userQuery answered {answer!r}")
        self.assertEqual(answer["accounts"].get("account_id"), self.session.account_id)
        self.assertIsInstance(answer["accounts"].get("first_name"), str, f"db.userQuery answered {answer!r}")

    def test_messages_send(self) -> None:
        recipient = self.create_other_account()
        subject = self.unique_name("subject")
        message_id = self.call(self.hub.messages.send, subject, "a test message", [recipient])
        self.assertIsInstance(message_id, int, f"messages.send answered {message_id!r}")
        self.track_message(message_id)
        self.assertGreater(message_id, 0)
        message = self.sent_message(lambda m: m.get("id") == message_id, f"message {message_id}")
        self.assertEqual((message.get("subject"), message.get("to_ids")), (subject, [recipient]), f"sent message: {message!r}")

    def test_jupyter_kernels(self) -> None:
        kernels = self.call(self.hub.jupyter.kernels, project_id=self.project_id)
        self.assertIsInstance(kernels, list)
        self.assertTrue(kernels, f"{remote_name(self.hub.jupyter.kernels)} listed no kernel specs")
        for spec in kernels:
            with self.subTest(spec=spec.get("name")):
                self.assertIsInstance(spec.get("name"), str)
                self.assertIsInstance(spec.get("display_name"), str)

"""The hub API: system calls, projects, the database, messages, sync and Jupyter kernel specs."""
import ipaddress
import time
import uuid
from typing import Any, Dict

import requests

from .changes import AGAIN, in_state
from .client import Hub
from .support import (
    BAD_KEY_ERROR, CLOCK_SKEW, HTTP_GET_TIMEOUT, APITestCase, background_project, parse_time, prepare, remote_name,
)
from .wordings import MUST_SIGN_IN

#: The states of a project that is not running (CoCalc's stop ends in "opened").
STOPPED = ("opened", "closed", "archived")
#: Seconds between two pings: the server's clock (in ms) must have moved on.
PING_GAP = 0.01
#: Seconds a ping may keep timing out (a busy server) before it fails.
PING_WAIT = 30.0
#: The files in the project's ``$DATA`` (``~/.smc``) that ``projects.status`` reports, and the keys it gives them.
STATUS_FILES = (("project.pid", "project.pid"), ("start-timestamp.txt", "start_ts"), ("session-id.txt", "session_id"))
#: Seconds the hub (30) and the project (15) may each answer kernel specs from their caches, and a margin.
KERNEL_SPECS_WAIT = 60.0
#: The projects the slow tests need: made (and started) in the background from the module's set-up,
#: so that the tests only wait for what is left.  Job name -> ``background_project`` options.
PROJECT_JOBS: Dict[str, Dict[str, Any]] = {
    "test_hub lifecycle": {"start": True, "description": "lifecycle test"},
    "test_hub stop": {"start": True},
    "test_hub touch": {},
    "test_hub copy target": {"start": True},
}


def setUpModule() -> None:
    session = prepare()
    for job, options in PROJECT_JOBS.items():
        background_project(session, job, **options)


class HubTestCase(APITestCase):
    """Tests that use a project made for them in the background."""

    def project_for(self, job: str) -> Dict[str, Any]:
        """The project made for *job* in the background (``{"project_id", "title", "start"?}``)."""
        return self.prepared(job, lambda: background_project(self.session, job, **PROJECT_JOBS[job]))

    def stop(self, project_id: str) -> Dict[str, Any]:
        """``projects.stop``, answered ``None`` (or seen through), until ``projects.state`` says stopped; that state."""
        answer = self.change(
            self.hub.projects.stop, project_id, read=lambda: self.hub.projects.state(project_id), accept=in_state(STOPPED),
            again=AGAIN,
        )
        self.assertAnswered(answer, None, f"projects.stop({project_id!r})")
        return self.poll_call(self.hub.projects.state, project_id, accept=in_state(STOPPED))


class TestHubSystem(APITestCase):
    """``system.*`` and the client itself."""

    def ping(self) -> int:
        """``system.ping``'s ``now``; a timeout is asked again (a busy server), any other answer is judged at once."""
        answer = self.poll_call(self.hub.system.ping, timeout=PING_WAIT)
        self.assertTrue(isinstance(answer, dict) and set(answer) == {"now"}, f"system.ping answered {answer!r}")
        self.assertRecentMs(answer["now"], "system.ping's now")
        return answer["now"]

    def test_ping(self) -> None:
        self.ping()

    def test_client_keeps_key_and_host(self) -> None:
        """A new Hub client (host with a trailing slash) reaches this server as this key's account, and only the hub."""
        config = self.session.config
        hub = Hub(config.api_key, config.host + "/")  # built by hand: the trailing slash is the point
        self.addCleanup(hub.close)
        scope = self.call(hub.system.test)
        self.assertEqual(scope.get("account_id"), self.session.account_id, f"system.test answered {scope!r}")
        self.assertRecentMs(scope.get("server_time"), "system.test's server_time")
        # The hub's API has no project calls: a project endpoint's call is unknown there.
        self.assertCallFails(hub.call, "system.exec", [{"command": "true"}], contains="Error: unknown function 'system.exec'")

    def test_bogus_key_is_refused(self) -> None:
        """The hub refuses a bogus key with CoCalc's text, and its raw answer (before the client's redaction) hides the key."""
        bogus = f"sk-bogus{uuid.uuid4().hex}"
        answer = requests.post(
            self.session.config.host + "/api/conat/hub", json={"name": "system.ping", "args": []}, auth=(bogus, ""),
            timeout=HTTP_GET_TIMEOUT,
        )
        raw = answer.text + "".join(f"{name}: {value}" for name, value in answer.headers.items())
        self.assertNotIn(bogus[len("sk-"):], raw, "the server's answer to a bogus key shows the key")
        self.assertEqual((answer.status_code, answer.json()), (200, {"error": MUST_SIGN_IN}), f"answer {answer.text!r}")
        self.assertCallFails(self.session.client(bogus).system.ping, contains=BAD_KEY_ERROR)

    def test_repeated_pings(self) -> None:
        """Each ping's ``now`` is later than the one before (pings :data:`PING_GAP` apart) and close to our clock."""
        times = [self.ping()]
        for _ in range(4):
            time.sleep(PING_GAP)
            times.append(self.ping())
            self.assertGreater(times[-1], times[-2], f"system.ping's now did not move on in {PING_GAP} s: {times}")

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


class TestHubProjects(HubTestCase):
    """``projects.*``, ``db.userQuery``, ``messages``, ``sync`` and ``jupyter.kernels``."""

    def test_create_project(self) -> None:
        title, description = self.unique_name("create"), f"made by test_create_project ({uuid.uuid4().hex[:8]})"
        project_id = self.create_tracked_project(title=title, description=description)
        self.assertEqual(str(uuid.UUID(project_id)), project_id)
        row = self.project_row(project_id, "title", "description", "users")
        self.assertEqual((row.get("title"), row.get("description")), (title, description), f"project row: {row!r}")
        users = row.get("users") or {}
        self.assertEqual(set(users), {self.session.account_id}, f"users of a new project: {users!r}")
        self.assertEqual(users[self.session.account_id].get("group"), "owner", f"users of a new project: {users!r}")

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
        self.assertRecent(parse_time(state["time"]), "projects.state's time")
        if "ip" in state:  # where the hub reaches the project: an address (CoCalc's own control says 127.0.0.1)
            try:
                ipaddress.ip_address(state["ip"])
            except ValueError:
                self.fail(f"projects.state's ip is no IP address: {state!r}")
        status = self.call(self.hub.projects.status, self.project_id)
        self.assertIsInstance(status, dict)
        self.assertIsInstance(status.get("project.pid"), int, f"projects.status answered {status!r}")
        self.assertGreater(status["project.pid"], 0)
        self.assertIsInstance(status.get("start_ts"), int, f"projects.status answered {status!r}")
        # The running project started after it was created, and not in the future.
        created = parse_time(self.project_row(self.project_id, "created")["created"]).timestamp()
        self.assertGreaterEqual(status["start_ts"] / 1000, created - CLOCK_SKEW, f"start_ts before creation: {status!r}")
        self.assertLessEqual(status["start_ts"] / 1000, time.time() + CLOCK_SKEW, f"start_ts in the future: {status!r}")
        files = self.status_files()
        self.assertEqual({k: status.get(k) for k in files}, files, "projects.status against the files in the project's $DATA")

    def status_files(self) -> Dict[str, Any]:
        """What the shared project's ``$DATA`` files say, as ``projects.status`` reports them (a missing file left out)."""
        names = " ".join(name for name, _ in STATUS_FILES)
        script = f'd="${{DATA:-$HOME/.smc}}"; for f in {names}; do printf "%s\\n" "$(cat "$d/$f" 2>/dev/null)"; done'
        lines = self.exec_ok(script, bash=True)["stdout"].split("\n")
        found: Dict[str, Any] = {}
        for (_, key), text in zip(STATUS_FILES, lines):
            text = text.strip()
            if text:
                found[key] = text if key == "session_id" else int(text)
        self.assertIn("project.pid", found, f"the project's $DATA has no project.pid: {lines!r}")
        return found

    def test_collaborators(self) -> None:
        project_id = self.create_tracked_project(title=self.unique_name("collab"))
        other = self.create_other_account()
        owner = self.session.account_id
        groups = lambda: {a: u.get("group") for a, u in (self.project_row(project_id, "users").get("users") or {}).items()}
        with self.subTest(form="single ids"):
            answer = self.call(self.hub.projects.add_collaborator, project_id, other)
            self.assertEqual(answer, {"project_id": [project_id]})
            self.assertEqual(groups(), {owner: "owner", other: "collaborator"}, "users after addCollaborator")
            self.assertIsNone(self.call(self.hub.projects.remove_collaborator, project_id, other))
            self.assertEqual(groups(), {owner: "owner"}, "users after removeCollaborator")
        with self.subTest(form="arrays"):
            answer = self.call(self.hub.projects.add_collaborator, [project_id], [other])
            self.assertEqual(answer, {"project_id": [project_id]})
            self.assertEqual(groups(), {owner: "owner", other: "collaborator"}, "users after addCollaborator of arrays")
        with self.subTest(refused="removing the owner"):
            self.assertCallFails(
                self.hub.projects.remove_collaborator,
                project_id,
                owner,
                contains="OwnershipError: Cannot remove an owner. Demote to collaborator first.",
            )
            self.assertEqual(groups(), {owner: "owner", other: "collaborator"}, "users after the refused removal")

    def test_touch(self) -> None:
        project_id = self.project_for("test_hub touch")["project_id"]
        before = time.time()
        self.assertIsNone(self.call(self.hub.projects.touch, project_id))
        account_id = self.session.account_id
        row = self.poll_call(
            self.project_row,
            project_id,
            "last_active",
            accept=lambda r: account_id in (r.get("last_active") or {}),
            what=f"projects.touch recorded in last_active of {project_id}",
        )
        self.assertRecent(parse_time(row["last_active"][account_id]), "last_active after projects.touch", before)
        # CoCalc's touch also starts a project that is not running.
        self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") == "running")

    def test_get_names(self) -> None:
        tag = uuid.uuid4().hex[:8]
        account_id = self.create_other_account(firstName=f"Named{tag}", lastName="Person")
        names = self.call(self.hub.system.get_names, [account_id])
        self.assertIsInstance(names, dict)
        self.assertEqual(names.get(account_id, {}).get("first_name"), f"Named{tag}", f"getNames answered {names!r}")
        self.assertEqual(names[account_id].get("last_name"), "Person")

    def test_sync_history(self) -> None:
        """A file written by exec was never opened in an editor: no patches, no info.  Strangers are refused."""
        path = self.scratch_path(f"{self.unique_name('history')}.txt")
        self.exec_ok(f"echo initial > {path}", bash=True)
        history = self.call(self.hub.sync.history, self.project_id, path)
        self.assertEqual(history, {"patches": [], "info": {}}, "sync.history of a file never opened")
        stranger = str(uuid.uuid4())
        self.assertCallFails(
            self.hub.sync.history, stranger, path, contains="Error: user must be collaborator on source project"
        )

    def test_db_query(self) -> None:
        answer = self.call(self.hub.db.query, {"accounts": {"first_name": None, "account_id": None}})
        self.assertIsInstance(answer.get("accounts"), dict, f"db.userQuery answered {answer!r}")
        self.assertEqual(answer["accounts"].get("account_id"), self.session.account_id)
        self.assertIsInstance(answer["accounts"].get("first_name"), str, f"db.userQuery answered {answer!r}")
        me = self.session.account_id
        names = self.call(self.hub.system.get_names, [me])
        self.assertEqual(answer["accounts"]["first_name"].strip(), names.get(me, {}).get("first_name"), f"getNames: {names!r}")

    def test_messages_send(self) -> None:
        recipient = self.create_other_account()
        subject = self.unique_name("subject")
        body = f"a test message, **markdown** and ünïcode ({uuid.uuid4().hex[:8]})"
        message_id = self.call(self.hub.messages.send, subject, body, [recipient])
        self.assertIsInstance(message_id, int, f"messages.send answered {message_id!r}")
        self.track_message(message_id)
        self.assertGreater(message_id, 0)
        message = self.sent_message(lambda m: m.get("id") == message_id, f"message {message_id}")
        self.assertEqual((message.get("subject"), message.get("to_ids")), (subject, [recipient]), f"sent message: {message!r}")
        self.assertEqual(message.get("body"), body)
        self.assertEqual(message.get("from_id"), self.session.account_id)

    def test_jupyter_kernels(self) -> None:
        kernels = self.call(self.hub.jupyter.kernels, project_id=self.project_id)
        self.assertIsInstance(kernels, list)
        self.assertTrue(kernels, f"{remote_name(self.hub.jupyter.kernels)} listed no kernel specs")
        for spec in kernels:
            with self.subTest(spec=spec.get("name")):
                self.assertIsInstance(spec.get("name"), str)
                self.assertIsInstance(spec.get("display_name"), str)
                self.assertTrue(isinstance(spec.get("language"), str) and spec["language"], f"spec {spec!r}")
                if spec["name"] == "python3":
                    self.assertEqual(spec["language"], "python", f"spec {spec!r}")
        # The hub asks the project for them: the same specs as the project's own list (each may be cached a while).
        self.poll_call(
            lambda: (self.specs(self.hub.jupyter.kernels(project_id=self.project_id)),
                     self.specs(self.project.editor.jupyter_kernels())),
            accept=lambda pair: pair[0] == pair[1], timeout=KERNEL_SPECS_WAIT,
            what="jupyter.kernels equal to the project's editor.jupyterKernels (name: display name, language)",
        )

    @staticmethod
    def specs(kernels: Any) -> Dict[str, Any]:
        """Kernel specs as ``{name: (display name, language)}``."""
        return {spec.get("name"): (spec.get("display_name"), spec.get("language")) for spec in kernels or []}


class TestProjectLifecycle(HubTestCase):
    """A project's whole life: created, started, used, stopped, deleted (its own class, so it overlaps others)."""

    def test_project_lifecycle(self) -> None:
        made = self.project_for("test_hub lifecycle")
        project_id = made["project_id"]
        self.assertAnswered(made["start"], None, f"projects.start({project_id!r})")
        client = self.hub.project(project_id)
        self.addCleanup(client.close)
        self.assertIn("now", self.call(client.system.ping))
        row = self.project_row(project_id, "title", "description", all=False)
        self.assertEqual((row.get("title"), row.get("description")), (made["title"], "lifecycle test"))
        uname = self.exec_ok("uname", project=client, args=["-a"])
        self.assertIn("Linux", uname["stdout"])
        self.stop(project_id)
        rows = lambda: self.hub.projects.get(fields=("project_id", "deleted"), all=True, project_id=project_id)
        answer = self.change(self.hub.projects.delete, project_id, read=rows, accept=lambda r: r and r[0].get("deleted"),
                             again=AGAIN)
        self.assertAnswered(answer, None, f"projects.deleteProject({project_id!r})")
        self.assertIs(self.project_row(project_id, "deleted").get("deleted"), True)


class TestProjectStop(HubTestCase):
    """``projects.stop`` of a running project (a slow server step, in its own class)."""

    def test_stop(self) -> None:
        project_id = self.project_for("test_hub stop")["project_id"]
        self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") == "running")
        state = self.stop(project_id)
        self.assertIn(state.get("state"), STOPPED, f"projects.state({project_id!r}) after the stop")


class TestCopyPath(HubTestCase):
    """``projects.copyPathBetweenProjects`` into another, running project."""

    def test_copy_path_between_projects(self) -> None:
        content = uuid.uuid4().hex
        source, target = self.scratch_path(f"copy-src-{content[:8]}.txt"), f"copy-dst-{content[:8]}.txt"
        self.exec_ok(f"echo {content} > {source}", bash=True)
        target_id = self.project_for("test_hub copy target")["project_id"]
        client = self.hub.project(target_id)
        self.addCleanup(client.close)
        copied = lambda: client.system.exec("cat", args=[target], err_on_exit=False)
        answer = self.change(
            self.hub.projects.copy_path_between_projects, self.project_id, source,
            target_project_id=target_id, target_path=target,
            read=copied, accept=lambda result: result.get("stdout") == content + "\n", again=AGAIN,
        )
        self.assertAnswered(answer, None, "projects.copyPathBetweenProjects")
        self.assertEqual(self.exec_ok("cat", project=client, args=[target])["stdout"], content + "\n")

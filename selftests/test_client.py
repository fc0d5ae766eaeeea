"""cocalc_api_tests.client against a real loopback HTTP server that records every request.

The server (one per test class) answers each call from a table the test fills in
(call name -> reply, or a function of the recorded request); calls not in the table
get ``{"echo": <request body>}``.  The tests check what goes over the wire (path,
auth header, JSON body, argument shapes, timeouts), how answers and failures come
back, and that the API key never shows up in an error text or a client's ``repr``.
"""
import inspect
import typing
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

from cocalc_api_tests.client import JUPYTER_TIMEOUT, Hub, Project, Projects, remote_calls
from cocalc_api_tests.errors import CoCalcAPIError, CoCalcConnectionError, CoCalcError
from cocalc_api_tests import hub_api
from cocalc_api_tests.hub_api import CREATE_TIMEOUT_MS
from cocalc_api_tests.project_api import ProjectSystem

from helpers import (
    ACCOUNT_ID, API_KEY, HUB_PATH, KEY_SECRET, OTHER_ACCOUNT_ID, OTHER_PROJECT_ID, PROJECT_ID, PROJECT_PATH,
    BridgeTestCase, Recorded, Reply, closed_port, error_texts, json_reply, leaked_fragment, text_reply,
)


# --------------------------------------------------------------------------- wire


class WireFormatTest(BridgeTestCase):
    def test_hub_posts_json_to_the_hub_path(self) -> None:
        request = self.sent_by(self.hub.system.ping)
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.path, HUB_PATH)
        self.assertEqual(request.headers.get("Content-Type"), "application/json")
        self.assertEqual(request.body, {"name": "system.ping", "args": []})
        self.assertEqual(self.hub.url, self.server.base_url + HUB_PATH)

    def test_project_posts_json_with_project_id_to_the_project_path(self) -> None:
        request = self.sent_by(self.project.system.ping)
        self.assertEqual(request.path, PROJECT_PATH)
        self.assertEqual(request.headers.get("Content-Type"), "application/json")
        self.assertEqual(request.body, {"name": "system.ping", "args": [], "project_id": PROJECT_ID})
        self.assertEqual(self.project.url, self.server.base_url + PROJECT_PATH)

    def test_basic_auth_with_key_as_user_and_empty_password(self) -> None:
        for client in (self.hub, self.project):
            with self.subTest(client=type(client).__name__):
                request = self.sent_by(client.system.test)
                self.assertTrue(request.headers["Authorization"].startswith("Basic "))
                self.assertEqual(request.basic_credentials, f"{API_KEY}:")

    def test_trailing_slash_of_host_does_not_double_the_slash(self) -> None:
        hub = self.client(Hub(API_KEY, self.server.base_url + "/"))
        self.assertEqual(hub.host, self.server.base_url)
        self.assertEqual(self.sent_by(hub.system.ping).path, HUB_PATH)

    def test_hub_project_shares_key_host_and_timeout(self) -> None:
        hub = self.client(Hub(API_KEY, self.server.base_url, http_timeout=7.5))
        project = self.client(hub.project(OTHER_PROJECT_ID))
        self.assertIsInstance(project, Project)
        self.assertEqual((project.host, project.project_id, project.http_timeout), (hub.host, OTHER_PROJECT_ID, 7.5))
        request = self.sent_by(project.system.ping)
        self.assertEqual(request.path, PROJECT_PATH)
        self.assertEqual(request.body["project_id"], OTHER_PROJECT_ID)
        self.assertEqual(request.basic_credentials, f"{API_KEY}:")

    def test_answer_is_returned_decoded(self) -> None:
        self.reply("system.ping", json_reply({"now": 1795556211094}))
        self.reply("projects.createProject", json_reply(PROJECT_ID))
        self.reply("system.listJupyterKernels", json_reply([{"pid": 12, "connectionFile": "/k.json"}]))
        self.assertEqual(self.hub.system.ping(), {"now": 1795556211094})
        self.assertEqual(self.hub.projects.create_project(title="t"), PROJECT_ID)
        self.assertEqual(self.project.system.list_jupyter_kernels(), [{"pid": 12, "connectionFile": "/k.json"}])

    def test_null_answer_is_returned_as_none(self) -> None:
        self.reply("projects.start", json_reply(None))
        self.assertIsNone(self.hub.projects.start(PROJECT_ID))
        self.assertEqual(self.single_request().body["name"], "projects.start")


# ------------------------------------------------------------------ argument shapes

#: (remote name, call on a Hub, expected args, expected bridge timeout in ms or None)
HUB_CASES: List[Tuple[str, Callable[[Hub], Any], List[Any], Optional[int]]] = [
    ("system.ping", lambda h: h.system.ping(), [], None),
    ("system.test", lambda h: h.system.test(), [], None),
    ("system.getNames", lambda h: h.system.get_names((ACCOUNT_ID, OTHER_ACCOUNT_ID)), [[ACCOUNT_ID, OTHER_ACCOUNT_ID]], None),
    ("system.userSearch", lambda h: h.system.user_search("alice", limit=5), [{"query": "alice", "limit": 5}], None),
    ("system.userSearch", lambda h: h.system.user_search("bob@example.org"), [{"query": "bob@example.org"}], None),
    ("projects.createProject", lambda h: h.projects.create_project(), [{}], CREATE_TIMEOUT_MS),
    (
        "projects.createProject",
        lambda h: h.projects.create_project(title="T", description="D", license="L", start=False),
        [{"title": "T", "description": "D", "license": "L", "start": False}],
        CREATE_TIMEOUT_MS,
    ),
    (
        "projects.copyPathBetweenProjects",
        lambda h: h.projects.copy_path_between_projects(PROJECT_ID, "a.txt", target_path="b.txt"),
        [{"src_project_id": PROJECT_ID, "src_path": "a.txt", "target_path": "b.txt"}],
        None,
    ),
    (
        "projects.copyPathBetweenProjects",
        lambda h: h.projects.copy_path_between_projects(PROJECT_ID, "d/", OTHER_PROJECT_ID, "e/"),
        [{"src_project_id": PROJECT_ID, "src_path": "d/", "target_project_id": OTHER_PROJECT_ID, "target_path": "e/"}],
        None,
    ),
    (
        "projects.addCollaborator",
        lambda h: h.projects.add_collaborator(PROJECT_ID, ACCOUNT_ID),
        [{"opts": {"project_id": PROJECT_ID, "account_id": ACCOUNT_ID}}],
        None,
    ),
    (
        "projects.addCollaborator",
        lambda h: h.projects.add_collaborator([PROJECT_ID, OTHER_PROJECT_ID], [ACCOUNT_ID, OTHER_ACCOUNT_ID]),
        [{"opts": {"project_id": [PROJECT_ID, OTHER_PROJECT_ID], "account_id": [ACCOUNT_ID, OTHER_ACCOUNT_ID]}}],
        None,
    ),
    (
        "projects.removeCollaborator",
        lambda h: h.projects.remove_collaborator(PROJECT_ID, ACCOUNT_ID),
        [{"opts": {"project_id": PROJECT_ID, "account_id": ACCOUNT_ID}}],
        None,
    ),
    ("projects.start", lambda h: h.projects.start(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    ("projects.stop", lambda h: h.projects.stop(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    ("projects.deleteProject", lambda h: h.projects.delete(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    ("projects.touch", lambda h: h.projects.touch(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    ("projects.state", lambda h: h.projects.state(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    ("projects.status", lambda h: h.projects.status(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    (
        "db.userQuery",
        lambda h: h.db.query({"accounts": {"first_name": None}}),
        [{"query": {"accounts": {"first_name": None}}}],
        None,
    ),
    (
        "messages.send",
        lambda h: h.messages.send("Hi", "Body", (ACCOUNT_ID,)),
        [{"subject": "Hi", "body": "Body", "to_ids": [ACCOUNT_ID]}],
        None,
    ),
    (
        "messages.send",
        lambda h: h.messages.send("Re: Hi", "Body", [ACCOUNT_ID, OTHER_ACCOUNT_ID], reply_id=17),
        [{"subject": "Re: Hi", "body": "Body", "to_ids": [ACCOUNT_ID, OTHER_ACCOUNT_ID], "reply_id": 17}],
        None,
    ),
    ("messages.get", lambda h: h.messages.get(), [{}], None),
    (
        "messages.get",
        lambda h: h.messages.get(limit=10, offset=20, type="received"),
        [{"limit": 10, "offset": 20, "type": "received"}],
        None,
    ),
    ("sync.history", lambda h: h.sync.history(PROJECT_ID, "a.md"), [{"project_id": PROJECT_ID, "path": "a.md"}], None),
    ("jupyter.kernels", lambda h: h.jupyter.kernels(), [{}], None),
    ("jupyter.kernels", lambda h: h.jupyter.kernels(PROJECT_ID), [{"project_id": PROJECT_ID}], None),
    (
        "jupyter.execute",
        lambda h: h.jupyter.execute("2+2", "python3"),
        [{"input": "2+2", "kernel": "python3"}],
        JUPYTER_TIMEOUT * 1000,
    ),
    (
        "jupyter.execute",
        lambda h: h.jupyter.execute("x", "python3", history=["x=1"], project_id=PROJECT_ID, path="n.ipynb", timeout=2.5),
        [{"input": "x", "history": ["x=1"], "kernel": "python3", "project_id": PROJECT_ID, "path": "n.ipynb"}],
        2500,
    ),
    ("system.getCustomize", lambda h: h.system.get_customize(), [], None),
    ("system.getCustomize", lambda h: h.system.get_customize(("siteName",)), [["siteName"]], None),
    ("system.userTracking", lambda h: h.system.user_tracking("ev", {"n": 1}), [{"event": "ev", "value": {"n": 1}}], None),
    ("system.logClientError", lambda h: h.system.log_client_error("ev", "err"), [{"event": "ev", "error": "err"}], None),
    ("system.webappError", lambda h: h.system.webapp_error(message="m", lineNumber=3), [{"message": "m", "lineNumber": 3}], None),
    (
        "system.manageApiKeys",
        lambda h: h.system.manage_api_keys("create", project_id=PROJECT_ID, name="k", expire="2030-01-01T00:00:00.000Z"),
        [{"action": "create", "project_id": PROJECT_ID, "name": "k", "expire": "2030-01-01T00:00:00.000Z"}],
        CREATE_TIMEOUT_MS,
    ),
    ("system.manageApiKeys", lambda h: h.system.manage_api_keys("get", id=5), [{"action": "get", "id": 5}], None),
    (
        "system.generateUserAuthToken",
        lambda h: h.system.generate_user_auth_token(ACCOUNT_ID),
        [{"user_account_id": ACCOUNT_ID}],
        CREATE_TIMEOUT_MS,
    ),
    (
        "system.generateUserAuthToken",
        lambda h: h.system.generate_user_auth_token(ACCOUNT_ID, password="pw"),
        [{"user_account_id": ACCOUNT_ID, "password": "pw"}],
        CREATE_TIMEOUT_MS,
    ),
    ("system.revokeUserAuthToken", lambda h: h.system.revoke_user_auth_token("tok123"), ["tok123"], None),
    (
        "system.adminResetPasswordLink",
        lambda h: h.system.admin_reset_password_link(ACCOUNT_ID),
        [{"user_account_id": ACCOUNT_ID}],
        None,
    ),
    (
        "projects.changeUserType",
        lambda h: h.projects.change_user_type(PROJECT_ID, ACCOUNT_ID, "owner"),
        [{"opts": {"project_id": PROJECT_ID, "target_account_id": ACCOUNT_ID, "new_group": "owner"}}],
        None,
    ),
    (
        "projects.inviteCollaborator",
        lambda h: h.projects.invite_collaborator(PROJECT_ID, ACCOUNT_ID),
        [{"opts": {"project_id": PROJECT_ID, "account_id": ACCOUNT_ID}}],
        None,
    ),
    (
        "projects.setQuotas",
        lambda h: h.projects.set_quotas(PROJECT_ID, memory=1000, cores=2),
        [{"project_id": PROJECT_ID, "memory": 1000, "cores": 2}],
        None,
    ),
    ("db.touch", lambda h: h.db.touch(), [{}], None),
    (
        "db.touch",
        lambda h: h.db.touch(PROJECT_ID, "a.md", "read"),
        [{"project_id": PROJECT_ID, "path": "a.md", "action": "read"}],
        None,
    ),
    (
        "db.fileUseTimes",
        lambda h: h.db.file_use_times(PROJECT_ID, "a.md", access_times=False, edit_times=True),
        [{"project_id": PROJECT_ID, "path": "a.md", "access_times": False, "edit_times": True}],
        None,
    ),
    (
        "db.getLegacyTimeTravelInfo",
        lambda h: h.db.get_legacy_time_travel_info(PROJECT_ID, "a.md"),
        [{"project_id": PROJECT_ID, "path": "a.md"}],
        None,
    ),
    ("db.getLegacyTimeTravelPatches", lambda h: h.db.get_legacy_time_travel_patches(PROJECT_ID), [{"uuid": PROJECT_ID}], None),
    ("db.removeBlobTtls", lambda h: h.db.remove_blob_ttls((PROJECT_ID,)), [{"uuids": [PROJECT_ID]}], None),
    ("purchases.getBalance", lambda h: h.purchases.get_balance(), [], None),
    ("purchases.getMinBalance", lambda h: h.purchases.get_min_balance(), [], None),
    ("org.getAll", lambda h: h.org.get_all(), [{}], None),
    ("org.create", lambda h: h.org.create("acme"), [{"name": "acme"}], CREATE_TIMEOUT_MS),
    ("org.get", lambda h: h.org.get("acme"), [{"name": "acme"}], None),
    ("org.set", lambda h: h.org.set("acme"), [{"name": "acme"}], None),
    (
        "org.set",
        lambda h: h.org.set("acme", title="T", description="D", email_address="a@b.c", link="https://l"),
        [{"name": "acme", "title": "T", "description": "D", "email_address": "a@b.c", "link": "https://l"}],
        None,
    ),
    ("org.addAdmin", lambda h: h.org.add_admin("acme", ACCOUNT_ID), [{"name": "acme", "user": ACCOUNT_ID}], None),
    ("org.addUser", lambda h: h.org.add_user("acme", "u@example.org"), [{"name": "acme", "user": "u@example.org"}], None),
    ("org.createUser", lambda h: h.org.create_user("acme", "n@example.org"), [{"name": "acme", "email": "n@example.org"}], CREATE_TIMEOUT_MS),
    (
        "org.createUser",
        lambda h: h.org.create_user("acme", "n@example.org", firstName="F", lastName="L", password="pw"),
        [{"name": "acme", "email": "n@example.org", "firstName": "F", "lastName": "L", "password": "pw"}],
        CREATE_TIMEOUT_MS,
    ),
    ("org.createToken", lambda h: h.org.create_token(ACCOUNT_ID), [{"user": ACCOUNT_ID}], CREATE_TIMEOUT_MS),
    ("org.expireToken", lambda h: h.org.expire_token("tok123"), [{"token": "tok123"}], None),
    ("org.getUsers", lambda h: h.org.get_users("acme"), [{"name": "acme"}], None),
    ("org.removeUser", lambda h: h.org.remove_user("acme", ACCOUNT_ID), [{"name": "acme", "user": ACCOUNT_ID}], None),
    ("org.removeAdmin", lambda h: h.org.remove_admin("acme", ACCOUNT_ID), [{"name": "acme", "user": ACCOUNT_ID}], None),
    (
        "org.message",
        lambda h: h.org.message("acme", "Subject", "Body"),
        [{"name": "acme", "subject": "Subject", "body": "Body"}],
        None,
    ),
]

#: (remote name, call on a Project, expected args, expected bridge timeout in ms or None)
PROJECT_CASES: List[Tuple[str, Callable[[Project], Any], List[Any], Optional[int]]] = [
    ("system.ping", lambda p: p.system.ping(), [], None),
    ("system.test", lambda p: p.system.test(), [], None),
    ("system.exec", lambda p: p.system.exec("date"), [{"command": "date"}], None),
    ("system.exec", lambda p: p.system.exec("true", args=[]), [{"command": "true", "args": []}], None),
    (
        "system.exec",
        lambda p: p.system.exec(
            "ls", args=("-la",), path="d", cwd="/tmp", timeout=7, max_output=100, bash=False, env={"A": "1"}
        ),
        [{"command": "ls", "args": ["-la"], "path": "d", "cwd": "/tmp", "timeout": 7, "max_output": 100,
          "bash": False, "env": {"A": "1"}}],
        7000,
    ),
    (
        "system.jupyterExecute",
        lambda p: p.system.jupyter_execute("1+1", "python3"),
        [{"input": "1+1", "kernel": "python3"}],
        JUPYTER_TIMEOUT * 1000,
    ),
    (
        "system.jupyterExecute",
        lambda p: p.system.jupyter_execute("y", "python3", history=["y=2"], path="n.ipynb", timeout=3),
        [{"input": "y", "history": ["y=2"], "kernel": "python3", "path": "n.ipynb"}],
        3000,
    ),
    ("system.listJupyterKernels", lambda p: p.system.list_jupyter_kernels(), [{}], None),
    ("system.stopJupyterKernel", lambda p: p.system.stop_jupyter_kernel(4242), [{"pid": 4242}], None),
    (
        "system.exec",
        lambda p: p.system.exec("sleep 2", async_call=True, err_on_exit=False),
        [{"command": "sleep 2", "err_on_exit": False, "async_call": True}],
        None,
    ),
    (
        "system.exec",
        lambda p: p.system.exec(async_get="job-1", async_await=True, async_stats=True, timeout=60),
        [{"timeout": 60, "async_get": "job-1", "async_await": True, "async_stats": True}],
        60000,
    ),
    (
        "system.exec",
        lambda p: p.system.exec("sleep 9", timeout=2, bridge_timeout=32),
        [{"command": "sleep 9", "timeout": 2}],
        32000,
    ),
    ("system.version", lambda p: p.system.version(), [], None),
    ("system.configuration", lambda p: p.system.configuration("main"), ["main"], None),
    ("system.configuration", lambda p: p.system.configuration("x11", no_cache=True), ["x11", True], None),
    ("system.signal", lambda p: p.system.signal(15, pid=4242), [{"signal": 15, "pid": 4242}], None),
    ("system.signal", lambda p: p.system.signal(0, pids=(1, 2)), [{"signal": 0, "pids": [1, 2]}], None),
    ("system.listing", lambda p: p.system.listing("d"), [{"path": "d"}], None),
    ("system.listing", lambda p: p.system.listing("d", hidden=True), [{"path": "d", "hidden": True}], None),
    (
        "system.writeTextFileToProject",
        lambda p: p.system.write_text_file_to_project("d/a.txt", "h\u00e9"),
        [{"path": "d/a.txt", "content": "h\u00e9"}],
        None,
    ),
    ("system.readTextFileFromProject", lambda p: p.system.read_text_file_from_project("a"), [{"path": "a"}], None),
    ("system.renameFile", lambda p: p.system.rename_file("a", "b"), [{"src": "a", "dest": "b"}], None),
    ("system.moveFiles", lambda p: p.system.move_files(("a", "b"), "d"), [{"paths": ["a", "b"], "dest": "d"}], None),
    ("system.deleteFiles", lambda p: p.system.delete_files(("a",)), [{"paths": ["a"]}], None),
    ("system.realpath", lambda p: p.system.realpath("l"), ["l"], None),
    ("system.canonicalPaths", lambda p: p.system.canonical_paths(("a", "/b")), [["a", "/b"]], None),
    ("editor.newFile", lambda p: p.editor.new_file("n.md"), ["n.md"], None),
    ("editor.jupyterStripNotebook", lambda p: p.editor.jupyter_strip_notebook("n.ipynb"), ["n.ipynb"], None),
    (
        "editor.jupyterNbconvert",
        lambda p: p.editor.jupyter_nbconvert(("--to", "script", "n.ipynb"), directory="d", timeout=30),
        [{"args": ["--to", "script", "n.ipynb"], "directory": "d", "timeout": 30}],
        30000,
    ),
    (
        "editor.jupyterRunNotebook",
        lambda p: p.editor.jupyter_run_notebook("d", "{}", limits={"max_output": 9}),
        [{"path": "d", "ipynb": "{}", "limits": {"max_output": 9}}],
        JUPYTER_TIMEOUT * 1000,
    ),
    ("editor.jupyterKernelLogo", lambda p: p.editor.jupyter_kernel_logo("python3"), ["python3"], None),
    (
        "editor.jupyterKernelLogo",
        lambda p: p.editor.jupyter_kernel_logo("python3", no_cache=True),
        ["python3", {"noCache": True}],
        None,
    ),
    ("editor.jupyterKernels", lambda p: p.editor.jupyter_kernels(), [], None),
    ("editor.jupyterKernels", lambda p: p.editor.jupyter_kernels(no_cache=True), [{"noCache": True}], None),
    (
        "editor.formatterString",
        lambda p: p.editor.formatter_string("{}", {"parser": "json"}),
        [{"str": "{}", "options": {"parser": "json"}}],
        None,
    ),
    (
        "editor.printSageWS",
        lambda p: p.editor.print_sage_ws("w.sagews", {"title": "t"}),
        [{"path": "w.sagews", "options": {"title": "t"}}],
        None,
    ),
    (
        "editor.createTerminalService",
        lambda p: p.editor.create_terminal_service(".t.term", {"path": "t.term"}),
        [".t.term", {"path": "t.term"}],
        None,
    ),
    ("editor.createTerminalService", lambda p: p.editor.create_terminal_service(".t.term"), [".t.term"], None),
    ("sync.close", lambda p: p.sync.close("a.txt"), ["a.txt"], None),
]


class ArgumentShapeTest(BridgeTestCase):
    def check_cases(self, client: Any, path: str, cases: List[Tuple[str, Callable[[Any], Any], List[Any], Optional[int]]],
                    extra: Dict[str, Any]) -> None:
        """Each case sends exactly ``{"name", "args"[, "timeout"]} | extra`` to *path*."""
        for name, call, args, timeout_ms in cases:
            with self.subTest(call=name, args=args):
                request = self.sent_by(lambda: call(client))
                expected: Dict[str, Any] = {"name": name, "args": args, **extra}
                if timeout_ms is not None:
                    expected["timeout"] = timeout_ms
                self.assertEqual(request.path, path)
                self.assertEqual(request.body, expected)

    def test_hub_calls(self) -> None:
        self.check_cases(self.hub, HUB_PATH, HUB_CASES, {})

    def test_project_calls(self) -> None:
        self.check_cases(self.project, PROJECT_PATH, PROJECT_CASES, {"project_id": PROJECT_ID})

    def test_exec_timeout_goes_in_args_as_seconds_and_in_body_as_ms(self) -> None:
        request = self.sent_by(lambda: self.project.system.exec("sleep", args=["1"], timeout=12))
        self.assertEqual(request.body["args"][0]["timeout"], 12)
        self.assertEqual(request.body["timeout"], 12000)

    def test_exec_without_timeout_sends_none(self) -> None:
        request = self.sent_by(lambda: self.project.system.exec("date"))
        self.assertNotIn("timeout", request.body)
        self.assertNotIn("timeout", request.body["args"][0])

    def test_jupyter_execute_timeout_seconds_become_ms(self) -> None:
        for seconds, ms in ((1, 1000), (2.5, 2500), (90, 90000), (600, 600000)):
            with self.subTest(seconds=seconds):
                request = self.sent_by(lambda: self.hub.jupyter.execute("1", "python3", timeout=seconds))
                self.assertEqual(request.body["timeout"], ms)
                self.assertNotIn("timeout", request.body["args"][0], "the hub call sends its timeout only in ms")

    def test_every_hub_remote_call_has_a_shape_case(self) -> None:
        self.assertEqual({name for name, *_ in HUB_CASES}, set(remote_calls(self.hub)))
        self.assertEqual({name for name, *_ in PROJECT_CASES}, set(remote_calls(self.project)))


class ProjectsGetTest(BridgeTestCase):
    def test_default_reads_projects_with_the_default_fields(self) -> None:
        rows = [{"project_id": PROJECT_ID, "title": "one"}]
        self.reply("db.userQuery", json_reply({"projects": rows}))
        self.assertEqual(self.hub.projects.get(), rows)
        row = {name: None for name in Projects.DEFAULT_FIELDS}
        self.assertEqual(self.single_request().body, {"name": "db.userQuery", "args": [{"query": {"projects": [row]}}]})
        self.assertEqual(self.single_request().path, HUB_PATH)

    def test_all_reads_projects_all(self) -> None:
        rows = [{"project_id": PROJECT_ID, "deleted": True}]
        self.reply("db.userQuery", json_reply({"projects_all": rows}))
        self.assertEqual(self.hub.projects.get(fields=["project_id", "deleted"], all=True), rows)
        self.assertEqual(
            self.single_request().body["args"],
            [{"query": {"projects_all": [{"project_id": None, "deleted": None}]}}],
        )

    def test_project_id_filters_the_row(self) -> None:
        self.reply("db.userQuery", json_reply({"projects": [{"project_id": PROJECT_ID, "title": "t"}]}))
        self.assertEqual(self.hub.projects.get(fields=["title"], project_id=PROJECT_ID)[0]["title"], "t")
        self.assertEqual(
            self.single_request().body["args"],
            [{"query": {"projects": [{"title": None, "project_id": PROJECT_ID}]}}],
        )


# --------------------------------------------------------------------------- errors


class ErrorTest(BridgeTestCase):
    def test_error_answer_raises_api_error(self) -> None:
        self.reply("org.get", json_reply({"error": "organization 'acme' not found"}))
        error = self.failure_of(lambda: self.hub.org.get("acme"), CoCalcAPIError)
        self.assertIsInstance(error, RuntimeError)
        self.assertIsInstance(error, CoCalcError)
        self.assertEqual(error.message, "organization 'acme' not found")
        self.assertEqual(str(error), "organization 'acme' not found")
        self.assertEqual(error.call, "org.get")
        self.assertEqual(error.args_sent, [{"name": "acme"}])
        self.assertIn("org.get", error.describe())

    def test_error_answer_on_the_project_endpoint(self) -> None:
        text = "command 'false' exited with nonzero code 1 -- stderr=''"
        self.reply("system.exec", json_reply({"error": text}))
        error = self.failure_of(lambda: self.project.system.exec("false"), CoCalcAPIError)
        self.assertEqual((error.message, error.call), (text, "system.exec"))
        self.assertEqual(error.args_sent, [{"command": "false"}])

    def test_http_error_statuses_raise_connection_error_naming_the_url(self) -> None:
        for status in (500, 502, 404, 401):
            with self.subTest(status=status):
                self.reply("system.ping", text_reply(f"status {status} body", status=status, content_type="text/plain"))
                error = self.failure_of(self.hub.system.ping, CoCalcConnectionError)
                self.assertIsInstance(error, ConnectionError)
                self.assertIsInstance(error, CoCalcError)
                self.assertEqual(error.url, self.hub.url)
                self.assertIn(self.hub.url, str(error))
                self.assertIn(f"HTTP {status}", str(error))
                self.assertIn(f"status {status} body", str(error))
                self.assertIn("system.ping", str(error))

    def test_http_500_with_json_error_body_is_still_a_connection_error(self) -> None:
        self.reply("system.test", json_reply({"error": "boom"}, status=500))
        error = self.failure_of(self.hub.system.test, CoCalcConnectionError)
        self.assertNotIsInstance(error, CoCalcAPIError)
        self.assertIn("HTTP 500", str(error))

    def test_non_json_answer_raises_connection_error(self) -> None:
        for body in ("<html>Bad Gateway</html>", ""):
            with self.subTest(body=body):
                self.reply("system.ping", text_reply(body))
                error = self.failure_of(self.project.system.ping, CoCalcConnectionError)
                self.assertEqual(error.url, self.project.url)
                self.assertIn(self.project.url, str(error))
                self.assertIn("not JSON", str(error))

    def test_closed_port_raises_connection_error_with_url(self) -> None:
        port = closed_port()
        hub = self.client(Hub(API_KEY, f"http://127.0.0.1:{port}", http_timeout=10))
        error = self.failure_of(hub.system.ping, CoCalcConnectionError)
        self.assertEqual(error.url, f"http://127.0.0.1:{port}{HUB_PATH}")
        self.assertIn(error.url, str(error))
        self.assertIn("system.ping", str(error))
        self.assertErrorHidesKey(error)
        self.assertEqual(self.server.requests(), [], "the recording server should not have been reached")


# -------------------------------------------------------------------------- secrets


def echo_key_in_error(request: Recorded) -> Reply:
    """``{"error": ...}`` quoting the key the client sent."""
    return json_reply({"error": f"invalid api key {request.api_key!r}; key={request.api_key}"})


class TransientTest(unittest.TestCase):
    """Only what CoCalc answers while it is busy, where CoCalc puts it, is transient (asked again)."""

    BUSY = (
        "timeout",
        "timeout - Error: operation has timed out - callHub: subject='hub.account.x.api', name='system.ping', code='408' ",
        f"timeout - callHub: subject='project.{PROJECT_ID}.0.api.-', name='system.exec', code='408' ",
        "no subscribers - callHub: subject='hub.account.x.api', name='projects.start', code='503' ",
        'Error: once: timeout of 30000ms waiting for "ready"',
        'once: timeout of 15000ms waiting for "init"',
    )
    REFUSALS = (
        "Error: user must be a collaborator on the project",
        "killed command 'sleep 30'",
        "command 'x' exited with nonzero code 1 -- stderr='timeout - callHub: subject='a', name='b', code='408' and more'",
        'command \'x\' exited with nonzero code 1 -- stderr=\'Error: once: timeout of 5ms waiting for "ready"\'',
        "Error: timeout",
        "timeout - callHub: subject='hub.account.x.api', name='system.ping', code='500' ",
    )

    def test_busy_answers_are_transient(self) -> None:
        for text in self.BUSY:
            with self.subTest(text=text):
                self.assertTrue(CoCalcAPIError(text, "x").transient)

    def test_refusals_and_the_same_words_elsewhere_are_not(self) -> None:
        for text in self.REFUSALS:
            with self.subTest(text=text):
                self.assertFalse(CoCalcAPIError(text, "x").transient)


class KeyScrubbingTest(BridgeTestCase):
    def test_key_echoed_in_error_answer_is_scrubbed(self) -> None:
        for client in (self.hub, self.project):
            with self.subTest(client=type(client).__name__):
                self.reply("system.test", echo_key_in_error)
                error = self.failure_of(client.system.test, CoCalcAPIError)
                self.assertIn("<redacted>", error.message, "the server did echo the key; it should be replaced")
                self.assertErrorHidesKey(error)

    def test_key_echoed_in_structured_error_is_scrubbed(self) -> None:
        self.reply("org.get", lambda r: json_reply({"error": {"detail": "bad key", "key": r.api_key}}))
        error = self.failure_of(lambda: self.hub.org.get("acme"), CoCalcAPIError)
        self.assertIn("<redacted>", error.message)
        self.assertErrorHidesKey(error)

    def test_key_echoed_in_http_500_body_is_scrubbed(self) -> None:
        self.reply("system.ping", lambda r: text_reply(f"Internal error for key {r.api_key}", status=500))
        error = self.failure_of(self.hub.system.ping, CoCalcConnectionError)
        self.assertIn("<redacted>", str(error))
        self.assertErrorHidesKey(error)

    def test_key_echoed_in_non_json_body_is_scrubbed(self) -> None:
        self.reply("system.ping", lambda r: text_reply(f"<html>sign in failed: {r.api_key}</html>"))
        error = self.failure_of(self.project.system.ping, CoCalcConnectionError)
        self.assertIn("<redacted>", str(error))
        self.assertErrorHidesKey(error)

    def test_key_cut_by_the_200_character_excerpt_is_not_leaked(self) -> None:
        """A key straddling the excerpt's end must not leak its first half.

        The excerpt must be scrubbed before it is cut: cut first, a key crossing the
        boundary is no longer whole, is not replaced, and its first part leaks.
        """
        # The 200-character cut falls in the middle of the key's random part.
        padding = 200 - (len(API_KEY) - len(KEY_SECRET)) - len(KEY_SECRET) // 2

        def straddle(status: int) -> Callable[[Recorded], Reply]:
            return lambda r: text_reply("x" * padding + r.api_key + " trailing text", status=status)

        for status, kind in ((500, "HTTP 500 body"), (200, "non-JSON body")):
            with self.subTest(answer=kind):
                self.reply("system.ping", straddle(status))
                error = self.failure_of(self.hub.system.ping, CoCalcConnectionError)
                self.assertIn("x" * 20, str(error), "the body excerpt should be in the message")
                leaks = [leaked_fragment(text) for text in error_texts(error)]
                self.assertEqual(
                    [fragment for fragment in leaks if fragment], [],
                    f"part of the API key leaked from the {kind} excerpt: it must be scrubbed before "
                    "it is cut to 200 characters",
                )

    def test_repr_of_clients_hides_the_key(self) -> None:
        derived = self.client(self.hub.project(OTHER_PROJECT_ID))
        for client in (self.hub, self.project, derived):
            with self.subTest(client=repr(client)):
                for text in (repr(client), str(client), f"{client!r}"):
                    self.assertKeyAbsent(text)
                self.assertIn(self.server.base_url, repr(client))
        self.assertEqual(repr(self.hub), f"Hub(host={self.server.base_url!r})")
        self.assertEqual(repr(self.project), f"Project(host={self.server.base_url!r}, project_id={PROJECT_ID!r})")


# --------------------------------------------------------------------- remote_calls

HUB_REMOTE_NAMES = {
    "system.ping", "system.test", "system.getNames", "system.userSearch",
    "projects.createProject", "projects.copyPathBetweenProjects", "projects.addCollaborator",
    "projects.removeCollaborator", "projects.start", "projects.stop", "projects.deleteProject",
    "projects.touch", "projects.state", "projects.status",
    "db.userQuery", "messages.send", "messages.get", "sync.history", "jupyter.kernels", "jupyter.execute",
    "org.getAll", "org.create", "org.get", "org.set", "org.addAdmin", "org.addUser", "org.createUser",
    "org.createToken", "org.expireToken", "org.getUsers", "org.removeUser", "org.removeAdmin", "org.message",
    "system.getCustomize", "system.userTracking", "system.logClientError", "system.webappError",
    "system.manageApiKeys", "system.generateUserAuthToken", "system.revokeUserAuthToken",
    "system.adminResetPasswordLink", "projects.changeUserType", "projects.inviteCollaborator", "projects.setQuotas",
    "db.touch", "db.fileUseTimes", "db.getLegacyTimeTravelInfo", "db.getLegacyTimeTravelPatches", "db.removeBlobTtls",
    "purchases.getBalance", "purchases.getMinBalance",
}
PROJECT_REMOTE_NAMES = {
    "system.ping", "system.test", "system.exec", "system.jupyterExecute",
    "system.listJupyterKernels", "system.stopJupyterKernel",
    "system.version", "system.configuration", "system.signal", "system.listing", "system.writeTextFileToProject",
    "system.readTextFileFromProject", "system.renameFile", "system.moveFiles", "system.deleteFiles",
    "system.realpath", "system.canonicalPaths",
    "editor.newFile", "editor.jupyterStripNotebook", "editor.jupyterNbconvert", "editor.jupyterRunNotebook",
    "editor.jupyterKernelLogo", "editor.jupyterKernels", "editor.formatterString", "editor.printSageWS",
    "editor.createTerminalService", "sync.close",
}


def call_with_placeholders(method: Callable) -> Any:
    """Call *method* giving each required parameter a placeholder string."""
    required = [
        p.name for p in inspect.signature(method).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return method(*(f"placeholder-{name}" for name in required))


class RemoteCallsTest(BridgeTestCase):
    def test_hub_names_exactly(self) -> None:
        names = set(remote_calls(self.hub))
        self.assertEqual(names, HUB_REMOTE_NAMES)
        self.assertEqual(len([n for n in names if n.startswith("org.")]), 13)
        self.assertEqual(len(names), 51)

    def test_project_names_exactly(self) -> None:
        self.assertEqual(set(remote_calls(self.project)), PROJECT_REMOTE_NAMES)

    def test_each_method_sends_its_own_name_to_its_own_endpoint(self) -> None:
        for client, path in ((self.hub, HUB_PATH), (self.project, PROJECT_PATH)):
            for name, method in sorted(remote_calls(client).items()):
                with self.subTest(client=type(client).__name__, call=name):
                    self.assertIs(method.__self__._endpoint, client, "bound to a group of this client")
                    self.assertEqual(method.remote_name, name)
                    request = self.sent_by(lambda: call_with_placeholders(method))
                    self.assertEqual(request.path, path)
                    self.assertEqual(request.body["name"], name)
                    self.assertIsInstance(request.body["args"], list)
                    self.assertEqual(request.body.get("project_id"), PROJECT_ID if path == PROJECT_PATH else None)


# ------------------------------------------------------------------------- shape


class ClientShapeTest(BridgeTestCase):
    """What the client is, with no server needed (moved here from the API tests, which now ask the server)."""

    def test_clients_keep_key_host_and_project(self) -> None:
        hub = self.client(Hub(API_KEY, self.server.base_url + "/"))
        self.assertEqual((hub.api_key, hub.host, hub.url), (API_KEY, self.server.base_url, self.server.base_url + HUB_PATH))
        project = self.client(Project(API_KEY, self.server.base_url, PROJECT_ID))
        self.assertEqual(
            (project.api_key, project.host, project.project_id, project.url),
            (API_KEY, self.server.base_url, PROJECT_ID, self.server.base_url + PROJECT_PATH),
        )

    def test_groups_are_their_classes_on_their_client(self) -> None:
        groups = {
            "system": hub_api.System, "projects": hub_api.Projects, "db": hub_api.Database, "messages": hub_api.Messages,
            "sync": hub_api.Sync, "jupyter": hub_api.Jupyter, "org": hub_api.Organizations, "purchases": hub_api.Purchases,
        }
        for attribute, cls in groups.items():
            with self.subTest(group=attribute):
                group = getattr(self.hub, attribute)
                self.assertIs(type(group), cls)
                self.assertIs(group._endpoint, self.hub)
        self.assertIs(type(self.project.system), ProjectSystem)
        self.assertIs(self.project.system._endpoint, self.project)

    def test_org_message_signature(self) -> None:
        params = inspect.signature(self.hub.org.message).parameters
        self.assertEqual(list(params), ["name", "subject", "body"])
        self.assertTrue(all(p.default is inspect.Parameter.empty for p in params.values()))

    def test_org_create_user_signature(self) -> None:
        params = inspect.signature(self.hub.org.create_user).parameters
        self.assertEqual(list(params), ["name", "email", "firstName", "lastName", "password"])
        self.assertIs(params["email"].default, inspect.Parameter.empty)
        self.assertEqual([params[p].default for p in ("firstName", "lastName", "password")], [None, None, None])

    def test_org_create_token_returns_org_token(self) -> None:
        self.assertIs(typing.get_type_hints(hub_api.Organizations.create_token)["return"], hub_api.OrgToken)
        self.assertEqual(typing.get_type_hints(hub_api.OrgToken), {"token": str, "url": str})


if __name__ == "__main__":
    unittest.main()

"""One probe per remote call of the client: a deliberately wrong argument, and CoCalc's own answer to it.

Over 400 lines because it is a table: one probe per remote call (78), each a few lines.

A probe shows that the server routes a client method to CoCalc's code for *that*
call: the answer is the error (or, for a call that cannot fail, the value) that
only that call gives — never ``unknown function '…'``, which a server without the
call answers.  Every probe is safe on a shared server: CoCalc refuses it before it
writes anything, and whatever a wrong server might create is made through the
tracking mixin (or carries a tracked tag), so the cleaner removes it.

No probe accepts an answer that a server answering ``null`` or ``[]`` to every call
would give: a call whose right answer is empty is probed by what only CoCalc's code
gives — a refusal of a value PostgreSQL cannot store (:data:`NUL`), a refusal of the
raw argument the client method never sends (:func:`refused_by_name`), a tracked
organization and member listed, CoCalc's own entries in a list — or, where the call
really does nothing (``sync.close``), by its group refusing an unknown call
(:func:`group_tells_calls_apart`).

In the arguments and expected texts, ``<id>`` stands for a fresh random UUID (no
project or account has it), ``<org>`` for the name of no organization, ``<me>``
for the key's account and ``<shared>`` for the shared project.  Every method of
:func:`cocalc_api_tests.client.remote_calls` needs a probe here (``test_org_basic``
checks it).

:data:`HUB_PROBES` are a site admin's: CoCalc's permission checks pass and the wrong
argument is judged.  Another key gets the permission check's own refusal from the
calls that are site admins' (or organization admins') only; :func:`hub_probes` picks
the probes for the key in use.
"""
import functools
import uuid
from typing import Any, Callable, Dict

from .wordings import (
    ADMIN_SEARCH_ONLY, MUST_BE_ADMIN, NOT_ORG_ADMIN, NOT_OWNER_DELETE, NOT_SITE_ADMIN, ONLY_ADMINS_CREATE_ORGS,
    ONLY_SITE_ADMINS_ADD_USERS,
)

#: A probe gets the running :class:`~cocalc_api_tests.support.APITestCase`.
Probe = Callable[[Any], None]

#: A process id no kernel can have (above Linux's largest ``pid_max``).
NO_SUCH_PID = 2**31 - 2
#: A character PostgreSQL cannot store in text, and its refusal of a statement that tries.
NUL = "\x00"
NUL_REFUSED = 'invalid byte sequence for encoding "UTF8": 0x00'


def _placeholders(test: Any) -> Dict[str, Callable[[], str]]:
    fresh, org = str(uuid.uuid4()), f"no-such-org-{uuid.uuid4().hex[:12]}"
    return {
        "<id>": lambda: fresh,
        "<org>": lambda: org,
        "<me>": lambda: test.session.account_id,
        "<shared>": lambda: test.project_id,
    }


def _fill(value: Any, values: Dict[str, Callable[[], str]]) -> Any:
    if isinstance(value, str):
        for marker, make in values.items():
            if marker in value:
                value = value.replace(marker, make())
        return value
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {_fill(k, values): _fill(v, values) for k, v in value.items()}
    return value


def _method(test: Any, path: str) -> Callable:
    """``test.hub.org.get`` for ``"hub.org.get"``."""
    return functools.reduce(getattr, path.split("."), test)


def refused(method: str, *args: Any, contains: str, **kwargs: Any) -> Probe:
    """A probe: ``method(*args, **kwargs)`` must fail with an error containing *contains*."""

    def probe(test: Any) -> None:
        values = _placeholders(test)
        test.assertCallFails(
            _method(test, method), *_fill(list(args), values), contains=_fill(contains, values), **_fill(kwargs, values)
        )

    return probe


def answers(method: str, *args: Any, check: Callable[[Any, Any, Callable[[Any], Any]], None], **kwargs: Any) -> Probe:
    """A probe: ``method(*args, **kwargs)`` must answer; ``check(test, answer, fill)`` judges the answer."""

    def probe(test: Any) -> None:
        values = _placeholders(test)
        fill = functools.partial(_fill, values=values)
        check(test, test.call(_method(test, method), *fill(list(args)), **fill(kwargs)), fill)

    return probe


def equals(expected: Any) -> Callable[[Any, Any, Callable[[Any], Any]], None]:
    """An answer check: the answer equals *expected* (placeholders filled in)."""
    return lambda test, answer, fill: test.assertEqual(answer, fill(expected))


def _number(test: Any, answer: Any, fill: Callable) -> None:
    """CoCalc answers a PostgreSQL ``numeric`` as a number or as its decimal text."""
    try:
        float(answer)
    except (TypeError, ValueError):
        test.fail(f"expected a number, got {answer!r}")
    test.assertNotIsInstance(answer, bool)


def _tagged(method: str, contains: str, **kwargs: Any) -> Probe:
    """A probe of a logging call: its ``tag`` field carries a tracked tag, so a wrongly written row is cleaned."""

    def probe(test: Any) -> None:
        fields = {k: (test.tracked_event("probe") if v == "<tag>" else v) for k, v in kwargs.items()}
        test.assertCallFails(_method(test, method), contains=contains, **fields)

    return probe


def _name_taken(test: Any) -> None:
    """``org.create`` of a name in use (a tracked organization's) is refused."""
    name = test.unique_name("probe")
    test.call(test.create_tracked_org, name)
    test.assertCallFails(
        test.create_tracked_org, name, contains=f"Error: name {name} is already used by some account or organization"
    )


def both(*probes: Probe) -> Probe:
    """A probe: every one of *probes* passes (for a call whose right answer alone an empty-answering server could give)."""

    def probe(test: Any) -> None:
        for each in probes:
            each(test)

    return probe


def refused_by_name(method: str, args: Any, contains: str) -> Probe:
    """A probe: the remote call of client method *method*, made with the raw *args* the method never sends, is refused.

    For calls whose client method cannot send a wrong argument (it builds a valid one):
    the refusal still comes from the server's code for the method's own remote name.
    """

    def probe(test: Any) -> None:
        values = _placeholders(test)
        client = _method(test, method.rsplit(".", 2)[0])
        name = _method(test, method).remote_name
        test.assertCallFails(client.call, name, _fill(args, values), contains=_fill(contains, values))

    return probe


def group_tells_calls_apart(method: str) -> Probe:
    """A probe: an unknown call of the same group as client method *method* is refused as unknown.

    Paired with a call whose right answer is empty (``null``, ``[]``): a server that
    answers every call that way fails it.
    """

    def probe(test: Any) -> None:
        client = _method(test, method.rsplit(".", 2)[0])
        name = f"{_method(test, method).remote_name.split('.')[0]}.cocalcApiTestsNoSuchCall"
        test.assertCallFails(client.call, name, [], contains=f"Error: unknown function '{name}'")

    return probe


def _org_with_member(test: Any) -> Dict[str, str]:
    """A tracked organization with one tracked member, made once per test: ``{"name", "account_id", "email"}``."""
    made = getattr(test, "_probe_org_with_member", None)
    if made is None:
        name, email = test.unique_name("probe-org"), test.unique_email("probe-member")
        test.call(test.create_tracked_org, name)
        made = {"name": name, "email": email, "account_id": test.call(test.create_tracked_user, name, email=email)}
        test._probe_org_with_member = made
    return made


def _org_listed(test: Any) -> None:
    """``org.getAll`` lists a tracked organization, and every row is a name with at most a title and admins."""
    name = _org_with_member(test)["name"]
    rows = test.call(test.hub.org.get_all)
    test.assertIsInstance(rows, list, f"org.getAll answered {rows!r}")
    test.assertIn(name, [r.get("name") for r in rows if isinstance(r, dict)], f"org.getAll lacks {name!r}: {rows!r}")
    for row in rows:
        test.assertTrue(
            isinstance(row, dict) and isinstance(row.get("name"), str) and set(row) <= {"name", "title", "admin_account_ids"},
            f"org.getAll row {row!r}",
        )


def _org_members(test: Any) -> None:
    """``org.getUsers`` of a tracked organization answers its one tracked member."""
    org = _org_with_member(test)
    rows = test.call(test.hub.org.get_users, org["name"])
    test.assertEqual(
        [(r.get("account_id"), r.get("email_address")) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else rows,
        [(org["account_id"], org["email"])],
        f"org.getUsers({org['name']!r}) answered {rows!r}",
    )


def _org_message_reaches_members(test: Any) -> None:
    """``org.message`` with a subject PostgreSQL cannot store is refused by the insert of the member's message.

    An organization without members gets no message and answers ``null`` whatever the
    subject, so the refusal shows the call looked the members up and wrote to them.
    """
    org = _org_with_member(test)
    test.assertCallFails(test.hub.org.message, org["name"], f"subject {NUL}", "body", contains=NUL_REFUSED)


def _kernel_entries(test: Any, answer: Any, fill: Callable) -> None:
    """``listJupyterKernels``: a list of ``{"pid" > 0, "connectionFile"}``."""
    test.assertIsInstance(answer, list, f"system.listJupyterKernels answered {answer!r}")
    for kernel in answer:
        test.assertTrue(
            isinstance(kernel, dict) and type(kernel.get("pid")) is int and kernel["pid"] > 0
            and isinstance(kernel.get("connectionFile"), str),
            f"system.listJupyterKernels entry {kernel!r}",
        )


def _kernel_specs(test: Any, answer: Any, fill: Callable) -> None:
    """``editor.jupyterKernels``: a non-empty list of specs (name, argv), the same kernels the hub lists."""
    test.assertTrue(isinstance(answer, list) and answer, f"editor.jupyterKernels answered {answer!r}, not a list of specs")
    for spec in answer:
        test.assertTrue(
            isinstance(spec, dict) and isinstance(spec.get("name"), str) and isinstance(spec.get("argv"), list),
            f"editor.jupyterKernels entry {spec!r}",
        )
    hub = test.call(test.hub.jupyter.kernels, project_id=test.project_id)
    test.assertEqual(
        sorted(s["name"] for s in answer), sorted(k.get("name") for k in hub if isinstance(k, dict)),
        f"editor.jupyterKernels and the hub's jupyter.kernels list different kernels: {answer!r}, {hub!r}",
    )


def _x11_capabilities(test: Any, answer: Any, fill: Callable) -> None:
    """``configuration("x11")``: a timestamp and the applications, CoCalc's own test entry ``unknown_test`` false."""
    test.assertTrue(
        isinstance(answer, dict) and set(answer) == {"timestamp", "capabilities"}
        and isinstance(answer["capabilities"], dict) and answer["capabilities"].get("unknown_test") is False,
        f"system.configuration('x11') answered {answer!r}",
    )


HUB_PROBES: Dict[str, Probe] = {
    # system
    "system.ping": answers("hub.system.ping", check=lambda t, a, f: t.assertRecentMs(a.get("now"), "system.ping's now")),
    "system.test": answers(
        "hub.system.test", check=lambda t, a, f: t.assertEqual(a.get("account_id"), f("<me>"), f"system.test: {a!r}")
    ),
    "system.getNames": answers(
        "hub.system.get_names", ["<id>"], check=equals({"<id>": {"first_name": "Deleted", "last_name": "User"}})
    ),
    "system.userSearch": answers(
        "hub.system.user_search", "<me>", check=lambda t, a, f: t.assertEqual([r.get("account_id") for r in a], [f("<me>")])
    ),
    "system.manageApiKeys": refused(
        "hub.system.manage_api_keys",
        "get",
        project_id="<id>",
        contains="Error: user must be collaborator on project to manage project_id api keys",
    ),
    "system.getCustomize": answers(
        "hub.system.get_customize",
        ["siteName"],
        check=lambda t, a, f: t.assertEqual((list(a), type(a.get("siteName"))), (["siteName"], str), f"answer {a!r}"),
    ),
    "system.userTracking": refused("hub.system.user_tracking", "", {}, contains="Error: evt must be specified"),
    "system.logClientError": _tagged(
        "hub.system.log_client_error",
        NUL_REFUSED,
        event="<tag>",
        error=f"a NUL byte {NUL}",
    ),
    "system.webappError": _tagged(
        "hub.system.webapp_error",
        'invalid input syntax for type integer: "not-a-number"',
        name="<tag>",
        lineNumber="not-a-number",
    ),
    "system.generateUserAuthToken": refused(
        "hub.system.generate_user_auth_token", "not-a-uuid", contains='invalid input syntax for type uuid: "not-a-uuid"'
    ),
    # A token PostgreSQL cannot compare: the refusal of the DELETE that revokes it (any other token answers null).
    "system.revokeUserAuthToken": refused(
        "hub.system.revoke_user_auth_token", f"never-issued-<id>{NUL}", contains=NUL_REFUSED
    ),
    "system.adminResetPasswordLink": refused(
        "hub.system.admin_reset_password_link", "<id>", contains="Error: passwords are only defined for accounts with email"
    ),
    # projects
    "projects.createProject": refused(
        "create_tracked_project", license=5, contains="TypeError: opts.license.split is not a function"
    ),
    "projects.copyPathBetweenProjects": refused(
        "hub.projects.copy_path_between_projects",
        "<shared>",
        "no-such-file",
        target_project_id="<id>",
        contains="Error: user must be collaborator on target project",
    ),
    "projects.addCollaborator": refused(
        "hub.projects.add_collaborator", "<id>", "<id>", contains="OwnershipError: Project not found"
    ),
    "projects.removeCollaborator": refused(
        "hub.projects.remove_collaborator", "<id>", "<id>", contains="Error: user must be a collaborator"
    ),
    "projects.start": refused("hub.projects.start", "<id>", contains="Error: must be collaborator on project to start it"),
    "projects.stop": refused("hub.projects.stop", "<id>", contains="Error: must be collaborator on project to stop it"),
    "projects.touch": refused("hub.projects.touch", "<id>", contains="Error: must be collaborator on project to touch it"),
    "projects.state": refused("hub.projects.state", "<id>", contains="Error: must be collaborator on project to get state"),
    "projects.status": refused(
        "hub.projects.status", "<id>", contains="Error: must be collaborator on project to get status"
    ),
    "projects.deleteProject": refused("hub.projects.delete", "<id>", contains="FATAL: unknown project_id '<id>'"),
    "projects.changeUserType": refused(
        "hub.projects.change_user_type", "<id>", "<id>", "owner", contains="OwnershipError: Not a project member"
    ),
    "projects.inviteCollaborator": refused(
        "hub.projects.invite_collaborator", "<id>", "<id>", contains="Error: user must be a collaborator"
    ),
    "projects.setQuotas": refused(
        "hub.projects.set_quotas", "not-a-uuid", memory=1000, contains='invalid input syntax for type uuid: "not-a-uuid"'
    ),
    # db
    "db.userQuery": refused(
        "hub.db.query",
        {"cocalc_api_tests_no_such_table": {"id": None}},
        contains="FATAL: get queries not allowed for table 'cocalc_api_tests_no_such_table'",
    ),
    "db.touch": refused("hub.db.touch", project_id="<id>", contains="Error: user must be collaborator on project"),
    "db.fileUseTimes": refused(
        "hub.db.file_use_times", "<id>", "no-such-file", contains="Error: user does not have read access to the given project"
    ),
    "db.getLegacyTimeTravelInfo": answers(
        "hub.db.get_legacy_time_travel_info", "<id>", "no-such-file", check=equals({"uuid": ""})
    ),
    "db.getLegacyTimeTravelPatches": refused("hub.db.get_legacy_time_travel_patches", "not-a-uuid", contains="uuid is invalid"),
    "db.removeBlobTtls": both(
        answers("hub.db.remove_blob_ttls", ["<id>", "not-a-uuid"], check=equals(None)),
        refused_by_name("hub.db.remove_blob_ttls", [{"uuids": "<id>"}], contains="TypeError: uuids.filter is not a function"),
    ),
    # purchases
    "purchases.getBalance": answers("hub.purchases.get_balance", check=_number),
    "purchases.getMinBalance": answers("hub.purchases.get_min_balance", check=_number),
    # messages, sync, jupyter
    "messages.send": refused(
        "send_tracked_message", "subject", "body", ["<id>"], contains="Error: invalid account_id -- <id>"
    ),
    "messages.get": refused("hub.messages.get", limit=501, contains="Error: limit must be at most 500"),
    "sync.history": refused(
        "hub.sync.history", "<id>", "no-such-file", contains="Error: user must be collaborator on source project"
    ),
    "jupyter.kernels": refused(
        "hub.jupyter.kernels", project_id="<id>", contains="Error: permission denied -- user must be collaborator on project"
    ),
    "jupyter.execute": refused(
        "hub.jupyter.execute", "1 + 1", None, contains="Error: kernel must be specified in hash is not specified"
    ),
    # org (the key is a site admin's, so CoCalc's permission checks pass and the argument is judged)
    "org.getAll": _org_listed,
    "org.create": _name_taken,
    "org.get": refused("hub.org.get", "<org>", contains="Error: no org named '<org>'"),
    "org.set": refused("hub.org.set", "<org>", contains='error: syntax error at or near "WHERE"'),
    "org.addAdmin": refused("hub.org.add_admin", "<org>", "<id>", contains="Error: no such account '<id>'"),
    "org.addUser": refused("hub.org.add_user", "<org>", "<id>", contains="Error: cannot find user '<id>'"),
    "org.createUser": refused(
        "create_tracked_user",
        "<org>",
        email="probe-<id>@test.local",
        firstName="x" * 255,
        contains="error: value too long for type character varying(254)",
    ),
    "org.createToken": refused("hub.org.create_token", "<id>", contains="Error: user is not in an org"),
    "org.expireToken": refused("hub.org.expire_token", f"never-issued-<id>{NUL}", contains=NUL_REFUSED),
    "org.getUsers": _org_members,
    "org.removeUser": refused("hub.org.remove_user", "<org>", "<id>", contains="Error: cannot find user '<id>'"),
    "org.removeAdmin": refused("hub.org.remove_admin", "<org>", "<id>", contains="Error: cannot find user '<id>'"),
    "org.message": _org_message_reaches_members,
}


#: The probes that differ for a key that is not a site admin's: CoCalc refuses these calls
#: before it looks at the argument, each with its own permission check's text.
NOT_ADMIN_HUB_PROBES: Dict[str, Probe] = {
    "system.adminResetPasswordLink": refused("hub.system.admin_reset_password_link", "<id>", contains=MUST_BE_ADMIN),
    "projects.deleteProject": refused("hub.projects.delete", "<id>", contains=NOT_OWNER_DELETE),
    "projects.setQuotas": refused("hub.projects.set_quotas", "not-a-uuid", memory=1000, contains=ADMIN_SEARCH_ONLY),
    "org.getAll": refused("hub.org.get_all", contains=NOT_SITE_ADMIN),
    "org.create": refused("create_tracked_org", "<org>", contains=ONLY_ADMINS_CREATE_ORGS),
    "org.get": refused("hub.org.get", "<org>", contains=NOT_ORG_ADMIN),
    "org.set": refused("hub.org.set", "<org>", contains=NOT_ORG_ADMIN),
    "org.addUser": refused("hub.org.add_user", "<org>", "<id>", contains=ONLY_SITE_ADMINS_ADD_USERS),
    "org.createUser": refused("create_tracked_user", "<org>", email="probe-<id>@test.local", contains=NOT_ORG_ADMIN),
    "org.getUsers": refused("hub.org.get_users", "<org>", contains=NOT_ORG_ADMIN),
    "org.removeUser": refused("hub.org.remove_user", "<org>", "<id>", contains=NOT_ORG_ADMIN),
    "org.removeAdmin": refused("hub.org.remove_admin", "<org>", "<id>", contains=NOT_ORG_ADMIN),
    "org.message": refused("hub.org.message", "<org>", "subject", "body", contains=NOT_ORG_ADMIN),
}


def hub_probes(site_admin: bool) -> Dict[str, Probe]:
    """The hub's probes for a key that is (or is not) a site admin's."""
    return HUB_PROBES if site_admin else dict(HUB_PROBES, **NOT_ADMIN_HUB_PROBES)


PROJECT_PROBES: Dict[str, Probe] = {
    "system.ping": answers(
        "project.system.ping", check=lambda t, a, f: t.assertRecentMs(a.get("now"), "project system.ping's now")
    ),
    "system.test": answers(
        "project.system.test", check=lambda t, a, f: t.assertEqual(a.get("project_id"), f("<shared>"), f"answer {a!r}")
    ),
    "system.exec": refused(
        "project.system.exec", "true", path="/no-such-directory-<id>", contains='"code":"ENOENT","syscall":"spawn true"'
    ),
    "system.jupyterExecute": refused(
        "project.system.jupyter_execute",
        "1 + 1",
        "no-such-kernel-<id>",
        contains='No spec available for kernel "no-such-kernel-<id>"',
    ),
    # With no kernel running the right answer is [] (test_project checks the list itself).
    "system.listJupyterKernels": both(
        answers("project.system.list_jupyter_kernels", check=_kernel_entries),
        group_tells_calls_apart("project.system.list_jupyter_kernels"),
    ),
    "system.stopJupyterKernel": answers(
        "project.system.stop_jupyter_kernel", NO_SUCH_PID, check=equals({"success": False})
    ),
    "system.version": answers(
        "project.system.version", check=lambda t, a, f: t.assertTrue(type(a) is int and a > 0, f"version {a!r}")
    ),
    "system.configuration": answers("project.system.configuration", "x11", check=_x11_capabilities),
    "system.signal": refused("project.system.signal", 0, pid=NO_SUCH_PID, contains="Error: kill ESRCH"),
    "system.listing": refused(
        "project.system.listing", "no-such-folder-<id>", contains="ENOENT: no such file or directory, opendir '"
    ),
    "system.writeTextFileToProject": refused(
        "project.system.write_text_file_to_project",
        ".",
        "text",
        contains="Error: EISDIR: illegal operation on a directory, open '.'",
    ),
    "system.readTextFileFromProject": refused(
        "project.system.read_text_file_from_project",
        "no-such-file-<id>",
        contains="Error: ENOENT: no such file or directory, open 'no-such-file-<id>'",
    ),
    "system.renameFile": refused(
        "project.system.rename_file", 5, "no-such-file-<id>", contains="TypeError: src.startsWith is not a function"
    ),
    "system.moveFiles": refused("project.system.move_files", [5], ".", contains="TypeError: path.startsWith is not a function"),
    "system.deleteFiles": refused("project.system.delete_files", [5], contains="TypeError: x.startsWith is not a function"),
    "system.realpath": refused(
        "project.system.realpath", "no-such-file-<id>", contains="ENOENT: no such file or directory, realpath '"
    ),
    "system.canonicalPaths": refused(
        "project.system.canonical_paths", ["a/../no-such-file-<id>"], contains="ENOENT: no such file or directory, realpath '"
    ),
    "editor.newFile": refused("project.editor.new_file", 5, contains="TypeError: path.startsWith is not a function"),
    "editor.jupyterStripNotebook": refused(
        "project.editor.jupyter_strip_notebook",
        "no-such-<id>.ipynb",
        contains="Error: ENOENT: no such file or directory, open 'no-such-<id>.ipynb'",
    ),
    "editor.jupyterNbconvert": refused("project.editor.jupyter_nbconvert", ["--to", "html"], contains="Error: no source"),
    "editor.jupyterRunNotebook": refused(
        "project.editor.jupyter_run_notebook",
        ".",
        "not json",
        contains="""SyntaxError: Unexpected token 'o', "not json" is not valid JSON""",
    ),
    "editor.jupyterKernelLogo": refused(
        "project.editor.jupyter_kernel_logo", "no-such-kernel-<id>", contains="Error: no such kernel 'no-such-kernel-<id>'"
    ),
    "editor.jupyterKernels": answers("project.editor.jupyter_kernels", check=_kernel_specs),
    "editor.formatterString": refused(
        "project.editor.formatter_string",
        "{}",
        {"parser": "no-such-parser"},
        contains='ConfigError: Couldn\'t resolve parser "no-such-parser".',
    ),
    "editor.printSageWS": refused("project.editor.print_sage_ws", 5, contains="TypeError: path.split is not a function"),
    "editor.createTerminalService": refused(
        "project.editor.create_terminal_service",
        5,
        contains="TypeError [ERR_INVALID_ARG_TYPE]: The first argument must be of type string or an instance of Buffer",
    ),
    # CoCalc's sync.close does nothing and answers null: all a probe can show is that the server knows the call.
    "sync.close": both(
        answers("project.sync.close", "no-such-file-<id>", check=equals(None)), group_tells_calls_apart("project.sync.close")
    ),
}

"""Hub ``projects.*`` and ``sync.*`` calls, with CoCalc's permission rules and texts."""
import json
import threading
import uuid
from typing import Any, Dict, List, Optional

from . import checks
from .api_common import (
    JsError, PlainError, in_project_group, is_admin, is_collaborator, is_valid_uuid, js_str, js_truthy, opts_of,
    project_group, type_error,
)
from .cached import always, read
from .store import DatabaseFailure, utcnow

DEFAULT_COMPUTE_IMAGE = "ubuntu2404"
FIRST_PROJECT_TITLE = "My First Project"


def _ownership_error(message: str) -> JsError:
    return JsError(message, name="OwnershipError")


#: CoCalc's groups of project members.
MEMBER_GROUPS = ("owner", "collaborator")
#: Every group ``add_user_to_project`` accepts.
PROJECT_GROUPS = ("owner", "collaborator", "viewer", "invited_collaborator", "invited_viewer")


def account_name(store: Any, account_id: str) -> str:
    """CoCalc's ``getName``: ``"First Last"``, or ``Unknown User`` for an unknown or nameless account."""
    row = store.one("SELECT first_name, last_name FROM accounts WHERE account_id=:a::UUID", a=account_id)
    if row is None or not (row.get("first_name") or row.get("last_name")):
        return "Unknown User"
    return f"{row.get('first_name') or ''} {row.get('last_name') or ''}"


def log_project_event(store: Any, project_id: str, account_id: str, event: Dict[str, Any]) -> None:
    """A ``project_log`` row for *project_id* by *account_id*; a failure is ignored, as in CoCalc."""
    try:
        store.query(
            "INSERT INTO project_log(id,project_id,time,account_id,event) "
            "VALUES(:i::UUID,:p::UUID,NOW(),:a::UUID,CAST(:e AS JSONB))",
            i=str(uuid.uuid4()),
            p=project_id,
            a=account_id,
            e=json.dumps(event),
        )
    except DatabaseFailure:
        pass


def add_user_to_project(store: Any, project_id: Any, account_id: Any, group: Any = "collaborator") -> None:
    """Merge ``{group}`` into the account's entry of ``projects.users`` (CoCalc's ``add_user_to_project``)."""
    for name, value in (("project_id", project_id), ("account_id", account_id)):
        if value is not None and not is_valid_uuid(value):
            raise PlainError(f"invalid {name} -- {js_str(value)}")
    if group not in PROJECT_GROUPS:
        raise PlainError(f"unknown project group '{js_str(group)}'")
    store.query(
        "UPDATE projects SET users=COALESCE(users,'{}'::JSONB) || jsonb_build_object(:a::TEXT, "
        "COALESCE(users->:a::TEXT,'{}'::JSONB) || jsonb_build_object('group', :g::TEXT)) WHERE project_id=:p::UUID",
        a=js_str(account_id),
        g=group,
        p=project_id,
    )


def create_project(
    app: Any,
    account_id: Optional[str],
    title: Any = None,
    description: Any = None,
    *,
    license: Any = None,
    image: Any = None,
    project_id: Any = None,
    customize: Any = None,
    ephemeral: Any = None,
    start: bool = False,
) -> str:
    """Insert a project owned by *account_id* as CoCalc's ``createProject`` does."""
    if not is_valid_uuid(account_id):
        raise JsError("if account_id given, it must be a valid uuid v4")
    customize = customize if isinstance(customize, dict) else {}
    if license not in (None, False, 0, "") and not isinstance(license, str):  # truthy in JavaScript, yet no string
        raise type_error("opts.license.split is not a function")
    licenses = [s.strip() for s in license.split(",")] if isinstance(license, str) and license else []
    if customize.get("license"):
        licenses.append(customize["license"])
    licenses = [x for x in licenses if is_valid_uuid(x)]
    if project_id:
        checks.require(app, "projects.createProject:admin-project-id",
                       lambda: account_id and is_admin(app.store, account_id),
                       JsError("only admins can specify the project_id"))
    else:
        project_id = str(uuid.uuid4())
    users = None if account_id is None else {account_id: {"group": "owner"}}
    app.store.query(
        "INSERT INTO projects (project_id, title, description, users, site_license, compute_image, created, "
        "last_edited, ephemeral, settings) VALUES(:p::UUID, :t, :d, CAST(:u AS JSONB), CAST(:l AS JSONB), :i, "
        "NOW(), NOW(), :e::BIGINT, CAST(:s AS JSONB))",
        p=project_id,
        t=js_str(title) if title is not None else "No Title",
        d=js_str(description) if description is not None else "",
        u=None if users is None else json.dumps(users),
        l=json.dumps({x: {} for x in licenses}) if licenses else None,
        i=image if image is not None else DEFAULT_COMPUTE_IMAGE,
        e=ephemeral,
        s=json.dumps({"disableInternet": True}) if customize.get("disableInternet") else None,
    )
    app.projects.state(project_id)
    if start:
        threading.Thread(target=_start_quietly, args=(app, project_id), daemon=True).start()
    return project_id


def _start_quietly(app: Any, project_id: str) -> None:
    try:
        app.projects.start(project_id)
    except Exception:  # CoCalc only logs a failed background start
        pass


def createProject(app: Any, args: List[Any]) -> str:
    """Create a project owned by the caller; its id."""
    opts = opts_of(args)
    return create_project(
        app,
        opts.get("account_id"),
        opts.get("title"),
        opts.get("description"),
        license=opts.get("license"),
        image=opts.get("image"),
        project_id=opts.get("project_id"),
        customize=opts.get("customize"),
        ephemeral=opts.get("ephemeral"),
        start=bool(opts.get("start")),
    )


def copyPathBetweenProjects(app: Any, args: List[Any]) -> None:
    """Copy files between projects the caller collaborates on."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    src, target = opts.get("src_project_id"), opts.get("target_project_id")
    checks.require(app, "projects.copyPathBetweenProjects:signed-in", bool(account_id),
                   JsError("user must be signed in"))
    target_path = opts.get("target_path")
    if target_path is None:
        target_path = opts.get("src_path")
    checks.require(app, "projects.copyPathBetweenProjects:source-collaborator",
                   lambda: is_collaborator(app.store, account_id, src),
                   JsError("user must be collaborator on source project"))
    if target and target != src:
        checks.require(app, "projects.copyPathBetweenProjects:target-collaborator",
                       lambda: is_collaborator(app.store, account_id, target),
                       JsError("user must be collaborator on target project"))
    app.projects.copy_path(
        src,
        opts.get("src_path"),
        target,
        target_path,
        overwrite_newer=bool(opts.get("overwrite_newer")),
        delete_missing=bool(opts.get("delete_missing")),
        backup=bool(opts.get("backup")),
        exclude=opts.get("exclude"),
    )


def _validate_uuids(project_id: Any, account_id: Any) -> None:
    if not is_valid_uuid(project_id):
        raise JsError(f"Invalid project_id: {js_str(project_id)}")
    if not is_valid_uuid(account_id):
        raise JsError(f"Invalid account_id: {js_str(account_id)}")


def ensure_can_manage_collaborators(app: Any, check: str, project_id: Any, account_id: Any) -> None:
    """Owners only, when the project restricts collaborator management to owners (check *check*)."""
    if not checks.enforced(app, check):
        return
    _validate_uuids(project_id, account_id)
    row = app.store.one(
        "SELECT users, manage_users_owner_only FROM projects WHERE project_id=:p::UUID", p=project_id
    )
    if row is None:
        raise _ownership_error("Project not found")
    group = ((row.get("users") or {}).get(account_id) or {}).get("group")
    if row.get("manage_users_owner_only") and group != "owner":
        raise _ownership_error("Only owners can manage collaborators when this setting is enabled")


def _as_list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else [value]


def _token_project(app: Any, token: Any) -> Dict[str, Any]:
    """CoCalc's ``project_invite_token_project_id``: ``{"project_id"}`` of a usable token, else ``{"error"}``."""
    row = app.store.one(
        "SELECT expires, counter, usage_limit, project_id::TEXT AS project_id FROM project_invite_tokens "
        "WHERE token=:t LIMIT 1", t=js_str(token))
    if row is None:
        return {"error": "no such token"}
    if checks.enforced(app, "projects.addCollaborator:token-unexpired") and row["expires"] is not None \
            and row["expires"] <= utcnow():
        return {"error": "the token already expired"}
    limit = row["usage_limit"]
    if checks.enforced(app, "projects.addCollaborator:token-usage-limit") and limit is not None \
            and (row["counter"] or 0) >= limit:
        return {"error": f"the token can only be used {js_str(limit)} times"}
    return {"project_id": row["project_id"]}


def _verify_tokens(app: Any, account_id: Any, accounts: List[Any], projects: List[Any], tokens: List[Any]) -> None:
    """Each token must be usable; the projects become the tokens' (whatever the caller named)."""
    for i, token in enumerate(tokens):
        if token is None:
            raise JsError("If tokens are specified, they must all be non-null.")
        found = _token_project(app, token)
        if found.get("error") or not found.get("project_id"):
            raise JsError(f"Project invite token is not valid - {js_str(found.get('error'))}")
        if checks.enforced(app, "projects.addCollaborator:token-project") or not projects[i]:
            projects[i] = found["project_id"]  # a broken check keeps a project the caller named
    checks.require(app, "projects.addCollaborator:token-self", lambda: all(a == account_id for a in accounts),
                   JsError("a project invite token adds only the account that presents it"))


def addCollaborator(app: Any, args: List[Any]) -> Dict[str, Any]:
    """Add accounts to projects the caller can write to, or that its invite tokens open; ``{"project_id"}``."""
    outer = opts_of(args)
    account_id = outer.get("account_id")
    opts = outer.get("opts")
    if not isinstance(opts, dict):
        raise type_error(f"Cannot read properties of {js_str(opts)} (reading 'project_id')")
    tokens = opts.get("token_id") if js_truthy(opts.get("token_id")) else None
    projects = _as_list(opts.get("project_id"))
    single_token = tokens is not None and not isinstance(tokens, list)
    if tokens is not None:  # one project per token, the token's (filled in by _verify_tokens)
        tokens = _as_list(tokens)
        named = projects if isinstance(opts.get("project_id"), list) else projects * len(tokens)
        projects = [(named[i] or "") if i < len(named) else "" for i in range(len(tokens))]
    accounts = _as_list(opts.get("account_id"))
    if tokens is None:
        for project_id in projects:
            if project_id:
                ensure_can_manage_collaborators(app, "projects.addCollaborator:owner-only-mode", project_id, account_id)
    try:
        if tokens is not None:
            _verify_tokens(app, account_id, accounts, projects, tokens)
        elif checks.enforced(app, "projects.addCollaborator:write-access"):
            for project_id in dict.fromkeys(projects):
                if not in_project_group(app.store, account_id, project_id):
                    raise JsError(f"user {account_id} does not have write access to project {js_str(project_id)}")
    except JsError:
        if len(accounts) == 1 and accounts[0] == account_id and tokens is None:
            _verify_course_access(app, account_id, projects[0])
        else:
            raise
    _verify_types(account_id, accounts, projects)
    if tokens is None:
        for project_id in dict.fromkeys(projects):
            if project_id:
                ensure_can_manage_collaborators(app, "projects.addCollaborator:owner-only-mode", project_id, account_id)
    for i, (project_id, target) in enumerate(zip(projects, accounts)):
        if _is_on_project(app.store, target, project_id):
            continue  # already on it: a token is not used up
        app.store.query(
            "UPDATE projects SET users=COALESCE(users,'{}'::JSONB) || "
            "jsonb_build_object(:a::TEXT, jsonb_build_object('group','collaborator')) WHERE project_id=:p::UUID",
            a=target,
            p=project_id,
        )
        if tokens is not None:
            app.store.query("UPDATE project_invite_tokens SET counter=COALESCE(counter, 0)+1 WHERE token=:t",
                            t=js_str(tokens[i]))
        log_project_event(app.store, project_id, account_id, {"event": "invite_user", "invitee_account_id": target})
    return {"project_id": projects[0] if single_token else projects}


def _is_on_project(store: Any, account_id: Any, project_id: Any) -> bool:
    """The database's ``user_is_collaborator``: any entry in ``users`` (through its ``query`` cache)."""
    row = read(store, "query", ("on-project", account_id, project_id), lambda: store.one(
        "SELECT COUNT(*) AS n FROM projects WHERE project_id=:p::UUID AND users ? :a::TEXT", p=project_id, a=account_id),
        always)
    return bool(row and row["n"] > 0)


def _verify_course_access(app: Any, account_id: str, project_id: Any) -> None:
    """A user may add themself to a student project of a course they teach (CoCalc's TA rule)."""
    if not checks.enforced(app, "projects.addCollaborator:course-collaborator"):
        return
    row = app.store.one("SELECT course FROM projects WHERE project_id=:p", p=project_id)
    if row is None:
        raise JsError(f'no project with id "{js_str(project_id)}"')
    course_id = (row.get("course") or {}).get("project_id")
    if not is_valid_uuid(course_id):
        raise JsError(f'cannot add self to "{project_id}" -- must be an admin')
    if project_group(app.store, account_id, course_id) not in ("owner", "collaborator"):
        raise JsError(f'cannot add self to "{project_id}" -- must be owner or collaborator on course project')


def _verify_types(account_id: Any, accounts: List[Any], projects: List[Any]) -> None:
    if not is_valid_uuid(account_id):
        raise JsError(f'account_id (="{js_str(account_id)}") must be a valid uuid string (type=string)')
    if len(accounts) != len(projects):
        raise JsError(
            f"accounts (of length {len(accounts)}) and projects (of length {len(projects)}) must be arrays of the same length"
        )
    for x in accounts:
        if not is_valid_uuid(x):
            raise JsError(f'all account id\'s must be valid uuid\'s, but "{js_str(x)}" is not')
    for x in projects:
        if x != "" and not is_valid_uuid(x):
            raise JsError(f'all project id\'s must be valid uuid\'s (or empty), but "{js_str(x)}" is not')


def removeCollaborator(app: Any, args: List[Any]) -> None:
    """Remove a collaborator (never an owner) from a project."""
    outer = opts_of(args)
    account_id = outer.get("account_id")
    opts = outer.get("opts")
    if not isinstance(opts, dict):
        raise type_error(f"Cannot read properties of {js_str(opts)} (reading 'project_id')")
    project_id, target = opts.get("project_id"), opts.get("account_id")
    checks.require(app, "projects.removeCollaborator:collaborator", lambda: is_collaborator(app.store, account_id, project_id),
                   JsError("user must be a collaborator"))
    if checks.enforced(app, "projects.removeCollaborator:not-owner"):
        _validate_uuids(project_id, target)
        row = app.store.one("SELECT users#>>ARRAY[:a::TEXT,'group'] AS grp FROM projects WHERE project_id=:p",
                            a=target, p=project_id)
        if row is None:
            raise JsError(f"Project not found: {project_id}")
        if row["grp"] == "owner":
            raise _ownership_error("Cannot remove an owner. Demote to collaborator first.")
    if account_id != target:
        ensure_can_manage_collaborators(app, "projects.removeCollaborator:owner-only-mode", project_id, account_id)
    app.store.query(
        # (the database keeps owners even past a forgotten check, as CoCalc's remove_collaborator_from_project does)
        "UPDATE projects SET users = users - :a::TEXT WHERE project_id=:p::UUID AND users#>>ARRAY[:a::TEXT,'group'] != 'owner'",
        a=target,
        p=project_id,
    )
    log_project_event(
        app.store,
        project_id,
        account_id,
        {"event": "remove_collaborator", "removed_name": account_name(app.store, target), "removed_account_id": target},
    )


def _collaborator_call(action: str, what: str, check: str):
    """A hub function that checks (*check*) the caller collaborates on the project, then runs *action*."""

    def call(app: Any, args: List[Any]) -> Any:
        opts = opts_of(args)
        account_id, project_id = opts.get("account_id"), opts.get("project_id")
        checks.require(app, check, lambda: is_collaborator(app.store, account_id, project_id),
                       JsError(f"must be collaborator on project to {what}"))
        if action == "touch":
            return app.projects.touch(project_id, account_id)
        return getattr(app.projects, action)(project_id)

    call.__name__ = action
    call.__doc__ = f"``projects.{action}`` for a collaborator of the project."
    return call


def _opts_object(outer: Dict[str, Any], what: str) -> Dict[str, Any]:
    """``outer.opts``; a missing one fails as JavaScript does when it reads from it (*what*)."""
    opts = outer.get("opts")
    if opts is None:
        raise type_error(f"Cannot {what} of 'opts' as it is undefined."
                         if what.startswith("destructure") else f"Cannot read properties of undefined ({what})")
    return opts if isinstance(opts, dict) else {}


def changeUserType(app: Any, args: List[Any]) -> None:
    """Promote a member to owner or demote an owner to collaborator (owners only; one owner always remains)."""
    outer = opts_of(args)
    account_id = outer.get("account_id")
    opts = _opts_object(outer, "destructure property 'project_id'")
    project_id, target, new_group = opts.get("project_id"), opts.get("target_account_id"), opts.get("new_group")
    checks.require(app, "projects.changeUserType:member", lambda: is_collaborator(app.store, account_id, project_id),
                   _ownership_error("Not a project member"))
    row = app.store.one("SELECT users FROM projects WHERE project_id=:p::UUID", p=project_id)
    if row is None:
        raise _ownership_error("Project not found")
    users = row.get("users")
    _validate_user_type_change(app, users, account_id, target, new_group)
    old_group = users[target]["group"]
    add_user_to_project(app.store, project_id, target, new_group)
    log_project_event(app.store, project_id, account_id, {
        "event": "change_collaborator_type",
        "target_account_id": target,
        "target_name": account_name(app.store, target),
        "old_group": old_group,
        "new_group": new_group,
    })


def _validate_user_type_change(app: Any, users: Any, account_id: str, target: Any, new_group: Any) -> None:
    """CoCalc's ``validateUserTypeChange`` rules, in its order."""
    if not users:
        raise _ownership_error("Project users data is required")
    group_of = {k: (v.get("group") if isinstance(v, dict) else None) for k, v in users.items()}
    checks.require(app, "projects.changeUserType:member", group_of.get(account_id) in MEMBER_GROUPS,
                   _ownership_error("Requesting user is not a valid project member"))
    checks.require(app, "projects.changeUserType:owner", group_of.get(account_id) == "owner",
                   _ownership_error("Only project owners can change user types"))
    if users.get(js_str(target)) in (None, False, 0, ""):
        raise _ownership_error("Target user is not a member of this project")
    if group_of.get(target) not in MEMBER_GROUPS:
        raise _ownership_error("Target user does not have a valid group (must be owner or collaborator)")
    if new_group not in MEMBER_GROUPS:
        raise _ownership_error("New group must be either 'owner' or 'collaborator'")
    if group_of[target] == "owner" and new_group == "collaborator":
        checks.require(app, "projects.changeUserType:last-owner", sum(1 for g in group_of.values() if g == "owner") > 1,
                       _ownership_error("Cannot change the last owner to collaborator. At least one owner is required."))


def inviteCollaborator(app: Any, args: List[Any]) -> None:
    """Add an account to a project as a collaborator and log it.

    With ``email`` CoCalc also mails an invitation; the stand-in sends no e-mail
    and says so after adding the account, as CoCalc does when sending fails.
    """
    outer = opts_of(args)
    account_id = outer.get("account_id")
    opts = _opts_object(outer, "reading 'project_id'")
    project_id, target = opts.get("project_id"), opts.get("account_id")
    checks.require(app, "projects.inviteCollaborator:collaborator", lambda: is_collaborator(app.store, account_id, project_id),
                   JsError("user must be a collaborator"))
    ensure_can_manage_collaborators(app, "projects.inviteCollaborator:owner-only-mode", project_id, account_id)
    # CoCalc's invite merges group "collaborator" into the target's entry, demoting an owner (even the last);
    # CoCalc's rule (only owners change user types, never the last owner) keeps an owner an owner.
    if not (checks.enforced(app, "projects.inviteCollaborator:no-demotion")
            and is_valid_uuid(target) and project_group(app.store, target, project_id) == "owner"):
        add_user_to_project(app.store, project_id, target, "collaborator")
    if opts.get("email"):
        raise JsError("the stand-in does not send e-mail invitations")
    log_project_event(app.store, project_id, account_id, {"event": "invite_user", "invitee_account_id": target})


def setQuotas(app: Any, args: List[Any]) -> None:
    """Merge the given quotas (and the rest of the options) into ``settings`` (site admins only).

    As in CoCalc, a running project whose quotas changed is restarted in the background.
    """
    from .api_system import callback_query

    opts = opts_of(args)
    checks.require(app, "projects.setQuotas:admin", lambda: is_admin(app.store, opts.get("account_id")),
                   JsError("Must be an admin to do admin search."))
    project_id = opts.get("project_id")
    query = "SELECT settings, state->>'state' AS state FROM projects WHERE project_id=:p::UUID"
    before = app.store.one(query, p=project_id) if is_valid_uuid(project_id) else None
    callback_query(
        app.store,
        "UPDATE projects SET settings=COALESCE(settings,'{}'::JSONB) || CAST(:s AS JSONB) WHERE project_id=:p::UUID",
        s=json.dumps(opts),
        p=project_id,
    )
    after = app.store.one(query, p=project_id)
    active = after and after.get("state") in ("running", "starting", "pending")
    if active and (before or {}).get("settings") != after.get("settings"):
        threading.Thread(target=_restart_quietly, args=(app, project_id), daemon=True).start()


def _restart_quietly(app: Any, project_id: str) -> None:
    try:
        app.projects.stop(project_id)
        app.projects.start(project_id)
    except Exception:  # CoCalc only logs a failed restart
        pass


def deleteProject(app: Any, args: List[Any]) -> None:
    """Take a project's licenses, stop it and mark it deleted (CoCalc keeps the row).

    A ``skipPermissionCheck`` among the caller's options is ignored (check
    ``projects.deleteProject:no-skip``): CoCalc exports ``server/projects/delete.ts``
    to the API as it is, so there a truthy one skips every check and marks the
    project deleted directly; breaking the check plays that hole.
    """
    from .api_db import set_query

    opts = opts_of(args)
    project_id, account_id = opts.get("project_id"), opts.get("account_id")
    skip = opts.get("skipPermissionCheck") not in (None, False, 0, "") and \
        not checks.enforced(app, "projects.deleteProject:no-skip")
    if not is_valid_uuid(project_id):
        raise JsError("project_id must be a valid UUID")
    if not skip:
        checks.require(app, "projects.deleteProject:signed-in", bool(account_id), JsError("must be signed in"))
        if not is_valid_uuid(account_id):
            raise JsError("account_id must be a valid UUID")
        checks.require(app, "projects.deleteProject:owner",
                       lambda: is_admin(app.store, account_id) or is_collaborator(app.store, account_id, project_id),
                       JsError("must be an owner to delete a project"))
    app.store.query("UPDATE projects SET site_license='{}'::JSONB WHERE project_id=:p::UUID", p=project_id)
    try:
        app.projects.stop(project_id)
    except Exception:  # CoCalc only logs a failed stop here
        pass
    if not skip and account_id:
        set_query(app, account_id, "projects", {"project_id": project_id, "deleted": True})
    else:
        app.store.query("UPDATE projects SET deleted=true WHERE project_id=:p::UUID", p=project_id)


def history(app: Any, args: List[Any]) -> Dict[str, Any]:
    """``sync.history``: the stand-in has no editing sessions, so every history is empty."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    checks.require(app, "sync.history:collaborator",
                   lambda: account_id and is_collaborator(app.store, account_id, opts.get("project_id")),
                   JsError("user must be collaborator on source project"))
    return {"patches": [], "info": {}}


FUNCTIONS = {
    "createProject": createProject,
    "copyPathBetweenProjects": copyPathBetweenProjects,
    "addCollaborator": addCollaborator,
    "removeCollaborator": removeCollaborator,
    "changeUserType": changeUserType,
    "inviteCollaborator": inviteCollaborator,
    "setQuotas": setQuotas,
    "start": _collaborator_call("start", "start it", check="projects.start:collaborator"),
    "stop": _collaborator_call("stop", "stop it", check="projects.stop:collaborator"),
    "touch": _collaborator_call("touch", "touch it", check="projects.touch:collaborator"),
    "state": _collaborator_call("state", "get state", check="projects.state:collaborator"),
    "status": _collaborator_call("status", "get status", check="projects.status:collaborator"),
    "deleteProject": deleteProject,
}

SYNC_FUNCTIONS = {"history": history}

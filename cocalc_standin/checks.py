"""Every permission check of the stand-in, by name, and the switch that turns some off.

A check is named ``<call or bridge>:<rule>`` (``projects.start:collaborator``,
``bridge.hub:account-key``, ``key:expired``) and described in one line that
names the CoCalc source file (under ``src/packages/``) whose rule it follows.
The code applies a check only through this module::

    checks.require(app, "projects.start:collaborator",
                   lambda: is_collaborator(app.store, account_id, project_id),
                   JsError("must be collaborator on project to start it"))
    if checks.enforced(app, "key:expired") and expired:
        ...

(*app* is the :class:`~cocalc_standin.server.App` or its store.)

``COCALC_STANDIN_BREAK_CHECKS`` (comma-separated names), read once when a
stand-in starts, switches checks off: a broken check is skipped entirely, its
test not even evaluated, and the call goes on as if it were allowed.  That is
how self-tests play a server that forgot a check.  An unknown name stops the
stand-in before it starts.  ``python -m cocalc_standin checks`` lists them all.
"""
from typing import Any, Callable, Dict, FrozenSet, Iterable, Union

#: Environment variable naming the checks to switch off.
BREAK_VARIABLE = "COCALC_STANDIN_BREAK_CHECKS"

_MANAGE = "server/projects/ownership-checks.ts"

#: name -> one-line description (with the CoCalc file it mirrors).
CHECKS: Dict[str, str] = {
    # ------------------------------------------------------------------ the HTTP bridges
    "bridge.hub:account-key": "the hub bridge serves account keys only: a bad, expired, deleted or "
                              "project-scoped key gets the must-be-signed-in text (next/pages/api/conat/hub.ts)",
    "bridge.project:signed-in": "the project bridge wants a key of an account or of a project "
                                "(next/pages/api/conat/project.ts)",
    "bridge.project:key-match": "a project-scoped key reaches only its own project (next/pages/api/conat/project.ts)",
    "bridge.project:collaborator": "an account key reaches only projects the account owns or collaborates on, "
                                   "admins included (next/pages/api/conat/project.ts, server/projects/is-collaborator.ts)",
    # -------------------------------------------------------------------- API key validity
    "key:banned": "the key of a banned account signs nobody in (server/api/manage.ts getAccountWithApiKey, "
                  "server/accounts/is-banned.ts)",
    "key:secret": "the presented secret must match the stored hash of the key its id names (server/api/manage.ts)",
    "key:deleted": "a key whose api_keys row is gone signs nobody in once the key lookup cache has let it go "
                   "(server/api/manage.ts, database/pool/cached.ts)",
    "key:expired": "an expired key signs nobody in and is deleted when presented (server/api/manage.ts)",
    "key:creator-collaborator": "a project key whose creator no longer collaborates on the project signs nobody in "
                                "and is deleted (server/api/manage.ts)",
    # ---------------------------------------------------------- sign-in links and cookies
    "impersonate:unexpired": "an impersonation link signs in only with a known token that has not expired "
                             "(server/auth/impersonate.ts)",
    "impersonate:not-banned": "no remember_me cookie is made for a banned account (server/auth/remember-me.ts)",
    "cookie:unexpired": "a remember_me cookie whose row has expired (or has no expiry) signs nobody in "
                        "(server/auth/get-account.ts)",
    "cookie:not-banned": "a remember_me cookie of a banned account signs nobody in (server/auth/get-account.ts)",
    "api-keys:signed-in": "/api/v2/api-keys wants a remember_me cookie or an API key (next/pages/api/v2/api-keys.ts)",
    # -------------------------------------------------------------------------- projects
    "projects.createProject:admin-project-id": "only site admins may choose the new project's id "
                                               "(server/projects/create.ts)",
    "projects.copyPathBetweenProjects:signed-in": "copying needs a signed-in account (server/conat/api/projects.ts)",
    "projects.copyPathBetweenProjects:source-collaborator": "the caller must collaborate on the source project "
                                                            "(server/conat/api/projects.ts)",
    "projects.copyPathBetweenProjects:target-collaborator": "the caller must collaborate on another target project "
                                                            "(server/conat/api/projects.ts)",
    "projects.addCollaborator:owner-only-mode": "with manage_users_owner_only only owners add collaborators "
                                                f"({_MANAGE} ensureCanManageCollaborators)",
    "projects.addCollaborator:write-access": "the caller must own or collaborate on every project, or be a site "
                                             "admin (server/projects/collab.ts, database user_is_in_project_group)",
    "projects.addCollaborator:course-collaborator": "adding oneself to a project one is not on needs a course whose "
                                                    "project one collaborates on (server/projects/collab.ts)",
    "projects.addCollaborator:token-unexpired": "an invite token past its expiry adds nobody "
                                                "(server/projects/collab.ts project_invite_token_project_id)",
    "projects.addCollaborator:token-usage-limit": "an invite token used usage_limit times adds nobody "
                                                  "(server/projects/collab.ts project_invite_token_project_id)",
    "projects.addCollaborator:token-project": "an invite token adds to its own project only; a project_id in the "
                                              "options is ignored (server/projects/collab.ts)",
    "projects.addCollaborator:token-self": "an invite token adds only the account presenting it "
                                           "(util/db-schema/project-invite-tokens.ts; CoCalc adds any account_id "
                                           "given, and counts a token repeated in one call once: "
                                           "server/projects/collab.ts)",
    "projects.removeCollaborator:collaborator": "only members of the project remove collaborators "
                                                "(server/projects/collaborators.ts)",
    "projects.removeCollaborator:not-owner": f"an owner is never removed, only demoted first ({_MANAGE} ensureCanRemoveUser)",
    "projects.removeCollaborator:owner-only-mode": "with manage_users_owner_only only owners remove others "
                                                   f"({_MANAGE})",
    "projects.changeUserType:member": "only members of the project change user types (server/projects/collaborators.ts)",
    "projects.changeUserType:owner": "only owners promote or demote (util/project-ownership.ts validateUserTypeChange)",
    "projects.changeUserType:last-owner": "the last owner is never demoted (util/project-ownership.ts)",
    "projects.inviteCollaborator:collaborator": "only members of the project invite (server/projects/collaborators.ts)",
    "projects.inviteCollaborator:owner-only-mode": f"with manage_users_owner_only only owners invite ({_MANAGE})",
    "projects.inviteCollaborator:no-demotion": "inviting an owner leaves them owner (CoCalc's invite merges group \"collaborator\" and demotes them: server/projects/collaborators.ts, util/project-ownership.ts)",
    "projects.setQuotas:admin": "only site admins set quotas (server/conat/api/projects.ts)",
    "projects.start:collaborator": "only members start a project, admins neither (server/conat/api/projects.ts)",
    "projects.stop:collaborator": "only members stop a project (server/conat/api/projects.ts)",
    "projects.touch:collaborator": "only members touch a project (server/conat/api/projects.ts)",
    "projects.state:collaborator": "only members read a project's state (server/conat/api/projects.ts)",
    "projects.status:collaborator": "only members read a project's status (server/conat/api/projects.ts)",
    "projects.deleteProject:signed-in": "deleting needs a signed-in account (server/projects/delete.ts)",
    "projects.deleteProject:owner": "deleting is for site admins and members (collaborators too, though the text "
                                    "says owner) (server/projects/delete.ts)",
    "projects.deleteProject:no-skip": "a caller's skipPermissionCheck is ignored: the owner check always applies "
                                      "(CoCalc honours it from the API and skips every check: server/projects/delete.ts)",
    "projects.copyPathBetweenProjects:source-in-home": "the source path stays inside the source project's home "
                                                       "(server/projects/control/util.ts copyPath)",
    "projects.copyPathBetweenProjects:target-in-home": "the target path stays inside the target project's home "
                                                       "(server/projects/control/util.ts copyPath)",
    "sync.history:collaborator": "only members read a file's editing history (server/conat/api/sync.ts)",
    # ---------------------------------------------------------------------------- system
    "system.userSearch:signed-in": "searching needs a signed-in account (server/conat/api/system.ts)",
    "system.userSearch:admin-search": "an admin search (admin: true) is for site admins (server/conat/api/system.ts)",
    "system.userSearch:limit-cap": "a non-admin gets at most 50 results (server/conat/api/system.ts)",
    "system.manageApiKeys:valid-account": "keys are managed for existing accounts only (server/api/manage.ts)",
    "system.manageApiKeys:project-collaborator": "a project's keys are managed by its members only "
                                                 "(server/api/manage.ts)",
    "system.generateUserAuthToken:signed-in": "a sign-in token needs a signed-in caller (server/auth/auth-token.ts)",
    "system.generateUserAuthToken:ban": "after a wrong password the caller waits 30 s (server/auth/auth-token.ts)",
    "system.generateUserAuthToken:admin-or-password": "a non-admin must give the target account's password "
                                             "(server/auth/auth-token.ts)",
    "system.adminResetPasswordLink:admin": "only site admins make password-reset links (server/conat/api/system.ts)",
    # -------------------------------------------------------------------- db.userQuery
    "db.userQuery:sudo": "querying as another account ({account_id} option) is for site admins "
                               "(database/postgres-user-queries.coffee)",
    "db.userQuery:get-fields": "a read names only fields the table's user_query.get allows "
                               "(database/postgres-user-queries.coffee, util/db-schema)",
    "db.userQuery:set-fields": "a write changes only fields the table's user_query.set allows "
                               "(database/postgres-user-queries.coffee, util/db-schema)",
    "db.userQuery:accounts-own": "accounts is the caller's own row, read and written (util/db-schema/accounts.ts)",
    "db.userQuery:projects-mine": "without a project_id, project rows (projects, file_use) are the caller's "
                                  "projects only (database/postgres-user-queries.coffee pg_where 'projects')",
    "db.userQuery:projects-read": "a project_id read needs membership or site admin "
                                  "(database/postgres-user-queries.coffee _user_get_query_where)",
    "db.userQuery:projects-write": "writing a project row needs membership or site admin "
                                   "(database/postgres-user-queries.coffee _require_project_ids_in_groups)",
    "db.userQuery:same-project": "a query acting for a project (project_id among the options) writes that project's "
                                 "row only (database/postgres-user-queries.coffee _user_set_query_enforce_requirements)",
    "db.userQuery:project-id-option": "a project_id among an account's options does not make it act as the project: "
                                      "the query runs as the account (CoCalc passes it on: server/conat/api/db.ts, "
                                      "database/user-query/index.ts, postgres-user-queries.coffee)",
    "db.userQuery:project-users-groups": "projects.users set by a user query changes nobody's group "
                                         "(database/postgres/project/user-set-query-project-users.ts; CoCalc passes "
                                         "no account_id to it, so any group change goes through)",
    "db.userQuery:admin-table": "tables marked admin (site_licenses) are read and written by site admins only "
                                "(util/db-schema/site-licenses.ts, database/postgres-user-queries.coffee)",
    "db.userQuery:messages-mine": "messages are read by their recipients only (util/db-schema/messages.ts)",
    "db.userQuery:messages-recipient": "only a recipient flags a message (util/db-schema/messages.ts instead_of_change)",
    "db.userQuery:owner-only-setting": "only owners set projects.manage_users_owner_only (util/db-schema/projects.ts "
                                       "check_hook)",
    "db.userQuery:invite-tokens-owner-only": "with manage_users_owner_only only owners and site admins write the "
                                             "project's invite tokens, as CoCalc's UI offers them to owners only "
                                             "(frontend/collaborators/add-collaborators.tsx; CoCalc's table lets "
                                             "any member write them: util/db-schema/project-invite-tokens.ts)",
    "db.userQuery:organizations-member": "an organizations row is written only by a member of it (its users map; "
                                         "util/db-schema/organizations.ts check_hook, database accountIsInOrganization)",
    "db.userQuery:organizations-get": "organizations rows are not read through a user query: CoCalc's get fails for "
                                      "everyone, its pg_where naming a parameter it never fills "
                                      "(util/db-schema/organizations.ts, postgres-user-queries.coffee)",
    "db.touch:signed-in": "db.touch needs a signed-in account (server/conat/api/db.ts)",
    "db.touch:collaborator": "touching a project needs membership (server/conat/api/db.ts)",
    "db.fileUseTimes:read-access": "file use times of a project are for its members (server/conat/api/file-use-times.ts)",
    "db.getLegacyTimeTravelInfo:collaborator": "an archived history is for the project's members "
                                               "(server/conat/api/db.ts)",
    "db.getLegacyTimeTravelPatches:signed-in": "reading a history blob needs a signed-in account "
                                               "(server/conat/api/db.ts)",
    # ------------------------------------------------------------------------------- org
    "org.getAll:admin": "listing every organization is for site admins (server/conat/api/org.ts)",
    "org.create:admin": "creating an organization is for site admins (server/conat/api/org.ts)",
    "org.get:org-admin": "an organization's admins and site admins read it, members do not (server/conat/api/org.ts)",
    "org.set:org-admin": "an organization's admins and site admins change it (server/conat/api/org.ts)",
    "org.addAdmin:admin": "only site admins promote organization admins (server/conat/api/org.ts)",
    "org.addAdmin:one-org": "a member of another organization is not made admin here (server/conat/api/org.ts)",
    "org.addUser:admin": "only site admins add or move accounts into an organization (server/conat/api/org.ts)",
    "org.createUser:org-admin": "an organization's admins and site admins create its accounts (server/conat/api/org.ts)",
    "org.removeUser:org-admin": "an organization's admins and site admins remove members (server/conat/api/org.ts)",
    "org.removeUser:not-org-admin": "an organization admin is demoted before being removed (server/conat/api/org.ts)",
    "org.removeUser:same-org": "an organization admin removes members of its own organization only; site admins "
                               "anyone (CoCalc never checks the member's org: server/conat/api/org.ts)",
    "org.removeAdmin:org-admin": "an organization's admins and site admins demote admins (server/conat/api/org.ts)",
    "org.createToken:in-org": "sign-in tokens are made only for members of an organization (server/conat/api/org.ts)",
    "org.createToken:signed-in": "making a sign-in token needs a signed-in caller (server/conat/api/org.ts)",
    "org.createToken:org-admin": "the member's organization admins and site admins make its tokens "
                                 "(server/conat/api/org.ts)",
    "org.getUsers:org-admin": "an organization's admins and site admins list its members (server/conat/api/org.ts)",
    "org.message:org-admin": "an organization's admins and site admins message its members (server/conat/api/org.ts)",
    # ---------------------------------------------------------------- jupyter, messages
    "jupyter.kernels:signed-in": "a project's kernel list needs a signed-in account (server/jupyter/kernels.ts)",
    "jupyter.kernels:collaborator": "a project's kernel list is for its members (server/jupyter/kernels.ts)",
    "jupyter.execute:signed-in": "running code in a project needs a signed-in account (server/jupyter/execute.ts)",
    "jupyter.execute:collaborator": "running code in a project is for its members (server/jupyter/execute.ts)",
    "jupyter.execute:cache-collaborator": "a saved output is answered only to members of the projects it was run in "
                                          "(CoCalc answers it before its membership check, and to a bare hash with "
                                          "no check at all: server/jupyter/execute.ts)",
    "messages.send:signed-in": "sending a message needs a signed-in account (server/conat/api/messages.ts)",
    "messages.send:sender": "a message is always from the caller; a from_id in the options is ignored "
                            "(server/conat/api/messages.ts)",
    "messages.get:own": "messages.get lists the caller's own messages only (server/messages/get.ts)",
}


class CheckError(Exception):
    """``COCALC_STANDIN_BREAK_CHECKS`` names an unknown check; ``str()`` is one paragraph."""


def parse_broken(names: Union[None, str, Iterable[str]]) -> FrozenSet[str]:
    """The checks *names* switches off (a comma-separated string or names); CheckError for an unknown one."""
    if names is None:
        return frozenset()
    if isinstance(names, str):
        names = names.split(",")
    wanted = [n.strip() for n in names if n and n.strip()]
    unknown = [n for n in wanted if n not in CHECKS]
    if unknown:
        raise CheckError(
            f"{BREAK_VARIABLE} names {'an unknown check' if len(unknown) == 1 else 'unknown checks'}: "
            f"{', '.join(repr(n) for n in unknown)}. It takes comma-separated names of the stand-in's permission "
            "checks, which `python -m cocalc_standin checks` lists; unset it to keep every check."
        )
    return frozenset(wanted)


class Checks:
    """The checks one stand-in applies: all of them but those switched off."""

    def __init__(self, broken: Iterable[str] = ()):
        self.broken = parse_broken(list(broken))

    def enforced(self, name: str) -> bool:
        if name not in CHECKS:
            raise KeyError(f"stand-in bug: permission check {name!r} is not registered in cocalc_standin/checks.py")
        return name not in self.broken


_ALL = Checks()


def of(where: Any) -> Checks:
    """The checks of *where*: an App, a Store, or anything carrying one (every check when none)."""
    for holder in (where, getattr(where, "store", None)):
        found = getattr(holder, "checks", None)
        if isinstance(found, Checks):
            return found
    return _ALL


def enforced(where: Any, name: str) -> bool:
    """Whether check *name* is applied by the stand-in of *where* (KeyError for an unregistered name)."""
    return of(where).enforced(name)


def require(where: Any, name: str, test: Union[bool, Callable[[], Any]], error: BaseException) -> None:
    """Raise *error* unless *test* holds; nothing at all (*test* not evaluated) when check *name* is broken."""
    if enforced(where, name) and not (test() if callable(test) else test):
        raise error


def listing() -> str:
    """``name<TAB>description``, one check a line."""
    return "".join(f"{name}\t{text}\n" for name, text in CHECKS.items())

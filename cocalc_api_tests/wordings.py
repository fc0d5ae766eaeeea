"""CoCalc's own words for a refusal, each once, named for what it refuses.

Tests compare a server's answer with these texts, so that a refusal for the
wrong reason (or an error that only looks like one) fails.  Each constant notes
where CoCalc's code says it (paths under ``src/packages/``, sagemathinc/cocalc
5cb3315c).  The bridges' own refusals are bare; errors thrown by a hub or
project function arrive as JavaScript prints them (``Error: …``,
``OwnershipError: …``); user-query errors are bare strings (``FATAL: …``).
"""

# -- the hub bridge (next/pages/api/conat/hub.ts) ------------------------------------------

#: No usable account key: bogus, expired, deleted, an org token, or any project-scoped key.
MUST_SIGN_IN = "must be signed in and MUST provide an api key (cookies are not allowed)"
#: The start of :data:`MUST_SIGN_IN`, enough to recognise it in a longer message.
BAD_KEY = "must be signed in and MUST provide an api key"
#: No ``Authorization`` header at all (server/auth/api.ts).
NO_KEY = "You must provide authentication via an API key."

# -- the project bridge (next/pages/api/conat/project.ts) ----------------------------------

#: No usable key on the project endpoint.
PROJECT_NO_KEY = "must sign in as project or account"
#: An account key and no ``project_id``.
NO_PROJECT = "must specify project_id or use project-specific api key"
#: A project-scoped key used on another project.
OTHER_PROJECT = "project specific api key must match requested project"
#: An account that is neither owner nor collaborator (site admins included).
NOT_PROJECT_COLLABORATOR = "user must be a collaborator on the project"
#: A ``project_id`` that is no UUID.
INVALID_ID = "invalid account_id or project_id -- all must be valid uuid's"

# -- hub functions (server/conat/api/*.ts, server/projects/*.ts) ---------------------------


def must_collaborate(verb: str) -> str:
    """``projects.start``/``stop``/``touch``/``state``/``status`` refusing a non-collaborator.

    >>> must_collaborate("start it")
    'Error: must be collaborator on project to start it'
    """
    return f"Error: must be collaborator on project to {verb}"


#: ``db.touch`` with a project, ``jupyter`` calls' wording differs (see below).
NOT_COLLABORATOR = "Error: user must be collaborator on project"
#: ``sync.history`` and ``copyPathBetweenProjects`` for the source.
NOT_SOURCE_COLLABORATOR = "Error: user must be collaborator on source project"
#: ``copyPathBetweenProjects`` for the target.
NOT_TARGET_COLLABORATOR = "Error: user must be collaborator on target project"
#: ``copyPathBetweenProjects`` with a path that leaves the source / the target project's home
#: (server/projects/control/util.ts).
SOURCE_OUTSIDE_HOME = "Error: source path must be contained in project home dir"
TARGET_OUTSIDE_HOME = "Error: target path must be contained in target project home dir"
#: ``addCollaborator`` with an invite token past its expiry (server/projects/collab.ts).
TOKEN_EXPIRED = "Error: Project invite token is not valid - the token already expired"


def token_used_up(limit: int) -> str:
    """``addCollaborator`` with an invite token used *limit* times already.

    >>> token_used_up(1)
    'Error: Project invite token is not valid - the token can only be used 1 times'
    """
    return f"Error: Project invite token is not valid - the token can only be used {limit} times"


#: ``removeCollaborator``/``inviteCollaborator`` by someone outside the project.
NOT_A_COLLABORATOR = "Error: user must be a collaborator"
#: ``deleteProject`` by a stranger.
NOT_OWNER_DELETE = "Error: must be an owner to delete a project"
#: ``db.fileUseTimes`` on a project the caller is not in.
NO_READ_ACCESS = "Error: user does not have read access to the given project"
#: ``db.getLegacyTimeTravelInfo`` on a project the caller is not in.
LEGACY_NOT_COLLABORATOR = "Error: must be collaborator on project"
#: ``manageApiKeys`` with a project the caller is not in.
API_KEYS_NOT_COLLABORATOR = "Error: user must be collaborator on project to manage project_id api keys"
#: ``add``/``remove``/``inviteCollaborator`` by a non-owner where ``manage_users_owner_only`` is on
#: (server/projects/ownership-checks.ts).
OWNERS_ONLY_MANAGE = "OwnershipError: Only owners can manage collaborators when this setting is enabled"
#: ``changeUserType``: the caller is not in the project / not an owner / the target is not in it.
NOT_A_MEMBER = "OwnershipError: Not a project member"
ONLY_OWNERS_CHANGE_TYPES = "OwnershipError: Only project owners can change user types"
TARGET_NOT_MEMBER = "OwnershipError: Target user is not a member of this project"
#: ``removeCollaborator`` of an owner.
CANNOT_REMOVE_OWNER = "OwnershipError: Cannot remove an owner. Demote to collaborator first."
#: ``setQuotas`` and ``userSearch`` with ``admin: true`` by a non-admin (sic: one text for both).
ADMIN_SEARCH_ONLY = "Error: Must be an admin to do admin search."
#: ``createProject`` with a ``project_id`` chosen by a non-admin.
ONLY_ADMINS_PICK_ID = "Error: only admins can specify the project_id"
#: ``adminResetPasswordLink`` by a non-admin.
MUST_BE_ADMIN = "Error: must be an admin"
#: ``jupyter.kernels``/``execute`` in a project the caller is not in.
JUPYTER_NOT_COLLABORATOR = "Error: permission denied -- user must be collaborator on project"

# -- organizations (server/conat/api/org.ts) -----------------------------------------------

#: ``org.getAll`` by anyone but a site admin; also the second signal of ``Session.is_site_admin``.
NOT_SITE_ADMIN = "must be a site admin"
#: ``org.create`` by anyone but a site admin.
ONLY_ADMINS_CREATE_ORGS = "Error: only admins may create organizations"
#: ``org.get``/``set``/``getUsers``/``message``/``createUser``/``removeUser``/``removeAdmin``/``createToken``.
NOT_ORG_ADMIN = "Error: user must be an admin of the organization or site-admin"
#: ``org.addAdmin`` by anyone but a site admin.
ONLY_SITE_ADMINS_ADD_ORG_ADMINS = "Error: only site admins can make a user an organization admin right now"
#: ``org.addUser`` by anyone but a site admin.
ONLY_SITE_ADMINS_ADD_USERS = "Error: only site admins can add/move a user to an org right now"

# -- user queries (database/postgres-user-queries.coffee) ----------------------------------

#: An admin-only table read or written by anyone else.
FATAL_NOT_ADMIN = "FATAL: user must be an admin"
#: A project the caller is not in, through ``db.userQuery``.
FATAL_NO_PROJECT_READ = "FATAL: you do not have read access to this project"

#: ``projects.manage_users_owner_only`` set by anyone but an owner, site admins included (util/db-schema/projects.ts).
OWNER_ONLY_SETTING = "Error: Only project owners can change collaborator management settings"
#: An ``organizations`` write by anyone outside the row's ``users`` map (util/db-schema/organizations.ts).
NOT_ORG_MEMBER = "account must be a member of the organization"

def fatal_cannot_change(table: str, field: str) -> str:
    """A user query that sets a field nobody may set."""
    return f"FATAL: changing {table}.{field} not allowed"


# -- sign-in links (/auth/impersonate) -----------------------------------------------------


def unknown_token_page(token: str) -> str:
    """What ``GET /auth/impersonate`` answers for an unknown or expired token."""
    return f"ERROR: impersonate error -- Error: unknown or expired token: '{token}'"

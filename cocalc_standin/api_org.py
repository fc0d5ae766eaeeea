"""Hub ``org.*`` calls: organizations, their members and admins, sign-in tokens.

Permissions as in CoCalc: creating organizations, listing all of them, adding
or moving users and promoting admins are for site admins (``admin`` in
``accounts.groups``); the other calls are also open to the organization's own
admins (``organizations.admin_account_ids``).  Membership is ``accounts.org``.
"""
import uuid
from typing import Any, Dict, List, Optional, Tuple

from .api_auth import create_auth_token, insert_account, random_key
from . import checks
from .api_common import JsError, is_admin, opts_of
from .api_messages import send_message
from .api_projects import FIRST_PROJECT_TITLE, create_project
from .api_system import central_log

_ORG_FIELDS = ("title", "description", "link", "email_address")


def is_org_admin(store: Any, account_id: Optional[str], name: Any) -> bool:
    """Whether *account_id* is among the organization's admins."""
    if not account_id:
        return False
    row = store.one(
        "SELECT COUNT(*) AS count FROM organizations WHERE name=:n AND :a=ANY(admin_account_ids)", n=name, a=account_id
    )
    return row["count"] > 0


def assert_allowed(app: Any, check: str, account_id: Optional[str], name: Any) -> None:
    """Organization admins and site admins only (check *check*)."""
    store = app.store
    checks.require(app, check,
                   lambda: account_id and (is_org_admin(store, account_id, name) or is_admin(store, account_id)),
                   JsError("user must be an admin of the organization or site-admin"))


def get_account(store: Any, user: Any) -> Dict[str, Any]:
    """``{"name": org, "account_id", "email_address"}`` of an account id or email address, or ``{}``."""
    row = store.one(
        "SELECT org as name, account_id, email_address FROM accounts "
        "WHERE account_id::varchar=:u::varchar OR email_address=:u::varchar",
        u=user,
    )
    return row or {}


def getAll(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """Every organization (site admins only)."""
    checks.require(app, "org.getAll:admin", lambda: is_admin(app.store, opts_of(args).get("account_id")),
                   JsError("must be a site admin"))
    return app.store.query("SELECT name, title, admin_account_ids FROM organizations")


def create(app: Any, args: List[Any]) -> str:
    """Create an organization with a name no account or organization uses."""
    opts = opts_of(args)
    name = opts.get("name")
    checks.require(app, "org.create:admin", lambda: is_admin(app.store, opts.get("account_id")),
                   JsError("only admins may create organizations"))
    taken = app.store.one(
        "SELECT (SELECT COUNT(*) FROM accounts WHERE name=:n) + (SELECT COUNT(*) FROM organizations WHERE name=:n) AS count",
        n=name,
    )
    if taken["count"] > 0:
        raise JsError(f"name {name} is already used by some account or organization")
    organization_id = str(uuid.uuid4())
    app.store.query("INSERT INTO organizations(organization_id,name) VALUES(:o,:n)", o=organization_id, n=name)
    return organization_id


def get(app: Any, args: List[Any]) -> Dict[str, Any]:
    """Name, title, description, link, email address and admins of an organization."""
    opts = opts_of(args)
    assert_allowed(app, "org.get:org-admin", opts.get("account_id"), opts.get("name"))
    row = app.store.one(
        "SELECT name, title, description, link, email_address, admin_account_ids FROM organizations WHERE name=:n",
        n=opts.get("name"),
    )
    if row is None:
        raise JsError(f"no org named '{opts.get('name')}'")
    return row


def set(app: Any, args: List[Any]) -> None:
    """Change the given properties (CoCalc's SQL fails when none is given; so does this)."""
    opts = opts_of(args)
    assert_allowed(app, "org.set:org-admin", opts.get("account_id"), opts.get("name"))
    fields = [f for f in _ORG_FIELDS if opts.get(f) is not None]
    assignments = ",".join(f"{f}=:{f}" for f in fields)
    app.store.query(
        f"UPDATE organizations SET {assignments} WHERE name=:name",
        name=opts.get("name"),
        **{f: opts[f] for f in fields},
    )


def _add_user(app: Any, account_id: Optional[str], name: Any, user: Any) -> None:
    checks.require(app, "org.addUser:admin", lambda: is_admin(app.store, account_id),
                   JsError("only site admins can add/move a user to an org right now"))
    target = get_account(app.store, user).get("account_id")
    if not target:
        raise JsError(f"cannot find user '{user}'")
    app.store.query("UPDATE accounts SET org=:n WHERE account_id=:a", n=name, a=target)


def addAdmin(app: Any, args: List[Any]) -> None:
    """Make a user (not a member of another organization) an admin and member (site admins only)."""
    opts = opts_of(args)
    name, user, account_id = opts.get("name"), opts.get("user"), opts.get("account_id")
    found = get_account(app.store, user)
    if not found.get("account_id"):
        raise JsError(f"no such account '{user}'")
    checks.require(app, "org.addAdmin:one-org", found.get("name") is None or found["name"] == name,
                   JsError(f"User '{user}' is already member of another organization"))
    checks.require(app, "org.addAdmin:admin", lambda: is_admin(app.store, account_id),
                   JsError("only site admins can make a user an organization admin right now"))
    app.store.query(
        "UPDATE organizations SET admin_account_ids = (SELECT array_agg(DISTINCT x) FROM "
        "unnest(COALESCE(admin_account_ids, '{}') || :a::uuid) AS t(x)) WHERE name = :n",
        n=name,
        a=found["account_id"],
    )
    _add_user(app, account_id, name, found["account_id"])


def addUser(app: Any, args: List[Any]) -> None:
    """Move an existing account into the organization (site admins only)."""
    opts = opts_of(args)
    _add_user(app, opts.get("account_id"), opts.get("name"), opts.get("user"))


def createUser(app: Any, args: List[Any]) -> str:
    """Create an account in the organization, with its first project; its id."""
    opts = opts_of(args)
    account_id, name = opts.get("account_id"), opts.get("name")
    password = opts.get("password")
    if password is None:
        password = random_key(16)
    assert_allowed(app, "org.createUser:org-admin", account_id, name)
    new_account_id = insert_account(
        app.store,
        email=opts.get("email"),
        first_name=opts.get("firstName"),
        last_name=opts.get("lastName"),
        password=password,
        owner_id=account_id,
    )
    create_project(app, new_account_id, FIRST_PROJECT_TITLE)
    app.store.query("UPDATE accounts SET org=:n WHERE account_id=:a", n=name, a=new_account_id)
    return new_account_id


def _allowed_target(app: Any, args: List[Any], check: str) -> Tuple[Any, str]:
    """The organization name and the account of ``user``, once the caller may manage the organization (*check*)."""
    opts = opts_of(args)
    name = opts.get("name")
    assert_allowed(app, check, opts.get("account_id"), name)
    target = get_account(app.store, opts.get("user")).get("account_id")
    if not target:
        raise JsError(f"cannot find user '{opts.get('user')}'")
    return name, target


def removeUser(app: Any, args: List[Any]) -> None:
    """Take a non-admin member out of the organization."""
    name, target = _allowed_target(app, args, check="org.removeUser:org-admin")
    caller = opts_of(args).get("account_id")
    # CoCalc never checks that *target* is in organization *name* (org.ts): an admin of one organization
    # could clear anybody's accounts.org.  Its rule: only the member's organization admins (and site admins).
    checks.require(app, "org.removeUser:same-org",
                   lambda: is_admin(app.store, caller) or get_account(app.store, target).get("name") == name,
                   JsError("user must be an admin of the organization or site-admin"))
    checks.require(app, "org.removeUser:not-org-admin", lambda: not is_org_admin(app.store, target, name),
                   JsError("admin cannot be removed from org; first remove them from being an admin"))
    app.store.query("UPDATE accounts SET org=NULL WHERE account_id=:a", a=target)


def removeAdmin(app: Any, args: List[Any]) -> None:
    """Demote an admin to a plain member."""
    name, target = _allowed_target(app, args, check="org.removeAdmin:org-admin")
    app.store.query(
        "UPDATE organizations SET admin_account_ids = array_remove(admin_account_ids, :a::uuid) WHERE name = :n",
        a=target,
        n=name,
    )


def createToken(app: Any, args: List[Any]) -> Dict[str, str]:
    """A temporary sign-in token for a member: ``{"token", "url"}`` (not an API key)."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    found = get_account(app.store, opts.get("user"))
    checks.require(app, "org.createToken:in-org", bool(found.get("name")), JsError("user is not in an org"))
    checks.require(app, "org.createToken:signed-in", bool(account_id), JsError("must be signed in"))
    if not found.get("account_id"):
        raise JsError("account not found")
    assert_allowed(app, "org.createToken:org-admin", account_id, found.get("name"))
    admin = is_admin(app.store, account_id)
    token = create_auth_token(app.store, found["account_id"], account_id, admin, opts.get("expire"))
    central_log(app.store, "auth-token", {"account_id": account_id, "user_account_id": found["account_id"], "is_admin": admin})
    return {"token": token, "url": app.site_url(f"auth/impersonate?auth_token={token}")}


def expireToken(app: Any, args: List[Any]) -> None:
    """Delete a sign-in token (CoCalc lets any signed-in account do this)."""
    app.store.query("DELETE FROM auth_tokens WHERE auth_token=:t", t=opts_of(args).get("token"))


def getUsers(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """Members: first_name, last_name, account_id, email_address, last_active."""
    opts = opts_of(args)
    assert_allowed(app, "org.getUsers:org-admin", opts.get("account_id"), opts.get("name"))
    return app.store.query(
        "SELECT first_name, last_name, account_id, email_address, last_active FROM accounts WHERE org=:n",
        n=opts.get("name"),
    )


def message(app: Any, args: List[Any]) -> None:
    """Send a message from the caller to every member."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    assert_allowed(app, "org.message:org-admin", account_id, opts.get("name"))
    rows = app.store.query("SELECT account_id FROM accounts WHERE org=:n", n=opts.get("name"))
    send_message(app.store, account_id, [r["account_id"] for r in rows], opts.get("subject"), opts.get("body"))


FUNCTIONS = {
    "getAll": getAll,
    "create": create,
    "get": get,
    "set": set,
    "addAdmin": addAdmin,
    "addUser": addUser,
    "createUser": createUser,
    "createToken": createToken,
    "expireToken": expireToken,
    "getUsers": getUsers,
    "message": message,
    "removeUser": removeUser,
    "removeAdmin": removeAdmin,
}

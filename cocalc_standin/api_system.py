"""Hub ``system.*`` calls: ping, test, names and user search, site settings, logging, keys and tokens."""
import datetime
import json
import re
import threading
import time
import uuid
from typing import Any, Dict, List, Optional

from .api_auth import create_api_key, create_auth_token, decode62, verify_password
from . import checks
from .api_common import JsError, PlainError, is_admin, is_collaborator, is_valid_email, is_valid_uuid, js_str, opts_of, type_error
from .customize import customize, pick
from .store import DatabaseFailure, epoch_ms, utcnow

USER_SEARCH_LIMIT = 250
ADMIN_SEARCH_LIMIT = 2500
#: Non-admins get at most this many results, whatever limit they ask for.
NON_ADMIN_LIMIT_CAP = 50
_FIELDS = "account_id, first_name, last_name, name, email_address, last_active, created, banned, email_address_verified"


def now_ms() -> int:
    """JavaScript's ``Date.now()``."""
    return int(time.time() * 1000)


def ping(app: Any, args: List[Any]) -> Dict[str, int]:
    """``{"now": ms}``."""
    return {"now": now_ms()}


def test(app: Any, args: List[Any]) -> Dict[str, Any]:
    """The key's scope and the server time."""
    return {"account_id": opts_of(args).get("account_id") or "", "server_time": now_ms()}


def _canonical_name(row: Dict[str, Any]) -> Dict[str, Any]:
    first = (row.get("first_name") or "").strip()
    last = (row.get("last_name") or "").strip()
    if not first and not last:
        first, last = "No", "Name"
    return {"first_name": first, "last_name": last, "profile": row.get("profile")}


def getNames(app: Any, args: List[Any]) -> Dict[str, Any]:
    """Names and profiles of the given accounts; unknown ones are ``Deleted User``."""
    account_ids = args[0] if args else None
    if not isinstance(account_ids, list):
        raise type_error("account_ids is not iterable")
    rows = app.store.query(
        "SELECT account_id, first_name, last_name, profile FROM accounts "
        "WHERE account_id=ANY(:ids::UUID[]) AND (deleted IS NULL OR deleted = false)",
        ids=account_ids,
    )
    names = {row["account_id"]: _canonical_name(row) for row in rows}
    for account_id in account_ids:
        if account_id not in names:
            names[account_id] = {"first_name": "Deleted", "last_name": "User"}
    return names


def userSearch(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """CoCalc's user search: by account id, exact email address, or words of a name."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    limit = opts.get("limit")
    admin = bool(opts.get("admin"))
    checks.require(app, "system.userSearch:signed-in", bool(account_id),
                   JsError("You must be signed in to search for users."))
    if admin:
        checks.require(app, "system.userSearch:admin-search", lambda: is_admin(app.store, account_id),
                       JsError("Must be an admin to do admin search."))
    elif limit is not None and limit > NON_ADMIN_LIMIT_CAP and checks.enforced(app, "system.userSearch:limit-cap"):
        limit = NON_ADMIN_LIMIT_CAP
    return search(app.store, opts.get("query"), limit, admin, bool(opts.get("only_email")))


def _process(user: Optional[Dict[str, Any]], admin: bool, email_search: bool) -> Optional[Dict[str, Any]]:
    if user is None:
        return None
    x = dict(user)
    if x.get("email_address") and x.get("email_address_verified"):
        x["email_address_verified"] = isinstance(x["email_address_verified"], dict) and (
            x["email_address_verified"].get(x["email_address"]) is not None
        )
    if not admin:
        if not email_search:
            x.pop("email_address", None)
        x.pop("banned", None)
    for field in ("last_active", "created"):
        if x.get(field):
            x[field] = epoch_ms(x[field])
    return x


def parse_user_search(query: Any) -> Dict[str, list]:
    """Split a search into name word lists and email addresses (CoCalc's ``parse_user_search``)."""
    result: Dict[str, list] = {"string_queries": [], "email_queries": []}
    if not isinstance(query, str):
        return result
    parts = [p.strip().lower() for line in query.split("\n") for p in re.split(r",|;", line)]
    for part in parts:
        if not part:
            continue
        if "@" not in part or part.startswith("@"):
            result["string_queries"].append(re.split(r"\s+", part))
            continue
        for word in part.split():
            if word.startswith("<"):
                match = re.search(r"<(.*)>", word)
                word = match.group(1) if match else word
            if is_valid_email(word):
                result["email_queries"].append(word)
    return result


def search(store: Any, query: Any, limit: Optional[int], admin: bool, only_email: bool) -> List[Dict[str, Any]]:
    """The search proper (no permission checks)."""
    limit = min(20 if limit is None else limit, ADMIN_SEARCH_LIMIT if admin else USER_SEARCH_LIMIT)
    if is_valid_uuid(query):
        user = _process(store.one(f"SELECT {_FIELDS} FROM accounts WHERE account_id=:a", a=query.lower()), admin, False)
        results = [user] if user else []
        if not results and admin:
            rows = store.query(
                f"SELECT {', '.join('accounts.' + f.strip() for f in _FIELDS.split(','))} FROM accounts, "
                "(SELECT jsonb_object_keys(users) AS account_id FROM projects WHERE project_id=:p) AS users "
                "WHERE accounts.account_id=users.account_id::UUID",
                p=query,
            )
            results = [u for u in (_process(r, admin, False) for r in rows) if u]
        return results
    if is_valid_email(query):
        user = _process(store.one(f"SELECT {_FIELDS} FROM accounts WHERE email_address=:e", e=query.lower()), admin, True)
        return [user] if user else []
    parsed = parse_user_search(query)
    strings, emails = parsed["string_queries"], parsed["email_queries"]
    if admin:
        strings.extend([e] for e in emails)
        emails = []
    matches: List[Dict[str, Any]] = []
    if emails and limit > 0:
        matches = store.query(
            f"SELECT {_FIELDS} FROM accounts WHERE email_address = ANY(:e::TEXT[]) AND deleted IS NULL", e=emails
        )
    results = [u for u in (_process(m, admin, True) for m in matches) if u]
    if not only_email and strings and limit - len(matches) > 0:
        rows = _by_name(store, strings, admin, limit - len(matches))
        results.extend(u for u in (_process(r, admin, False) for r in rows) if u)
    results.sort(key=lambda u: -max(u.get("last_active") or 0, u.get("created") or 0))
    return results


def _by_name(store: Any, string_queries: List[List[str]], admin: bool, limit: int) -> List[Dict[str, Any]]:
    params: Dict[str, Any] = {}
    where = []
    for terms in string_queries:
        parts = []
        for term in terms:
            key = f"q{len(params)}"
            params[key] = f"%{term}%"
            extra = f" OR lower(email_address) LIKE :{key}::TEXT" if admin else ""
            parts.append(
                f"(lower(first_name) LIKE :{key}::TEXT OR lower(last_name) LIKE :{key}::TEXT "
                f"OR '@' || lower(name) LIKE :{key}::TEXT{extra})"
            )
        where.append("(" + " AND ".join(parts) + ")")
    sql = f"SELECT {_FIELDS} FROM accounts WHERE deleted IS NOT TRUE AND ({' OR '.join(where)})"
    if not admin:
        sql += " AND unlisted IS NOT true "
    sql += " ORDER BY COALESCE(last_active, created) DESC NULLS LAST LIMIT :lim::INTEGER"
    return store.query(sql, lim=limit, **params)




# ------------------------------------------------------------------ site settings


def getCustomize(app: Any, args: List[Any]) -> Dict[str, Any]:
    """The site's public settings; only the named keys when a list (or one name) is given."""
    raw = {row["name"]: row["value"] for row in app.store.query("SELECT name, value FROM server_settings")}
    base = app.site_url()
    answer = customize(raw, "" if base in ("https:", "http:") else base)
    fields = args[0] if args else None
    if fields is None or fields is False or fields == "" or fields == 0:
        return answer
    return pick(answer, fields)


# ------------------------------------------------------------------------ logging

#: Life of CoCalc's tracking and error-log rows.
LOG_TTL = datetime.timedelta(days=30)
#: ``webapp_errors`` columns and their types, as CoCalc writes them.
WEBAPP_ERROR_COLUMNS = {
    "name": "TEXT", "message": "TEXT", "comment": "TEXT", "stacktrace": "TEXT", "file": "TEXT", "path": "TEXT",
    "lineNumber": "INTEGER", "columnNumber": "INTEGER", "severity": "TEXT", "browser": "TEXT", "mobile": "BOOLEAN",
    "responsive": "BOOLEAN", "user_agent": "TEXT", "smc_version": "TEXT", "build_date": "TEXT",
    "smc_git_rev": "TEXT", "uptime": "TEXT", "start_time": "TIMESTAMP",
}


def pg_text(value: Any) -> Optional[str]:
    """How node-postgres sends a JavaScript value as a query parameter (null stays null)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return js_str(value)


#: ``central_log`` events that carry personal information (kept 6 months).
PII_EVENTS = {"create_account", "change_password", "change_email_address", "webapp-add_passport",
              "get_user_auth_token", "successful_sign_in", "webapp-email_sign_up",
              "create_account_registration_token"}


def central_log(store: Any, event: str, value: Dict[str, Any]) -> None:
    """A ``central_log`` row as CoCalc's ``centralLog`` writes it, with its life by kind of event."""
    if value.get("ip_address") or value.get("email_address") or event in PII_EVENTS:
        life = "6 MONTHS"
    elif event == "uncaught_exception":
        life = "1 MONTH"
    else:
        life = "1 YEAR"
    store.query(
        "INSERT INTO central_log(id,event,value,time,expire) "
        f"VALUES(:i::UUID,:e,CAST(:v AS JSONB),NOW(),NOW() + INTERVAL '{life}')",
        i=str(uuid.uuid4()),
        e=event,
        v=json.dumps(value),
    )


def userTracking(app: Any, args: List[Any]) -> None:
    """A ``user_tracking`` row (kept 30 days); *event* at most 80 characters, *value* required."""
    opts = opts_of(args)
    account_id, event, value = opts.get("account_id"), opts.get("event"), opts.get("value")
    if not is_valid_uuid(account_id):
        raise JsError("invalid account_id")
    length = len(event) if isinstance(event, (str, list)) else None
    if event is None or length == 0:
        raise JsError("evt must be specified")
    if length is not None and length > 80:
        raise JsError("event must have length at most 80")
    if value is None:
        raise JsError("value must be specified")
    app.store.query(
        "INSERT INTO user_tracking(account_id,time,event,value,expire) "
        "VALUES(:a::UUID,NOW(),:e::TEXT,CAST(:v AS JSONB),:x)",
        a=account_id,
        e=pg_text(event),
        v=json.dumps(value),
        x=utcnow() + LOG_TTL,
    )


def logClientError(app: Any, args: List[Any]) -> None:
    """A ``client_error_log`` row (kept 30 days)."""
    opts = opts_of(args)
    event = opts.get("event")
    error = opts.get("error")
    callback_query(
        app.store,
        "INSERT INTO client_error_log(id,event,error,account_id,time,expire) "
        "VALUES(:i::UUID,:e::TEXT,:r::TEXT,:a::UUID,NOW(),:x)",
        i=str(uuid.uuid4()),
        e=pg_text("event" if event is None else event),
        r=pg_text("error" if error is None else error),
        a=opts.get("account_id"),
        x=utcnow() + LOG_TTL,
    )


def webappError(app: Any, args: List[Any]) -> None:
    """A ``webapp_errors`` row (kept 30 days) of the known fields given; other fields are ignored."""
    opts = opts_of(args)
    given = {k: opts[k] for k in WEBAPP_ERROR_COLUMNS if opts.get(k) is not None}
    params: Dict[str, Any] = {"i": str(uuid.uuid4()), "a": opts.get("account_id"), "x": utcnow() + LOG_TTL}
    columns, values = ["id", "account_id", "time", "expire"], [":i::UUID", ":a::UUID", "NOW()", ":x"]
    for n, (field, value) in enumerate(given.items()):
        columns.append(f'"{field}"')
        values.append(f"CAST(:f{n} AS {WEBAPP_ERROR_COLUMNS[field]})")
        params[f"f{n}"] = pg_text(value)
    callback_query(app.store, f"INSERT INTO webapp_errors({','.join(columns)}) VALUES({','.join(values)})", **params)


def callback_query(store: Any, sql: str, **params: Any) -> None:
    """Run *sql* as CoCalc's callback-style query layer does: its failures read ``postgresql error: ...``."""
    try:
        store.query(sql, **params)
    except DatabaseFailure as err:
        raise PlainError(f"postgresql error: {err.message}") from None


# ----------------------------------------------------------------------- API keys

#: Most API keys one account may have.
MAX_API_KEYS = 100000
_KEY_FIELDS = "id,account_id,expire,created,name,trunc,last_active"


def _keys_of(store: Any, account_id: str, project_id: Optional[str], key_id: Any = None) -> List[Dict[str, Any]]:
    """The project's keys, or the account's account-wide ones; with *key_id*, that key of the project or
    of the account (its project keys included, as in CoCalc), newest first."""
    if project_id:
        where, params = "project_id=:p::UUID", {"p": project_id}
    else:
        where, params = "account_id=:a::UUID AND project_id IS NULL", {"a": account_id}
    if key_id is not None:
        where = ("project_id=:p::UUID" if project_id else "account_id=:a::UUID") + " AND id=:i"
        params["i"] = key_id
    return store.query(f"SELECT {_KEY_FIELDS} FROM api_keys WHERE {where} ORDER BY created DESC", **params)


def manageApiKeys(app: Any, args: List[Any]) -> Optional[List[Any]]:
    """``get``, ``create``, ``edit`` or ``delete`` the caller's keys, or a project's (collaborators only)."""
    opts = opts_of(args)
    store = app.store
    account_id, project_id, action = opts.get("account_id"), opts.get("project_id"), opts.get("action")
    checks.require(app, "system.manageApiKeys:valid-account",
                   lambda: store.one("SELECT COUNT(*) AS n FROM accounts WHERE account_id=:a::UUID", a=account_id)["n"] > 0,
                   JsError("account_id is not a valid account"))
    if project_id is not None:
        checks.require(app, "system.manageApiKeys:project-collaborator",
                       lambda: is_collaborator(store, account_id, project_id),
                       JsError("user must be collaborator on project to manage project_id api keys"))
    key_id = opts.get("id")
    if action == "get":
        if not key_id:
            return _keys_of(store, account_id, project_id)
        found = _keys_of(store, account_id, project_id, key_id)
        return [found[0] if found else None]
    if action == "delete":
        scope = "project_id=:s::UUID" if project_id else "account_id=:s::UUID"
        store.query(f"DELETE FROM api_keys WHERE {scope} AND id=:i", s=project_id or account_id, i=key_id)
        return None
    if action == "create":
        if store.one("SELECT COUNT(*) AS n FROM api_keys WHERE account_id=:a::UUID", a=account_id)["n"] >= MAX_API_KEYS:
            raise JsError(f"There is a limit of {MAX_API_KEYS} per account; please delete some api keys.")
        secret = create_api_key(store, account_id, project_id=project_id, name=opts.get("name"),
                                expire=pg_text(opts.get("expire")))
        row = store.one(
            "SELECT id,account_id,expire,created,name,last_active,trunc FROM api_keys WHERE id=:i", i=decode62(secret[-6:])
        )
        return [dict(row, secret=secret)]
    if action == "edit":
        found = _keys_of(store, account_id, project_id, key_id)
        if not found:
            raise JsError(f"no api key with id {js_str(key_id)}")
        key = found[0]
        changed = opts.get("name") is not None and key["name"] != opts["name"]
        expire = key["expire"]
        if "expire" in opts and not (opts["expire"] is None and key["expire"] is None):
            expire, changed = pg_text(opts["expire"]), True
        if changed:
            scope = "project_id=:s::UUID" if project_id else "account_id=:s::UUID"
            store.query(
                f"UPDATE api_keys SET expire=CAST(:e AS TIMESTAMP),name=:n,last_active=:l WHERE id=:i AND {scope}",
                e=expire,
                n=opts.get("name") if opts.get("name") is not None else key["name"],
                l=key["last_active"],
                i=key_id,
                s=project_id or account_id,
            )
    return None


# -------------------------------------------------------------- tokens and resets

#: Seconds a non-admin waits after a wrong password before asking for a token again.
BAN_SECONDS = 30
#: Life of a password-reset link.
RESET_TTL = datetime.timedelta(hours=24)
_bans: Dict[tuple, float] = {}
_bans_lock = threading.Lock()


def generateUserAuthToken(app: Any, args: List[Any]) -> str:
    """A sign-in token for *user_account_id*: admins always, others with that account's password."""
    opts = opts_of(args)
    store = app.store
    account_id, user_account_id = opts.get("account_id"), opts.get("user_account_id")
    password = opts.get("password") if opts.get("password") is not None else ""
    checks.require(app, "system.generateUserAuthToken:signed-in", account_id is not None,
                   JsError("must specify account_id"))

    def not_banned() -> bool:
        with _bans_lock:
            return time.monotonic() - _bans.get((account_id, user_account_id), -BAN_SECONDS) >= BAN_SECONDS

    # CoCalc's message has a template placeholder that is never filled in.
    checks.require(app, "system.generateUserAuthToken:ban", not_banned,
                   JsError("banned -- please wait at least #{BAN_TIME_MS/1000}s before trying again"))
    admin = is_admin(store, account_id)
    if not admin and checks.enforced(app, "system.generateUserAuthToken:admin-or-password"):
        row = store.one("SELECT password_hash FROM accounts WHERE account_id=:a::UUID", a=user_account_id)
        if not (row and verify_password(js_str(password), row.get("password_hash"))):
            with _bans_lock:
                _bans[(account_id, user_account_id)] = time.monotonic()
            raise JsError("incorrect password")
    token = create_auth_token(store, user_account_id, account_id, admin)
    central_log(store, "auth-token", {"account_id": account_id, "user_account_id": user_account_id, "is_admin": admin})
    return token


def revokeUserAuthToken(app: Any, args: List[Any]) -> None:
    """Delete a sign-in token; nothing happens for an unknown one."""
    app.store.query("DELETE FROM auth_tokens WHERE auth_token=:t::TEXT", t=pg_text(args[0] if args else None))


def adminResetPasswordLink(app: Any, args: List[Any]) -> str:
    """``/auth/password-reset/<id>`` for an account with an e-mail address (site admins only)."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    checks.require(app, "system.adminResetPasswordLink:admin", lambda: account_id and is_admin(app.store, account_id),
                   JsError("must be an admin"))
    row = app.store.one("SELECT email_address FROM accounts WHERE account_id=:a", a=opts.get("user_account_id"))
    email = (row or {}).get("email_address")
    if not email:
        raise JsError("passwords are only defined for accounts with email")
    reset_id = str(uuid.uuid4())
    app.store.query(
        "INSERT INTO password_reset(id,email_address,expire) VALUES(:i::UUID,:e::TEXT,:x::TIMESTAMP)",
        i=reset_id,
        e=email,
        x=utcnow() + RESET_TTL,
    )
    return f"/auth/password-reset/{reset_id}"


FUNCTIONS = {
    "ping": ping,
    "test": test,
    "getNames": getNames,
    "userSearch": userSearch,
    "getCustomize": getCustomize,
    "userTracking": userTracking,
    "logClientError": logClientError,
    "webappError": webappError,
    "manageApiKeys": manageApiKeys,
    "generateUserAuthToken": generateUserAuthToken,
    "revokeUserAuthToken": revokeUserAuthToken,
    "adminResetPasswordLink": adminResetPasswordLink,
}

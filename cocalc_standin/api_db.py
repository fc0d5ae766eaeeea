"""Hub ``db.userQuery``: CoCalc's user queries on ``accounts``, ``projects`` and ``projects_all``.

A query is ``{table: {field: value, ...}}`` (one row) or ``{table: [{...}]}``
(many rows).  It reads when some value is null (the nulls name the fields to
return, the other values filter) and writes otherwise.  As in CoCalc:

* ``accounts`` is the caller's own row; ``projects`` are the projects the caller
  is on that were edited in the last 6 weeks (at most 300, newest first);
  ``projects_all`` is all of them, deleted ones included;
* fields the schema gives a default get it when null; in many-row answers the
  remaining nulls are left out (one-row answers keep them);
* errors of the query layer are bare strings (``FATAL: ...``).

Defaults of the large settings objects (``editor_settings``, ``other_settings``,
``terminal``, ``projects.settings``) are not reproduced: those fields come back
as stored.
"""
import copy
import hashlib
import json
import threading
import time
from typing import Any, Dict, List, Optional

from . import checks
from .api_common import (
    JsError, PlainError, db_is_admin, in_project_group, is_collaborator, is_valid_uuid, js_str, opts_of, project_group,
    type_error, user_groups,
)
from .cached import always, read
from .query_tables import HANDLERS, missing_handler
from .store import epoch_ms, iso, utcnow

MAX_LIMIT = 100000
PROJECTS_CUTOFF = "6 weeks"
PROJECTS_LIMIT = 300
_OPERATORS = ("!=", "<>", "<=", ">=", "==", "<", ">", "=", "IS NOT", "IS", "ILIKE", "LIKE", "NOT ILIKE",
              "NOT LIKE", "ANY", "MINLEN", "MAXLEN")
_TIME_UNITS = ("seconds", "minutes", "hours", "days", "months", "years")

_ACCOUNT_GET = {
    "account_id": None, "email_address": None, "org": None, "lti_id": None, "stripe_checkout_session": None,
    "email_address_verified": None, "email_address_problem": None, "editor_settings": None,
    "other_settings": None, "name": None, "first_name": "", "last_name": "", "terminal": None, "autosave": 45,
    "evaluate_key": "Shift-Enter", "font_size": 14, "passports": {}, "groups": [], "last_active": None,
    "stripe_customer": None, "coupon_history": None, "profile": {"color": "rgb(170,170,170)"}, "customize": None,
    "ssh_keys": {}, "created": None, "ephemeral": None, "unlisted": False, "tags": None, "tours": None,
    "min_balance": None, "balance": None, "balance_alert": None, "auto_balance": None,
    "purchase_closing_day": None, "stripe_usage_subscription": None, "email_daily_statements": None,
    "unread_message_count": None,
}
_ACCOUNT_SET = ("account_id", "name", "editor_settings", "other_settings", "first_name", "last_name", "terminal",
                "autosave", "evaluate_key", "font_size", "profile", "ssh_keys", "sign_up_usage_intent",
                "unlisted", "tags", "tours", "email_daily_statements", "auto_balance")
_PROJECT_GET = {
    "project_id": None, "name": None, "title": "", "description": "", "users": {}, "invite": None,
    "invite_requests": None, "deleted": None, "host": None, "settings": None, "run_quota": None,
    "site_license": None, "status": None, "manage_users_owner_only": None, "secret_token": None, "state": None,
    "last_edited": None, "last_active": None, "action_request": None, "course": None,
    "compute_image": "default", "created": None, "ephemeral": None, "env": None, "sandbox": None,
    "avatar_image_tiny": None, "color": None, "pay_as_you_go_quotas": None,
}
_PROJECT_SET = ("project_id", "title", "name", "description", "deleted", "invite_requests", "users",
                "manage_users_owner_only", "action_request", "compute_image", "site_license", "env", "sandbox",
                "avatar_image_tiny", "avatar_image_full", "color")
#: Writable fields whose CoCalc hooks (name rules, ownership rules, project actions) the stand-in lacks.
_UNSUPPORTED_SET = {"name", "action_request", "auto_balance"}
_JSON_COLUMNS = {
    "accounts": {"email_address_verified", "email_address_challenge", "email_address_problem", "passports",
                 "editor_settings", "other_settings", "terminal", "stripe_customer", "coupon_history", "profile",
                 "customize", "ssh_keys", "lti_data", "auto_balance", "stripe_checkout_session"},
    "projects": {"users", "invite", "invite_requests", "host", "settings", "site_license", "status", "state",
                 "last_active", "action_request", "storage", "storage_request", "course", "resources",
                 "run_quota", "addons", "lti_data", "env", "pay_as_you_go_quotas"},
}

#: ``crm_accounts`` (``util/db-schema/accounts.ts``): every account, for site admins only.
_CRM_ACCOUNT_GET = dict(_ACCOUNT_GET, banned=None, groups=None, notes=None, salesloft_id=None,
                        sign_up_usage_intent=None, owner_id=None, deleted=None)
_CRM_ACCOUNT_SET = ("account_id", "name", "first_name", "last_name", "autosave", "font_size", "banned", "unlisted",
                    "notes", "tags", "salesloft_id", "purchase_closing_day", "min_balance")

TABLES: Dict[str, Dict[str, Any]] = {
    "accounts": {"db": "accounts", "key": "account_id", "get": _ACCOUNT_GET, "set": _ACCOUNT_SET, "options": []},
    "crm_accounts": {"db": "accounts", "key": "account_id", "get": _CRM_ACCOUNT_GET, "set": _CRM_ACCOUNT_SET,
                     "options": [], "admin": True},
    "projects": {"db": "projects", "key": "project_id", "get": _PROJECT_GET, "set": _PROJECT_SET,
                 "options": [{"limit": PROJECTS_LIMIT}, {"order_by": "-last_edited"}],
                 "recent": True},
    "projects_all": {"db": "projects", "key": "project_id", "get": _PROJECT_GET, "set": _PROJECT_SET,
                     "options": []},
}


def has_null_leaf(value: Any) -> bool:
    """Whether any leaf of *value* (recursively) is null."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return any(v is None or (isinstance(v, (dict, list)) and has_null_leaf(v)) for v in items)


def _subs(value: Any, subs: Dict[str, Any]) -> Any:
    """Replace ``{account_id}``-style keys and string values (CoCalc's ``obj_key_subs``)."""
    if isinstance(value, dict):
        return {subs.get(k, k): _subs(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_subs(v, subs) for v in value]
    if isinstance(value, str) and subs.get(value) is not None:
        return subs[value]
    return value


def user_query(app: Any, account_id: str, query: Any, options: Any, project_id: Any = None) -> Any:
    """Run one user query (or a list of them) as *account_id*.

    *project_id* is the project the query acts for: project rows are then read
    and written for that project without a membership check.  An account's
    ``project_id`` option reaches here only when ``db.userQuery:project-id-option``
    is broken, which plays CoCalc's hole (``server/conat/api/db.ts`` hands the
    caller's options to ``database/user-query``).
    """
    options = [] if options is None else options
    for option in options if isinstance(options, list) and account_id is not None else []:
        if isinstance(option, dict) and option.get("account_id") is not None:
            checks.require(app, "db.userQuery:sudo", lambda: "admin" in user_groups(app.store, account_id),
                           PlainError("user must be admin to sudo"))
            rest = [o for o in options if not (isinstance(o, dict) and o.get("account_id") is not None)]
            return user_query(app, option["account_id"], query, rest, project_id)
    if isinstance(query, list):
        return [user_query(app, account_id, q, options, project_id) for q in query]
    if not isinstance(query, dict):
        query = {}
    if len(query) > 1:
        raise PlainError("FATAL: must specify exactly one key in the query")
    table = next(iter(query), None)
    body = query.get(table) if table is not None else None
    multi = isinstance(body, list)
    if multi:
        if len(body) > 1:
            raise PlainError("FATAL: array of length > 1 not yet implemented")
        body = body[0] if body else None
    if not isinstance(options, list):
        raise PlainError(f"FATAL: options (={json.dumps(options)}) must be an array")
    forced = [bool(o["set"]) for o in options if isinstance(o, dict) and "set" in o]
    options = [o for o in options if not (isinstance(o, dict) and "set" in o)]
    if not isinstance(body, dict):
        raise PlainError(f"FATAL: invalid user_query of '{js_str(table)}' -- query must be an object")
    body = _subs(copy.deepcopy(body), {"{account_id}": account_id, "{project_id}": project_id})
    is_set = forced[-1] if forced else not has_null_leaf(body)
    if table in HANDLERS:
        return _handled_query(app, account_id, table, body, is_set, multi, project_id)
    if is_set:
        set_query(app, account_id, table, body, project_id)
        return {}
    result = get_query(app, account_id, table, body, options, multi, project_id)
    return {} if result is None else {table: result}


def _handled_query(app: Any, account_id: str, table: str, body: Dict[str, Any], is_set: bool, multi: bool,
                   project_id: Any = None) -> Any:
    """A query on one of the tables of :mod:`query_tables`."""
    getter, setter = HANDLERS[table]
    if is_set:
        if setter is None:
            raise missing_handler(table, "set")
        setter(app, account_id, body, project_id)
        return {}
    if getter is None:
        raise missing_handler(table, "get")
    result = getter(app, account_id, body, multi, project_id)
    return {} if result is None else {table: result}


def _spec(table: str, what: str) -> Dict[str, Any]:
    spec = TABLES.get(table)
    if spec is None:
        if what == "get":
            raise PlainError(f"FATAL: get queries not allowed for table '{table}'")
        raise PlainError(f"FATAL: table '{table}' does not exist")
    return spec


def _quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def _param(params: Dict[str, Any], value: Any, json_column: bool) -> str:
    name = f"v{len(params)}"
    if json_column or isinstance(value, dict):
        params[name] = json.dumps(value)
        return f"CAST(:{name} AS JSONB)"
    params[name] = value
    return f":{name}"


def _is_cmp(value: Any) -> Optional[str]:
    if isinstance(value, dict) and len(value) == 1:
        op = next(iter(value))
        if op in _OPERATORS:
            return op
    return None


def _is_operand(value: Any) -> str:
    text = "undefined" if value is None else str(value).lower()
    return {"null": "null", "undefined": "null", "unknown": "unknown", "false": "false"}.get(text, "true")


def _filters(table: str, body: Dict[str, Any], params: Dict[str, Any]) -> List[str]:
    """The WHERE conditions of a get query's non-null values (CoCalc's ``userGetQueryFilter``)."""
    json_cols = _JSON_COLUMNS.get(TABLES[table]["db"], set())
    where = []
    for field, value in body.items():
        if value is None:
            continue
        column = _quote(field)
        op = _is_cmp(value)
        if op is None:
            where.append(f"{column} = {_param(params, value, field in json_cols)}")
            continue
        operand = value[op]
        op = "=" if op == "==" else op
        if op.lower().startswith("is"):
            where.append(f"{column} {op} {_is_operand(operand)}")
        elif op == "ANY":
            where.append(f"{_param(params, operand, False)} = ANY({column})")
        elif op in ("MINLEN", "MAXLEN"):
            cmp = ">=" if op == "MINLEN" else "<="
            where.append(f"array_length({column}, 1) {cmp} {_param(params, operand, False)}")
        elif isinstance(operand, dict) and operand.get("relative_time") is not None and operand.get("unit") in _TIME_UNITS:
            amount = _param(params, int(operand["relative_time"]), False)
            where.append(f"{column} {op} (NOW() + {amount} * INTERVAL '1 {operand['unit']}')")
        else:
            where.append(f"{column} {op} {_param(params, operand, field in json_cols)}")
    return where


def _parse_options(options: List[Any], columns: Dict[str, Any]) -> Dict[str, Any]:
    parsed: Dict[str, Any] = {"order_by": []}
    limit: Any = None
    for option in options:
        for name, value in (option.items() if isinstance(option, dict) else []):
            if name == "limit":
                try:
                    limit = int(value)
                except (TypeError, ValueError):
                    limit = None
            elif name == "order_by":
                field, desc = (value[1:], " DESC") if isinstance(value, str) and value.startswith("-") else (value, "")
                if field not in columns:
                    raise JsError(f'column "{field}" does not exist', name="error")
                parsed["order_by"].append(_quote(field) + desc)
            elif name == "only_changes":
                parsed["only_changes"] = bool(value)
            elif name == "slice":
                raise PlainError("slice not implemented")
            elif name not in ("delete", "heartbeat"):
                raise PlainError(f"unknown option '{name}'")
    parsed["limit"] = MAX_LIMIT if limit is None or limit > MAX_LIMIT else limit
    return parsed


def get_query(app: Any, account_id: str, table: str, body: Dict[str, Any], options: List[Any], multi: bool,
              project_id: Any = None) -> Any:
    """A read: the rows (or row) of *table* the caller may see, fields as asked."""
    spec = _spec(table, "get")
    fields = spec["get"]
    for field in body:
        checks.require(app, "db.userQuery:get-fields", field in fields,
                       PlainError(f"FATAL: user get query not allowed for {table}.{field}"))
    if spec.get("admin"):
        require_admin_table(app, account_id)
    given = {name for option in options if isinstance(option, dict) for name in option}
    options = list(options) + [o for o in spec["options"] if not set(o) & given]
    params: Dict[str, Any] = {"me": account_id}
    if spec.get("admin"):
        where = []  # an admin table's pg_where is empty: every row
    elif spec["key"] == "account_id":
        where = ["account_id = :me::UUID"] if checks.enforced(app, "db.userQuery:accounts-own") else []
    else:
        where = [f"last_edited >= NOW() - interval '{PROJECTS_CUTOFF}'"] if spec.get("recent") else []
        wanted = body.get("project_id")
        if wanted:
            if project_id is None:
                require_project_read(app, account_id, wanted)
            where.append(f"project_id = {_param(params, wanted if project_id is None else project_id, False)}::UUID")
        elif checks.enforced(app, "db.userQuery:projects-mine"):
            where.append("project_id = ANY(select project_id from projects where users ? :me::TEXT)")
    where += _filters(table, body, params)
    parsed = _parse_options(options, fields)
    if parsed.get("only_changes"):
        return None
    sql = f"SELECT {','.join(_quote(f) for f in body)} FROM {spec['db']}" + (" WHERE " + " AND ".join(where) if where else "")
    if parsed["order_by"]:
        sql += " ORDER BY " + ", ".join(parsed["order_by"])
    sql += f" LIMIT {parsed['limit']}"
    rows = app.store.query(sql, **params)
    for row in rows:
        _set_defaults(row, fields)
    if not multi:
        return rows[0] if rows else None
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def require_admin_table(app: Any, account_id: Any) -> None:
    """CoCalc's ``_require_is_admin`` for a table whose user queries are marked ``admin``."""
    checks.require(app, "db.userQuery:admin-table", lambda: account_id and db_is_admin(app.store, account_id),
                   PlainError("FATAL: user must be an admin"))


def require_project_read(app: Any, account_id: Any, project_id: Any) -> None:
    """A read naming *project_id* needs membership or site admin (the user-query engine's ``'projects'`` rule)."""
    checks.require(app, "db.userQuery:projects-read", lambda: in_project_group(app.store, account_id, project_id),
                   PlainError("FATAL: you do not have read access to this project -- "
                              f"account_id={account_id}, project_id_=undefined"))


def _set_defaults(row: Dict[str, Any], fields: Dict[str, Any]) -> None:
    for field, value in list(row.items()):
        default = fields.get(field)
        if default is None:
            continue
        if value is None:
            row[field] = copy.deepcopy(default)
        elif isinstance(default, dict) and isinstance(value, dict):
            for key, fallback in default.items():
                if value.get(key) is None:
                    value[key] = fallback


def _merge(old: Any, new: Any) -> Any:
    """Deep-merge *new* into *old* (a null in *new* removes that key), as CoCalc's jsonb merge."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    merged = dict(old)
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def set_query(app: Any, account_id: str, table: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """A write: change fields of the caller's account or of a project the caller is on."""
    spec = _spec(table, "set")
    writable = spec["set"]
    key = spec["key"]
    changes = {k: v for k, v in body.items() if k != key}
    if not changes:
        return  # nothing would be modified (CoCalc's shortcut)
    for field in body:
        checks.require(app, "db.userQuery:set-fields", field in writable,
                       PlainError(f"FATAL: changing {table}.{field} not allowed"))
    if spec.get("admin"):
        require_admin_table(app, account_id)
        row_id = body.get("account_id")
        if row_id is None:  # (CoCalc would create a row)
            raise PlainError(f"the stand-in does not support a {table} set query without account_id")
    elif key == "account_id":
        row_id = account_id if checks.enforced(app, "db.userQuery:accounts-own") else body.get("account_id", account_id)
        for field in ("first_name", "last_name"):
            if field in changes and changes[field] is not None:
                changes[field] = str(changes[field])[:254]
                if not changes[field]:
                    raise PlainError(f"{field} must be nonempty")
    else:
        row_id = body.get("project_id")
        if row_id is None:
            raise PlainError(f"FATAL: must specify {table}.project_id")
        if "users" in changes:
            changes["users"] = _sanitize_project_users(app, changes["users"], account_id)
        owner_only = changes.get("manage_users_owner_only")
        if owner_only is not None and not isinstance(owner_only, bool):
            raise PlainError("FATAL: error setting 'manage_users_owner_only' -- Error: manage_users_owner_only must be a boolean")
        if project_id is None:
            _require_write_access(app, account_id, row_id)
        else:  # acting for a project (CoCalc's _user_set_query_enforce_requirements): that project only
            checks.require(app, "db.userQuery:same-project", row_id == project_id,
                           PlainError("FATAL: can only query same project"))
        if owner_only is not None:  # then the table's check_hook
            checks.require(app, "db.userQuery:owner-only-setting",
                           lambda: project_group(app.store, account_id, row_id) == "owner",
                           PlainError("Error: Only project owners can change collaborator management settings"))
    for field in changes:
        if field in _UNSUPPORTED_SET:
            raise PlainError(f"the stand-in does not support setting {table}.{field} with a user query")
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return
    json_cols = _JSON_COLUMNS.get(spec["db"], set())
    current = app.store.one(
        f"SELECT {','.join(_quote(f) for f in changes)} FROM {spec['db']} WHERE {key} = :id::UUID", id=row_id
    ) or {}
    params: Dict[str, Any] = {"id": row_id}
    assignments = []
    for field, value in changes.items():
        if field in json_cols:
            value = _merge(current.get(field), value)
        assignments.append(f"{_quote(field)} = {_param(params, value, field in json_cols)}")
    app.store.query(f"UPDATE {spec['db']} SET {', '.join(assignments)} WHERE {key} = :id::UUID", **params)


_USER_ENTRY_KEYS = ("hide", "upgrades", "ssh_keys")
_SSH_KEY_FIELDS = ("title", "value", "creation_date", "last_use_date")


def _sanitize_project_users(app: Any, users: Any, account_id: Any) -> Any:
    """CoCalc's ``sanitizeUserSetQueryProjectUsers`` (``database/postgres/project/user-set-query-project-users.ts``).

    A user query may change only the caller's own ``hide``, ``upgrades`` and
    ``ssh_keys`` (and ``hide`` of others), never anybody's ``group``.  CoCalc calls it
    without the account (``val(r.query, @)``), so there any group change goes through;
    breaking ``db.userQuery:project-users-groups`` plays that.
    """
    if users is None:
        return None
    trusted = not checks.enforced(app, "db.userQuery:project-users-groups")
    me = None if trusted else account_id

    def fail(message: str) -> PlainError:
        return PlainError(f"FATAL: error setting 'users' -- Error: {message}")

    if not isinstance(users, dict):
        raise fail("users must be an object")
    sanitized: Dict[str, Any] = {}
    for user_id, entry in users.items():
        if not is_valid_uuid(user_id):
            raise fail(f"invalid account_id '{user_id}'")
        if not isinstance(entry, dict):
            raise fail("user entry must be an object")
        is_self = me is None or user_id == me
        for key in entry:
            if key == "group":
                if me is not None:
                    raise fail("changing collaborator group via user_set_query is not allowed")
            elif key not in _USER_ENTRY_KEYS:
                raise fail(f"unknown field '{key}'")
        clean: Dict[str, Any] = {}
        if "group" in entry:
            if entry["group"] not in ("owner", "collaborator"):
                raise fail(f"invalid group value '{js_str(entry['group'])}' - must be 'owner' or 'collaborator'")
            clean["group"] = entry["group"]
        if "hide" in entry:
            if not isinstance(entry["hide"], bool):
                raise fail("invalid type for field 'hide'")
            clean["hide"] = entry["hide"]
        if "upgrades" in entry:
            if not is_self:
                raise fail("users set queries may only change upgrades for the requesting account")
            raise PlainError("the stand-in does not support setting projects.users upgrades with a user query")
        if "ssh_keys" in entry:
            if not is_self:
                raise fail("users set queries may only change ssh_keys for the requesting account")
            keys = entry["ssh_keys"]
            if not isinstance(keys, dict):
                raise fail("ssh_keys must be an object")
            for fingerprint, key in keys.items():
                if key and not isinstance(key, dict):
                    raise fail("each key in ssh_keys must be an object")
                for field in (key or {}):
                    if field not in _SSH_KEY_FIELDS:
                        raise fail(f"invalid ssh_keys field '{field}'")
            clean["ssh_keys"] = {f: k for f, k in keys.items() if k}
        sanitized[user_id] = clean
    return sanitized


def _require_write_access(app: Any, account_id: str, project_id: Any) -> None:
    """CoCalc's ``_require_project_ids_in_groups``: a member, or else a site admin (reads through the ``query`` cache)."""
    if not checks.enforced(app, "db.userQuery:projects-write"):
        return
    store = app.store
    row = read(store, "query", ("project-user", account_id, project_id), lambda: store.one(
        "SELECT project_id, users#>ARRAY[:a::TEXT] AS user FROM projects WHERE project_id = ANY(:p::UUID[])",
        a=account_id,
        p=[project_id],
    ), always)
    if row is None:
        raise PlainError(f"FATAL: unknown project_id '{str(project_id)[:100]}'")
    if ((row.get("user") or {}).get("group")) not in ("owner", "collaborator"):
        if not account_id or not db_is_admin(store, account_id):
            raise PlainError("FATAL: user must be an admin")


def userQuery(app: Any, args: List[Any]) -> Any:
    """``db.userQuery({query, options})``."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    # CoCalc hands a project_id the caller put in args[0] on to user_query, which then acts for that project
    # (unchecked); its rules say an account's query runs as the account: the option is ignored.
    project_id = opts.get("project_id")
    if account_id is not None and checks.enforced(app, "db.userQuery:project-id-option"):
        project_id = None
    return user_query(app, account_id, opts.get("query"), opts.get("options"), project_id)


# -------------------------------------------------------------- activity and files

#: Seconds within which the same ``db.touch`` is ignored; and an account's own activity.
TOUCH_THROTTLE = 50.0
ACCOUNT_THROTTLE = 120.0
#: At most this many access times by default.
FILE_USE_LIMIT = 1000
_touched: Dict[tuple, float] = {}
_touched_lock = threading.Lock()


def _throttled(key: tuple, seconds: float) -> bool:
    now = time.monotonic()
    with _touched_lock:
        if now - _touched.get(key, -seconds) < seconds:
            return True
        _touched[key] = now
    return False


def sha1_id(*parts: Any) -> str:
    """CoCalc's ``db.sha1(...)``: the SHA-1 of the parts joined (strings as they are, others as JSON)."""
    text = "".join("" if p is None else p if isinstance(p, str) else json.dumps(p) for p in parts)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def touch(app: Any, args: List[Any]) -> None:
    """Record the caller's activity: on the account, on a project, and on a file of it (``file_use``)."""
    opts = opts_of(args)
    account_id, project_id, path = opts.get("account_id"), opts.get("project_id"), opts.get("path")
    action = "edit" if opts.get("action") is None else opts["action"]
    checks.require(app, "db.touch:signed-in", bool(account_id), JsError("account_id must be set"))
    if project_id:
        checks.require(app, "db.touch:collaborator", lambda: is_collaborator(app.store, account_id, project_id),
                       JsError("user must be collaborator on project"))
    if _throttled(("touch", account_id, project_id or None, path, js_str(action)), TOUCH_THROTTLE):
        return
    if not project_id:
        if not _throttled(("account", account_id), ACCOUNT_THROTTLE):
            app.store.query("UPDATE accounts SET last_active=NOW() WHERE account_id=:a::UUID", a=account_id)
        return
    app.projects.touch(project_id, account_id, no_start=True)
    if path is not None:
        _record_file_use(app.store, project_id, path, account_id, action)


def _record_file_use(store: Any, project_id: str, path: Any, account_id: str, action: Any) -> None:
    """Upsert the ``file_use`` row of the file and stamp the account's *action* in its ``users``."""
    now = utcnow()
    edited = action in ("edit", "chat")
    store.query(
        "INSERT INTO file_use(id,project_id,path" + (",last_edited" if edited else "") + ") "
        "VALUES(:i,:p::UUID,:f" + (",:t" if edited else "") + ") ON CONFLICT (id) DO UPDATE SET "
        "project_id=EXCLUDED.project_id, path=EXCLUDED.path" + (", last_edited=EXCLUDED.last_edited" if edited else ""),
        i=sha1_id(project_id, path),
        p=project_id,
        f=js_str(path),
        **({"t": now} if edited else {}),
    )
    store.query(
        "UPDATE file_use SET users=COALESCE(users,'{}'::JSONB) || jsonb_build_object(:a::TEXT, "
        "COALESCE(users->:a::TEXT,'{}'::JSONB) || jsonb_build_object(:act::TEXT, :t::TEXT)) WHERE id=:i",
        a=account_id,
        act=js_str(action),
        t=iso(now),
        i=sha1_id(project_id, path),
    )


def fileUseTimes(app: Any, args: List[Any]) -> Dict[str, Any]:
    """When an account opened (``file_access_log``) and edited (patches; none on the stand-in) a file."""
    opts = opts_of(args)
    account_id, project_id = opts.get("account_id"), opts.get("project_id")
    checks.require(app, "db.fileUseTimes:read-access",
                   lambda: account_id and is_collaborator(app.store, account_id, project_id),
                   JsError("user does not have read access to the given project"))
    target = opts.get("target_account_id") if opts.get("target_account_id") is not None else account_id
    answer: Dict[str, Any] = {"target_account_id": target}
    if opts.get("access_times", True):
        rows = app.store.query(
            "SELECT time FROM file_access_log WHERE project_id=:p AND filename=:f AND account_id=:a "
            "ORDER BY time DESC LIMIT :n",
            p=project_id,
            f=opts.get("path"),
            a=target,
            n=FILE_USE_LIMIT if opts.get("limit") is None else opts["limit"],
        )
        answer["access_times"] = [epoch_ms(row["time"]) for row in rows]
    if opts.get("edit_times"):
        answer["edit_times"] = []  # the stand-in keeps no editing sessions, hence no patches
    return answer


def getLegacyTimeTravelInfo(app: Any, args: List[Any]) -> Dict[str, Any]:
    """The archived history of a file: ``{"uuid": ""}`` when there is none (asked of anyone)."""
    opts = opts_of(args)
    project_id = opts.get("project_id")
    row = app.store.one(
        "SELECT archived AS uuid, users FROM syncstrings WHERE string_id=:s AND archived IS NOT NULL",
        s=sha1_id(project_id, opts.get("path")),
    )
    if not row or not row.get("uuid"):
        return {"uuid": ""}
    checks.require(app, "db.getLegacyTimeTravelInfo:collaborator",
                   lambda: is_collaborator(app.store, opts.get("account_id"), project_id),
                   JsError("must be collaborator on project"))
    return {"uuid": row["uuid"], "users": row.get("users")}


def getLegacyTimeTravelPatches(app: Any, args: List[Any]) -> str:
    """The text of a blob named by its uuid; a missing or expired blob fails as CoCalc's code does."""
    opts = opts_of(args)
    checks.require(app, "db.getLegacyTimeTravelPatches:signed-in", bool(opts.get("account_id")),
                   JsError("you must be signed in"))
    blob_id = opts.get("uuid")
    if not is_valid_uuid(blob_id):
        raise PlainError("uuid is invalid")
    row = app.store.one("SELECT expire, blob FROM blobs WHERE id=:i::UUID", i=blob_id)
    if row and row.get("expire") is not None and row["expire"] <= utcnow():
        app.store.query("DELETE FROM blobs WHERE id=:i::UUID", i=blob_id)
        row = None
    if not row or row.get("blob") is None:
        raise type_error("Cannot read properties of undefined (reading 'toString')")
    return bytes(row["blob"]).decode("utf-8", "replace")


def removeBlobTtls(app: Any, args: List[Any]) -> None:
    """Make the named blobs permanent; ids that are not UUIDs are skipped."""
    first = args[0] if args else None
    if first is None:
        raise type_error("Cannot destructure property 'uuids' of 'undefined' as it is undefined.")
    uuids = first.get("uuids") if isinstance(first, dict) else None
    if uuids is None:
        raise type_error("Cannot read properties of undefined (reading 'filter')")
    if not isinstance(uuids, list):
        raise type_error("uuids.filter is not a function")
    valid = [u for u in uuids if is_valid_uuid(u)]
    if valid:
        app.store.query("UPDATE blobs SET expire=NULL WHERE id=ANY(:v::UUID[])", v=valid)


FUNCTIONS = {
    "userQuery": userQuery,
    "touch": touch,
    "fileUseTimes": fileUseTimes,
    "getLegacyTimeTravelInfo": getLegacyTimeTravelInfo,
    "getLegacyTimeTravelPatches": getLegacyTimeTravelPatches,
    "removeBlobTtls": removeBlobTtls,
}

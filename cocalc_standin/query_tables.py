"""User-query tables beyond accounts and projects: site licenses, ``messages``, ``file_use`` and project tables.

As in CoCalc's schema (``util/db-schema/site-licenses.ts``, ``messages.ts``):

* ``site_licenses`` is read and written by site admins only; a write is an
  upsert on ``id`` whose map fields (``info``, ``upgrades``, ``quota``) are
  merged into an existing row;
* ``site_license_public_info`` is a virtual table any signed-in account reads by
  license id: the license's public fields (nulls left out) plus how many projects
  run with it (``running``) and have it applied (``applied``);
* ``messages`` rows are readable by their recipients; a recipient writes only its
  own bit of the flags ``read``, ``saved``, ``starred``, ``liked``, ``deleted``,
  ``expire`` (position = index in ``to_ids`` + 1), after which its unread count is
  recomputed.  A bit that is not ``0``/``1``, or a message the caller did not
  receive, makes CoCalc's hook throw outside any handler: the call never answers
  (the bridge times out) and an ``uncaught_exception`` is logged;
* ``file_use`` rows (written by ``db.touch`` with a path) are readable for the
  caller's projects when edited in the last 21 days;
* ``listings``, ``syncstrings``, ``project_invite_tokens`` and ``public_paths``
  are read by the project's members (``public_paths``: by anybody, naming the
  project), ``project_invite_tokens`` and ``public_paths`` written by its members
  (an upsert on the primary key); others get CoCalc's refusals.  Unlike CoCalc,
  a project whose collaborators only owners manage gets invite tokens from its
  owners (and site admins) only, as CoCalc's own UI has it;
* ``organizations`` rows are written (title, description, profile) only by a
  member of the row's ``users`` map, which CoCalc's organization calls never
  fill, and never read: CoCalc's get query fails for everyone.
"""
import datetime
import json
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import checks
from .api_common import JsError, PlainError, is_admin, is_valid_uuid, js_str, project_group
from .store import DatabaseFailure

LICENSE_FIELDS = ("id", "title", "description", "info", "expires", "activates", "created", "last_used", "managers",
                  "restricted", "upgrades", "quota", "run_limit", "apply_limit", "voucher_code", "subscription_id")
LICENSE_SET_FIELDS = LICENSE_FIELDS[:14]
LICENSE_MAPS = ("info", "upgrades", "quota")
LICENSE_TIMES = ("expires", "activates", "created", "last_used")
LICENSE_LIMIT = 500
PUBLIC_INFO_FIELDS = ("id", "title", "description", "expires", "activates", "upgrades", "quota", "run_limit",
                      "managers", "running", "is_manager", "subscription_id")
PUBLIC_INFO_COLUMNS = ("title", "description", "expires", "activates", "upgrades", "quota", "run_limit", "managers",
                       "subscription_id")
MESSAGE_FIELDS = ("id", "sent", "from_id", "to_ids", "subject", "body", "thread_id", "read", "saved", "starred",
                  "liked", "deleted", "expire")
BIT_FIELDS = ("read", "saved", "starred", "liked", "deleted", "expire")
MESSAGES_LIMIT = 1000
#: Seconds a call whose hook threw stays unanswered (longer than any bridge timeout).
NEVER = 3600.0


def _check_fields(app: Any, table: str, body: Dict[str, Any], allowed: Tuple[str, ...]) -> None:
    for field in body:
        checks.require(app, "db.userQuery:get-fields", field in allowed,
                       PlainError(f"FATAL: user get query not allowed for {table}.{field}"))


def _equal_filters(body: Dict[str, Any], maps: Tuple[str, ...], params: Dict[str, Any]) -> List[str]:
    where = []
    for field, value in body.items():
        if value is None:
            continue
        name = f"w{len(params)}"
        if field in maps or isinstance(value, dict):
            params[name] = json.dumps(value)
            where.append(f"{_quoted(field)} = CAST(:{name} AS JSONB)")
        else:
            params[name] = value
            where.append(f"{_quoted(field)} = :{name}")
    return where


def _quoted(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def _rows_answer(rows: List[Dict[str, Any]], multi: bool) -> Any:
    if not multi:
        return rows[0] if rows else None
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def _require_admin(app: Any, account_id: Optional[str]) -> None:
    """CoCalc's ``_require_is_admin`` for a table whose queries are marked ``admin``."""
    from .api_db import require_admin_table

    require_admin_table(app, account_id)


# ----------------------------------------------------------------- site licenses


def get_site_licenses(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
    """Licenses matching the non-null values of *body* (admins only), most recently used first."""
    _check_fields(app, "site_licenses", body, LICENSE_FIELDS)
    _require_admin(app, account_id)
    params: Dict[str, Any] = {}
    where = _equal_filters(body, LICENSE_MAPS, params)
    sql = f"SELECT {','.join(_quoted(f) for f in body)} FROM site_licenses"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = app.store.query(sql + f" ORDER BY last_used DESC LIMIT {LICENSE_LIMIT}", **params)
    return _rows_answer(rows, multi)


def _timestamp(value: Any) -> Any:
    """A time as CoCalc's set query passes it: what JavaScript's ``new Date(value)`` parses, else as given."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc)
        elif isinstance(value, str):
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            return value
    except (ValueError, OverflowError, OSError):
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def set_site_license(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """Create or change a license (admins only): an upsert on ``id``, merging the map fields."""
    from .api_system import callback_query

    for field in body:
        checks.require(app, "db.userQuery:set-fields", field in LICENSE_SET_FIELDS,
                       PlainError(f"FATAL: changing site_licenses.{field} not allowed"))
    _require_admin(app, account_id)
    values = {k: v for k, v in body.items() if v is not None}
    params: Dict[str, Any] = {}
    casts: Dict[str, str] = {}
    for n, (field, value) in enumerate(values.items()):
        params[f"v{n}"] = json.dumps(value) if field in LICENSE_MAPS else (
            _timestamp(value) if field in LICENSE_TIMES else value)
        cast = "JSONB" if field in LICENSE_MAPS else "TEXT[]" if field == "managers" else None
        casts[field] = f"CAST(:v{n} AS {cast})" if cast else f":v{n}"
    merged = [f for f in values if f in LICENSE_MAPS]
    exists = bool(merged) and app.store.one("SELECT COUNT(*) AS n FROM site_licenses WHERE id=:i", i=values.get("id"))["n"] > 0
    if exists:
        sets = [f'"{f}" = ' + (f"COALESCE(\"{f}\",'{{}}'::JSONB) || {casts[f]}" if f in LICENSE_MAPS else casts[f])
                for f in values if f != "id"]
        callback_query(app.store, f"UPDATE site_licenses SET {', '.join(sets)} WHERE id=:i", i=values["id"], **params)
        return
    columns = ",".join(f'"{f}"' for f in values)
    updates = ", ".join(f'"{f}"=EXCLUDED."{f}"' for f in values if f != "id")
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    callback_query(
        app.store,
        f"INSERT INTO site_licenses({columns}) VALUES({','.join(casts[f] for f in values)}) ON CONFLICT (id) {conflict}",
        **params,
    )


def get_public_info(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
    """What anybody signed in may know of a license, given its id."""
    _check_fields(app, "site_license_public_info", body, PUBLIC_INFO_FIELDS)
    license_id = body.get("id")
    if not isinstance(license_id, str) or not is_valid_uuid(license_id):
        raise PlainError("must be a single object query with id specified")
    row = app.store.one(
        f"SELECT {','.join(PUBLIC_INFO_COLUMNS)} FROM site_licenses WHERE id=:i::UUID", i=license_id
    )
    if row is None:
        raise JsError(f"no license with id {license_id}")
    info = {k: v for k, v in row.items() if v is not None}
    info["running"] = app.store.one(
        "SELECT COUNT(*)::INT AS n FROM projects WHERE state->>'state' = 'running' "
        "AND ((site_license -> :i::TEXT) - 'status') != '{}'::JSONB",
        i=license_id,
    )["n"]
    info["applied"] = app.store.one(
        "SELECT COUNT(*) AS n FROM projects WHERE site_license #>> ARRAY[:i::TEXT] IS NOT NULL", i=license_id
    )["n"]
    info["is_manager"] = account_id in (row.get("managers") or [])
    return info


# ----------------------------------------------------------------------- messages


def get_messages(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
    """Sent messages the caller received (flags as bit strings), newest first."""
    _check_fields(app, "messages", body, MESSAGE_FIELDS)
    params: Dict[str, Any] = {"me": account_id}
    mine = [":me::UUID = ANY(to_ids)"] if checks.enforced(app, "db.userQuery:messages-mine") else []
    where = mine + ["sent IS NOT NULL"] + _equal_filters(
        {k: v for k, v in body.items() if k not in BIT_FIELDS}, (), params)
    columns = ",".join(f"{f}::TEXT AS {f}" if f in BIT_FIELDS else f for f in body)
    rows = app.store.query(
        f"SELECT {columns} FROM messages WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {MESSAGES_LIMIT}", **params
    )
    return _rows_answer(rows, multi)


def set_message_flags(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """Set the caller's own bit of the given flags of a message it received."""
    from .api_messages import update_unread_count
    from .api_system import central_log

    for field in body:
        checks.require(app, "db.userQuery:set-fields", field in ("id",) + BIT_FIELDS,
                       PlainError(f"FATAL: changing messages.{field} not allowed"))
    old = None
    if body.get("id") is not None:
        old = app.store.one(
            "SELECT to_ids, " + ", ".join(f"{f}::TEXT AS {f}" for f in BIT_FIELDS) + " FROM messages WHERE id=:i",
            i=body["id"],
        )
    if old is None:
        raise PlainError("use the sent_messages table to create a new message")
    to_ids = old.get("to_ids") or []
    changes = []
    for field in BIT_FIELDS:
        value = body.get(field)
        if value is None or value == old.get(field):
            continue
        if checks.enforced(app, "db.userQuery:messages-recipient") and account_id not in to_ids:
            _never_answer(app, central_log, "you do not have permission to edit this message")
        position = (to_ids.index(account_id) if account_id in to_ids else -1) + 1
        bit = value[position] if isinstance(value, str) and len(value) > position else "0"
        if bit not in ("0", "1"):
            _never_answer(app, central_log, f"invalid bit '{bit}'")
        changes.append(f"{field} = overlay(coalesce({field},'0'::bit(1))::bit({len(to_ids) + 1}) "
                       f"PLACING '{bit}'::bit(1) FROM {position}+1)")
    if not changes:
        return
    try:
        app.store.query(
            f"UPDATE messages SET {','.join(changes)} WHERE :a::UUID=ANY(to_ids) AND id=:i", a=account_id, i=int(body["id"])
        )
        update_unread_count(app.store, account_id)
    except DatabaseFailure as err:
        raise PlainError(str(err)) from None


def _never_answer(app: Any, central_log: Callable[..., None], message: str) -> None:
    """What CoCalc does when its hook throws: log an uncaught exception and never answer."""
    central_log(app.store, "uncaught_exception", {"error": f"Error: {message}", "host": "standin"})
    threading.Event().wait(NEVER)
    raise JsError(message)


# ----------------------------------------------------------------------- file use

FILE_USE_FIELDS = ("id", "project_id", "path", "users", "last_edited")
FILE_USE_LIMIT = 200


def get_file_use(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
    """Recent (21 days) file activity in the caller's projects, most recently edited first."""
    from .api_db import require_project_read

    _check_fields(app, "file_use", body, FILE_USE_FIELDS)
    params: Dict[str, Any] = {"me": account_id}
    where = ["last_edited >= NOW() - interval '21 days'"]
    if body.get("project_id"):
        if project_id is None:
            require_project_read(app, account_id, body["project_id"])
        else:  # acting for a project: that project, unchecked (see api_db.user_query)
            params["scope"] = project_id
            where.append("project_id = :scope::UUID")
    elif checks.enforced(app, "db.userQuery:projects-mine"):
        where.append("project_id = ANY(SELECT project_id FROM projects WHERE users ? :me::TEXT)")
    where += _equal_filters(body, ("users",), params)
    rows = app.store.query(
        f"SELECT {','.join(_quoted(f) for f in body)} FROM file_use WHERE {' AND '.join(where)} "
        f"ORDER BY last_edited DESC LIMIT {FILE_USE_LIMIT}",
        **params,
    )
    return _rows_answer(rows, multi)


def set_file_use(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """CoCalc lets collaborators write ``file_use``; the stand-in does not (yet) and says so."""
    raise PlainError("the stand-in does not support set queries on table 'file_use'")


# ------------------------------------------------- project tables: listings, syncstrings, invite tokens, paths

#: ``table -> spec`` of user-query tables about one project (``util/db-schema/listings.ts``,
#: ``syncstring-schema.ts``, ``project-invite-tokens.ts``, ``public-paths.ts``): ``get`` fields with their
#: defaults, ``where`` (``projects``: members of the project named, or the caller's projects; ``public``: any
#: project named, as ``public_paths`` is anonymous; ``syncstrings``: CoCalc's ``_syncstrings_check``),
#: ``options`` (order, limit), ``set`` fields, the primary key and the id field derived from project and path
#: (``derived``: in sets; ``derived_get``: in reads too, as the schema's function fields).
PROJECT_TABLES: Dict[str, Dict[str, Any]] = {
    "listings": {
        "get": {f: None for f in ("project_id", "compute_server_id", "path", "time", "listing", "missing", "interest",
                                  "error", "deleted")},
        "where": "projects", "order": '"interest" DESC', "limit": 50,
        "set": None, "key": ("project_id", "path", "compute_server_id"),
    },
    "syncstrings": {
        "get": dict({f: None for f in ("string_id", "users", "last_snapshot", "last_seq", "project_id", "path",
                                       "deleted", "save", "last_active", "init", "read_only", "last_file_change",
                                       "doctype", "archived", "settings")}, snapshot_interval=300),
        "where": "syncstrings", "order": None, "limit": None, "derived": "string_id", "derived_get": True,
        "set": None, "key": ("string_id",),
    },
    "project_invite_tokens": {
        "get": {f: None for f in ("project_id", "token", "expires", "created", "usage_limit", "counter")},
        "where": "projects", "order": '"created" DESC', "limit": None,
        "set": ("project_id", "token", "expires", "created", "usage_limit"), "key": ("token",),
        "times": ("expires", "created"), "owners_only_when_restricted": True,
    },
    "public_paths": {
        "get": dict({f: None for f in ("id", "project_id", "path", "name", "url", "description", "image", "disabled",
                                       "unlisted", "authenticated", "license", "last_edited", "created", "last_saved",
                                       "counter", "site_license_id", "cross_origin_isolation", "redirect",
                                       "jupyter_api")}, compute_image="default"),
        "where": "public", "order": None, "limit": None, "derived": "id",
        "set": ("id", "project_id", "path", "name", "description", "image", "disabled", "unlisted", "authenticated",
                "license", "last_edited", "created", "compute_image", "site_license_id", "cross_origin_isolation",
                "redirect", "jupyter_api"),
        "key": ("id",), "times": ("last_edited", "created"),
    },
}
_PROJECT_TABLE_MAPS = ("listing", "init", "save", "settings")


def _derived_id(body: Dict[str, Any]) -> str:
    """CoCalc's ``db.sha1(obj.project_id, obj.path)`` for the tables whose id is the file's."""
    from .api_db import sha1_id

    return sha1_id(body.get("project_id"), body.get("path"))


def _project_table_get(table: str) -> Callable[..., Any]:
    spec = PROJECT_TABLES[table]

    def get(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
        from .api_db import _require_write_access, require_project_read

        _check_fields(app, table, body, tuple(spec["get"]))
        body = dict(body)
        if spec.get("derived_get"):
            body[spec["derived"]] = _derived_id(body)  # a function field of the schema's get: always computed
        params: Dict[str, Any] = {"me": account_id}
        where: List[str] = []
        wanted = body.get("project_id")
        if spec["where"] == "syncstrings":  # _syncstrings_check
            if not is_valid_uuid(wanted):
                raise PlainError(f"FATAL: project_id (='{js_str(wanted)}') must be a valid uuid")
            if project_id is not None:
                if project_id != wanted:
                    raise PlainError("FATAL: projects can only access their own syncstrings")
            else:
                _require_write_access(app, account_id, wanted)
        elif project_id is not None:  # acting for a project: its rows, unchecked (see api_db.user_query)
            params["scope"] = project_id
            where.append("project_id = :scope::UUID")
        elif spec["where"] == "public":  # anonymous: any project's public paths, but one must be named
            if not wanted:
                raise PlainError("FATAL: must specify project_id")
        elif wanted:
            require_project_read(app, account_id, wanted)
        elif checks.enforced(app, "db.userQuery:projects-mine"):
            where.append("project_id = ANY(SELECT project_id FROM projects WHERE users ? :me::TEXT)")
        where += _equal_filters(body, _PROJECT_TABLE_MAPS, params)
        sql = f"SELECT {','.join(_quoted(f) for f in body)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if spec["order"]:
            sql += f" ORDER BY {spec['order']}"
        sql += f" LIMIT {spec['limit'] or 100000}"
        rows = app.store.query(sql, **params)
        for row in rows:
            for field, default in spec["get"].items():
                if default is not None and field in row and row[field] is None:
                    row[field] = default
        return _rows_answer(rows, multi)

    return get


def _project_table_set(table: str) -> Callable[..., None]:
    spec = PROJECT_TABLES[table]

    def set_rows(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
        from .api_db import _require_write_access
        from .api_system import callback_query

        allowed = spec["set"]
        for field in body:
            checks.require(app, "db.userQuery:set-fields", field in allowed,
                           PlainError(f"FATAL: changing {table}.{field} not allowed"))
        body = dict(body)
        if spec.get("derived"):
            body[spec["derived"]] = _derived_id(body)
        target = body.get("project_id")
        if target is None:
            raise PlainError(f"FATAL: must specify {table}.project_id")
        if project_id is None:
            _require_write_access(app, account_id, target)
            if spec.get("owners_only_when_restricted"):
                _require_owner_when_restricted(app, account_id, target)
        else:  # acting for a project: that project only
            checks.require(app, "db.userQuery:same-project", target == project_id,
                           PlainError("FATAL: can only query same project"))
        if body.get("name") is not None:
            raise PlainError(f"the stand-in does not support setting {table}.name with a user query")
        values = {k: v for k, v in body.items() if v is not None}
        params: Dict[str, Any] = {}
        casts = {}
        for n, (field, value) in enumerate(values.items()):
            params[f"v{n}"] = _timestamp(value) if field in spec.get("times", ()) else value
            casts[field] = f"CAST(:v{n} AS UUID)" if field == "project_id" else f":v{n}"
        columns = ",".join(_quoted(f) for f in values)
        updates = ", ".join(f"{_quoted(f)}=EXCLUDED.{_quoted(f)}" for f in values if f not in spec["key"])
        conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        callback_query(
            app.store,
            f"INSERT INTO {table}({columns}) VALUES({','.join(casts[f] for f in values)}) "
            f"ON CONFLICT ({','.join(spec['key'])}) {conflict}",
            **params,
        )

    return set_rows


def _require_owner_when_restricted(app: Any, account_id: str, project_id: Any) -> None:
    """With ``manage_users_owner_only``, only owners (and site admins) make a project's invite tokens."""
    def allowed() -> bool:
        row = app.store.one("SELECT manage_users_owner_only AS restricted FROM projects WHERE project_id=:p::UUID",
                            p=project_id)
        return not (row and row["restricted"]) or project_group(app.store, account_id, project_id) == "owner" \
            or is_admin(app.store, account_id)

    checks.require(app, "db.userQuery:invite-tokens-owner-only", allowed,
                   PlainError("FATAL: only owners make invite tokens when only owners manage collaborators"))


def set_listing(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """A listing's ``project_id`` is of type ``project_id``: only a project writes its listings."""
    if project_id is None:
        raise PlainError("FATAL: project_id must be specified")
    raise PlainError("the stand-in does not support set queries on table 'listings'")


def set_syncstring(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """CoCalc lets members write a syncstring's row; the stand-in does not (yet) and says so."""
    raise PlainError("the stand-in does not support set queries on table 'syncstrings'")


# ----------------------------------------------------------------- organizations

ORG_GET_FIELDS = ("organization_id", "email_address", "name", "title", "description", "profile", "created")
ORG_SET_FIELDS = ("organization_id", "name", "title", "description", "profile")
#: Longest text CoCalc's hook keeps of a field (it cuts the rest off).
ORG_TEXT_LIMIT = 254


def get_organizations(app: Any, account_id: str, body: Dict[str, Any], multi: bool, project_id: Any = None) -> Any:
    """CoCalc's get fails for everyone: its pg_where compares organization_id with the parameter's own name."""
    _check_fields(app, "organizations", body, ORG_GET_FIELDS)
    if checks.enforced(app, "db.userQuery:organizations-get"):
        raise PlainError('invalid input syntax for type uuid: "organization_id"')
    params: Dict[str, Any] = {}
    where = _equal_filters(body, ("profile",), params)
    sql = f"SELECT {','.join(_quoted(f) for f in body)} FROM organizations"
    rows = app.store.query(sql + (" WHERE " + " AND ".join(where) if where else "") + " LIMIT 1000", **params)
    return _rows_answer(rows, multi)


def set_organization(app: Any, account_id: str, body: Dict[str, Any], project_id: Any = None) -> None:
    """Title, description and profile of an organization, written by a member of its ``users`` map only."""
    for field in body:
        checks.require(app, "db.userQuery:set-fields", field in ORG_SET_FIELDS,
                       PlainError(f"FATAL: changing organizations.{field} not allowed"))
    org_id = body.get("organization_id")
    if not is_valid_uuid(org_id):
        raise PlainError("FATAL: query must specify (primary) key 'organization_id'")
    checks.require(app, "db.userQuery:organizations-member", lambda: app.store.one(
        "SELECT 1 AS one FROM organizations WHERE organization_id=:o::UUID AND users ? :a::TEXT", o=org_id, a=account_id),
        PlainError("account must be a member of the organization"))
    if body.get("name") is not None:
        raise PlainError("the stand-in does not support setting organizations.name with a user query")
    values = {k: (v[:ORG_TEXT_LIMIT] if isinstance(v, str) else v) for k, v in body.items()
              if v is not None and k != "organization_id"}
    if not values:
        return
    from .api_system import callback_query

    sets = ", ".join(f"{_quoted(f)}=CAST(:{f} AS JSONB)" if f == "profile" else f"{_quoted(f)}=:{f}" for f in values)
    params = {f: json.dumps(v) if f == "profile" else v for f, v in values.items()}
    callback_query(app.store, f"UPDATE organizations SET {sets} WHERE organization_id=:o::UUID", o=org_id, **params)


#: ``table -> (get, set)``; a missing function means CoCalc has no such query for the table.
HANDLERS: Dict[str, Tuple[Optional[Callable[..., Any]], Optional[Callable[..., None]]]] = {
    "site_licenses": (get_site_licenses, set_site_license),
    "site_license_public_info": (get_public_info, None),
    "messages": (get_messages, set_message_flags),
    "file_use": (get_file_use, set_file_use),
    "listings": (_project_table_get("listings"), set_listing),
    "syncstrings": (_project_table_get("syncstrings"), set_syncstring),
    "project_invite_tokens": (_project_table_get("project_invite_tokens"), _project_table_set("project_invite_tokens")),
    "public_paths": (_project_table_get("public_paths"), _project_table_set("public_paths")),
    "organizations": (get_organizations, set_organization),
}


def missing_handler(table: str, what: str) -> PlainError:
    """CoCalc's refusal of a query kind a table does not offer."""
    if what == "set":
        return PlainError(f"FATAL: user set queries not allowed for table '{js_str(table)}'")
    return PlainError(f"FATAL: get queries not allowed for table '{js_str(table)}'")

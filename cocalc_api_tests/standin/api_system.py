"""Hub ``system.*`` calls: ping, test, getNames, userSearch."""
import re
import time
from typing import Any, Dict, List, Optional

from .api_common import JsError, is_admin, is_valid_email, is_valid_uuid, opts_of, type_error
from .store import epoch_ms

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
    if not account_id:
        raise JsError("You must be signed in to search for users.")
    if admin:
        if not is_admin(app.store, account_id):
            raise JsError("Must be an admin to do admin search.")
    elif limit is not None and limit > NON_ADMIN_LIMIT_CAP:
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


FUNCTIONS = {"ping": ping, "test": test, "getNames": getNames, "userSearch": userSearch}

"""Hub ``messages.*`` calls: CoCalc's internal messages in the ``messages`` table.

Per-recipient flags (read, saved, starred, liked, deleted, expire) are bit
strings indexed by the recipient's position in ``to_ids`` (bit 1 is the
sender's own flag for sent messages), as in CoCalc.
"""
from typing import Any, Dict, List, Optional

from . import checks
from .api_common import JsError, is_valid_uuid, opts_of, type_error

MAX_LIMIT = 500
#: Only this many recent messages count for the unread counter.
NUM_MESSAGES = 1000
_FIELDS = "id,subject,body,from_id,to_ids,sent,thread_id"


def _bit(field: str, account_id: str, alias: Optional[str] = None) -> str:
    """SQL for the recipient's flag *field* (CoCalc's ``pgBitField``)."""
    if not is_valid_uuid(account_id):
        raise JsError("account_id must be valid")
    expr = f"coalesce(substring({field},array_position(to_ids,'{account_id}')+1,1),'0'::bit(1)) = '1'::bit(1)"
    return f"{expr} AS {alias}" if alias else expr


def _own_bit(field: str, alias: Optional[str] = None) -> str:
    """SQL for the sender's own flag *field* (CoCalc's ``pgBitFieldSelf``)."""
    expr = "coalesce(substring(%s,1,1),'0'::bit(1)) = '1'::bit(1)" % field
    return f"{expr} AS {alias}" if alias else expr


def _is_valid_account(store: Any, account_id: Any) -> bool:
    row = store.one("SELECT COUNT(*) AS count FROM accounts WHERE account_id = :a::UUID", a=account_id)
    return row["count"] > 0


def send_message(
    store: Any, from_id: str, to_ids: List[Any], subject: Any, body: Any, reply_id: Any = None, dedup_minutes: Any = None
) -> Optional[int]:
    """Store a message from *from_id* to *to_ids*; its id (None when there is nobody to send to)."""
    if not to_ids:
        return None
    for account_id in to_ids:
        if not _is_valid_account(store, account_id):
            raise JsError(f"invalid account_id -- {account_id}")
    if not _is_valid_account(store, from_id):
        raise JsError(f"invalid from_id account_id -- {from_id}")
    thread_id = None
    if reply_id:
        row = store.one("SELECT thread_id FROM messages WHERE id=:r", r=reply_id)
        if row is not None:
            thread_id = row["thread_id"] if row["thread_id"] is not None else reply_id
    if dedup_minutes:
        row = store.one(
            "SELECT id FROM messages WHERE to_ids=:t::UUID[] AND from_id=:f AND subject=:s AND body=:b "
            f"AND coalesce(thread_id,0)=:th AND sent >= NOW()-interval '{int(dedup_minutes)} minutes'",
            t=to_ids,
            f=from_id,
            s=subject,
            b=body,
            th=thread_id or 0,
        )
        if row is not None:
            return row["id"]
    row = store.one(
        "INSERT INTO messages(from_id,to_ids,subject,body,sent,thread_id) "
        "VALUES(:f::UUID,:t::UUID[],:s,:b,NOW(),:th) RETURNING id",
        f=from_id,
        t=to_ids,
        s=subject,
        b=body,
        th=thread_id,
    )
    for account_id in to_ids:
        update_unread_count(store, account_id)
    return row["id"]


def update_unread_count(store: Any, account_id: str) -> None:
    """Recount the unread (not read, saved or deleted) threads among the account's recent messages."""
    row = store.one(
        "SELECT COUNT(DISTINCT(thread_id)) AS unread_count FROM (SELECT "
        f"{_bit('read', account_id, 'read')}, {_bit('saved', account_id, 'saved')}, "
        f"{_bit('deleted', account_id, 'deleted')}, "
        "CASE WHEN thread_id IS NULL OR thread_id = 0 THEN id ELSE thread_id END AS thread_id "
        f"FROM messages WHERE :a=ANY(to_ids) AND sent IS NOT NULL ORDER BY id DESC LIMIT {NUM_MESSAGES}) AS subquery "
        "WHERE read=false AND saved=false AND deleted=false",
        a=account_id,
    )
    store.query(
        "UPDATE accounts SET unread_message_count=:n WHERE account_id=:a::UUID", n=row["unread_count"], a=account_id
    )


def send(app: Any, args: List[Any]) -> Optional[int]:
    """Send a message; recipients are account ids or email addresses of accounts."""
    opts = opts_of(args)
    checks.require(app, "messages.send:signed-in", bool(opts.get("account_id")), JsError("invalid account"))
    to_ids = opts.get("to_ids")
    if not isinstance(to_ids, list):
        raise type_error("Cannot read properties of undefined (reading 'filter')")
    emails = [x for x in to_ids if isinstance(x, str) and "@" in x]
    if emails:
        rows = app.store.query("SELECT account_id FROM accounts WHERE email_address=ANY(:e)", e=emails)
        to_ids = [x for x in to_ids if is_valid_uuid(x)] + [r["account_id"] for r in rows]
    sender = opts["account_id"]
    if not checks.enforced(app, "messages.send:sender") and opts.get("from_id") is not None:
        sender = opts["from_id"]  # a server that trusts the caller's from_id (CoCalc forces it to the caller)
    return send_message(
        app.store,
        sender,
        to_ids,
        opts.get("subject"),
        opts.get("body"),
        opts.get("reply_id"),
        opts.get("dedupMinutes"),
    )


def get(app: Any, args: List[Any]) -> List[Dict[str, Any]]:
    """The caller's messages of one kind (received, sent, new, starred), newest first."""
    opts = opts_of(args)
    account_id = opts.get("account_id")
    limit = 100 if opts.get("limit") is None else opts["limit"]
    offset = opts.get("offset") or 0
    kind = opts.get("type") or "received"
    if limit > MAX_LIMIT:
        raise JsError(f"limit must be at most {MAX_LIMIT}")
    params: Dict[str, Any] = {"me": account_id}
    where = []
    if opts.get("cutoff"):
        where.append("sent > :cutoff")
        params["cutoff"] = opts["cutoff"]
    mine = ":me::UUID = ANY(to_ids)" if checks.enforced(app, "messages.get:own") else "TRUE"
    if kind == "sent":
        select = f"SELECT {_FIELDS}, {_own_bit('read', 'read')}, {_own_bit('saved', 'saved')}, " \
                 f"{_own_bit('deleted', 'deleted')} FROM messages"
        where += ["from_id = :me::UUID" if checks.enforced(app, "messages.get:own") else "TRUE",
                  f"not {_own_bit('expire')}"]
    elif kind == "received":
        select = f"SELECT {_FIELDS}, {_bit('read', account_id, 'read')}, {_bit('saved', account_id, 'saved')}, " \
                 f"{_bit('deleted', account_id, 'deleted')} FROM messages"
        where += [mine, "sent IS NOT NULL", f"not {_bit('expire', account_id)}"]
    elif kind == "new":
        select = f"SELECT {_FIELDS} FROM messages"
        where += [mine, "sent IS NOT NULL"] + [f"not {_bit(f, account_id)}" for f in ("read", "saved", "deleted", "expire")]
    elif kind == "starred":
        select = f"SELECT {_FIELDS} FROM messages"
        where += [mine, "sent IS NOT NULL", _bit("starred", account_id)]
        where += [f"not {_bit(f, account_id)}" for f in ("deleted", "expire")]
    else:
        raise JsError('syntax error at or near "undefined"', name="error")
    sql = select + " WHERE " + " AND ".join(where) + " ORDER BY sent DESC NULLS LAST, id DESC LIMIT :lim"
    params["lim"] = limit
    if offset:
        sql += " OFFSET :off"
        params["off"] = offset
    return app.store.query(sql, **params)


FUNCTIONS = {"send": send, "get": get}

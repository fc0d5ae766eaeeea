"""What every call of the stand-in shares: CoCalc's error texts, permission checks and dispatch helpers.

CoCalc's hub answers a failed call with ``{"error": `${err}`}``: an ``Error``
becomes ``Error: <message>``, a ``TypeError`` ``TypeError: <message>``, a
database error ``error: <message>``, and the plain strings its user-query code
passes to callbacks stay as they are.  :class:`JsError` and :class:`PlainError`
carry those texts.
"""
import re
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import cached

_UUID = re.compile(r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}")


def _email_pattern() -> "re.Pattern[str]":
    """RFC 822 address syntax, the grammar CoCalc's ``is_valid_email_address`` checks."""
    qtext = r"[^\x0d\x22\x5c\x80-\xff]"
    dtext = r"[^\x0d\x5b-\x5d\x80-\xff]"
    atom = r"[^\x00-\x20\x22\x28\x29\x2c\x2e\x3a-\x3c\x3e\x40\x5b-\x5d\x7f-\xff]+"
    quoted_pair = r"\x5c[\x00-\x7f]"
    domain_literal = rf"\x5b(?:{dtext}|{quoted_pair})*\x5d"
    quoted_string = rf"\x22(?:{qtext}|{quoted_pair})*\x22"
    sub_domain = rf"(?:{atom}|{domain_literal})"
    word = rf"(?:{atom}|{quoted_string})"
    domain = rf"{sub_domain}(?:\x2e{sub_domain})*"
    local_part = rf"{word}(?:\x2e{word})*"
    return re.compile(rf"^{local_part}\x40{domain}$")


_EMAIL = _email_pattern()


class JsError(Exception):
    """An error whose text is ``<name>: <message>``, as JavaScript prints an Error."""

    def __init__(self, message: str, name: str = "Error"):
        super().__init__(message)
        self.message = message
        self.name = name

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class PlainError(Exception):
    """An error CoCalc reports as a bare string (its user-query callbacks do this)."""


def type_error(message: str) -> JsError:
    """A JavaScript ``TypeError``."""
    return JsError(message, name="TypeError")


def is_valid_uuid(value: Any) -> bool:
    """CoCalc's ``is_valid_uuid_string``: a 36-character string containing a UUID."""
    return isinstance(value, str) and len(value) == 36 and _UUID.search(value) is not None


def is_valid_email(value: Any) -> bool:
    """CoCalc's ``is_valid_email_address``."""
    return isinstance(value, str) and _EMAIL.match(value) is not None


#: The characters JavaScript's ``String.prototype.trim`` removes.
JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
            "\u2028\u2029\u202f\u205f\u3000\ufeff")


def js_truthy(value: Any) -> bool:
    """JavaScript's truthiness of a decoded JSON value."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == value and value != 0
    return value != "" if isinstance(value, str) else True


def js_str(value: Any) -> str:
    """How a JavaScript template literal prints *value*."""
    if value is None:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if v is None else js_str(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_type(value: Any) -> str:
    """JavaScript's ``typeof`` of a decoded JSON value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "undefined"
    return "object"


def opts_of(args: List[Any]) -> Dict[str, Any]:
    """The options object a hub function destructures from its first argument."""
    first = args[0] if args else None
    return first if isinstance(first, dict) else {}


def _groups_row(store: Any, account_id: str) -> Optional[Dict[str, Any]]:
    return store.one("SELECT groups FROM accounts WHERE account_id=:a::UUID", a=account_id)


def user_groups(store: Any, account_id: str) -> List[str]:
    """``accounts.groups`` of *account_id* as read just now (empty for an unknown account)."""
    return (_groups_row(store, account_id) or {}).get("groups") or []


def is_admin(store: Any, account_id: Optional[str]) -> bool:
    """CoCalc's ``isAdmin``: the account's groups contain ``admin`` (read through the ``long`` cache)."""
    if not account_id:
        raise JsError("invalid account")
    row = cached.read(store, "long", ("groups", account_id), lambda: _groups_row(store, account_id))
    return "admin" in ((row or {}).get("groups") or [])


def db_is_admin(store: Any, account_id: Optional[str]) -> bool:
    """The database object's ``is_admin`` (user queries): through its own ``query`` cache."""
    row = cached.read(store, "query", ("groups", account_id), lambda: _groups_row(store, account_id), cached.always)
    return "admin" in ((row or {}).get("groups") or [])


def _group_row(store: Any, account_id: Any, project_id: Any) -> Optional[Dict[str, Any]]:
    return store.one(
        "SELECT users#>>ARRAY[:a::TEXT,'group'] AS grp FROM projects WHERE project_id=:p::UUID",
        a=account_id,
        p=project_id,
    )


def project_group(store: Any, account_id: str, project_id: str) -> Optional[str]:
    """The group (``owner``, ``collaborator``) of *account_id* on *project_id*, if any, as stored now."""
    return (_group_row(store, account_id, project_id) or {}).get("grp")


def is_collaborator(store: Any, account_id: Any, project_id: Any) -> bool:
    """CoCalc's ``isCollaborator``: owner or collaborator of the project (read through the ``long`` cache)."""
    if not is_valid_uuid(account_id) or not is_valid_uuid(project_id):
        raise JsError("invalid account_id or project_id -- all must be valid uuid's")
    if account_id == project_id:
        return True
    row = cached.read(store, "long", ("group", account_id, project_id), lambda: _group_row(store, account_id, project_id))
    return (row or {}).get("grp") in ("owner", "collaborator")


def in_project_group(store: Any, account_id: Any, project_id: Any) -> bool:
    """The database's ``user_is_in_project_group``: owner or collaborator now, or else a site admin."""
    if account_id is None:
        return False
    if project_group(store, account_id, project_id) in ("owner", "collaborator"):
        return True
    return db_is_admin(store, account_id)


def check_args(args: Any) -> List[Any]:
    """A call's ``args``, as CoCalc spreads them into the function (absent: none)."""
    if args is None:
        return []
    if not isinstance(args, list):
        raise type_error("Spread syntax requires ...iterable[Symbol.iterator] to be a function")
    return args


def split_name(name: Any) -> Tuple[str, Optional[str]]:
    """``group`` and ``function`` of a call name, as CoCalc's ``name.split(".")``."""
    if not isinstance(name, str):
        raise type_error(f"Cannot read properties of {js_str(name)} (reading 'split')"
                         if name is None else "name.split is not a function")
    parts = name.split(".")
    return parts[0], parts[1] if len(parts) > 1 else None


def answer(name: Any, work: Callable[[], Any]) -> Any:
    """*work()*, or ``{"error": ...}`` with CoCalc's text when it fails (never raises)."""
    try:
        return work()
    except (JsError, PlainError) as err:
        return {"error": str(err)}
    except Exception as err:  # a bug in the stand-in: say so, keep serving
        traceback.print_exc(file=sys.stderr)
        return {"error": f"Error: stand-in internal error in {js_str(name)}: {type(err).__name__}: {err}"}

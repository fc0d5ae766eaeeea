"""``/api/v2/api-keys``: managing one's API keys with a sign-in cookie, as CoCalc's Next.js route does.

(``next/pages/api/v2/api-keys.ts``, ``server/auth/get-account.ts``,
``server/api/manage.ts``.)  The caller is who the ``remember_me`` cookie signs
in; without that cookie, an API key in ``Authorization`` is used instead (a
project key then passes its *project* id on as the account, which
``manageApiKeys`` refuses as an invalid account).  A badly formed cookie fails
the request; an unknown, expired or banned one signs nobody in.

The body's ``action`` (``get``, ``create``, ``edit``, ``delete``),
``project_id``, ``name``, ``expire`` and ``id`` go to the same
``manageApiKeys`` as the hub's ``system.manageApiKeys``; only POST bodies are
read.  The answer is HTTP 200 with ``{"response": ...}`` (just ``{}`` when
there is nothing to answer) or ``{"error": "<message>"}`` -- the bare message,
without JavaScript's ``Error:``.
"""
import re
from typing import Any, Dict, Optional

from . import checks
from .api_auth import REMEMBER_ME_COOKIE, account_from_key, account_from_remember_me, remember_me_hash
from .api_common import JsError, PlainError

PATH = "/api/v2/api-keys"
#: The body fields the route passes on.
FIELDS = ("action", "project_id", "name", "expire", "id")


def cookie(header: Optional[str], name: str) -> Optional[str]:
    """The value of cookie *name* in a ``Cookie`` header, read as the ``cookies`` package reads it."""
    if not header:
        return None
    match = re.search(r"(?:^|;) *" + re.escape(name) + r"=([^;]*)", header)
    if match is None:
        return None
    value = match.group(1)
    return value[1:-1] if value.startswith('"') else value


def signed_in_account(app: Any, cookie_header: Optional[str], authorization: Optional[str]) -> Optional[str]:
    """Who the request signs in as (CoCalc's ``getAccountId``): the cookie's account, else the key's id."""
    from .server import BridgeError, api_key_from

    value = cookie(cookie_header, REMEMBER_ME_COOKIE)
    if value:
        return account_from_remember_me(app.store, remember_me_hash(value))
    if not authorization:
        return None
    try:
        identity = account_from_key(app.store, api_key_from(authorization)) or {}
    except (BridgeError, JsError):
        return None
    return identity.get("account_id") or identity.get("project_id")


def api_keys(app: Any, cookie_header: Optional[str], authorization: Optional[str], params: Optional[Dict[str, Any]]) -> Any:
    """The answer to one request of ``/api/v2/api-keys`` (*params*: the POST body, None for other methods)."""
    from .api_system import manageApiKeys

    try:
        account_id = signed_in_account(app, cookie_header, authorization)
        checks.require(app, "api-keys:signed-in", bool(account_id), JsError("must be signed in"))
        body = params if isinstance(params, dict) else {}
        opts = {"account_id": account_id}
        opts.update((k, body[k]) for k in FIELDS if k in body)
        response = manageApiKeys(app, [opts])
    except JsError as err:
        return {"error": err.message}
    except PlainError as err:
        return {"error": str(err)}
    return {} if response is None else {"response": response}

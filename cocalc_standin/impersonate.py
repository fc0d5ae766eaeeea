"""``GET /auth/impersonate?auth_token=…``: the sign-in link of an ``org.createToken`` token, as CoCalc answers it.

CoCalc answers HTTP 200 with a short page; a missing, unknown or expired token
reads ``ERROR: impersonate error -- Error: <reason>``.  A valid token would sign
the browser in (cookies and a ``remember_me`` row) and send it on to the app; the
stand-in signs nobody in and says so on the same kind of page.
"""
from typing import Any, Tuple
from urllib.parse import parse_qs

PATH = "/auth/impersonate"
CONTENT_TYPE = "text/html; charset=utf-8"


def page(store: Any, query: str) -> Tuple[int, str, str]:
    """``(status, body, content type)`` of ``GET /auth/impersonate?<query>``."""
    # Express reads a repeated parameter as an array, which JavaScript prints joined by commas.
    token = ",".join(parse_qs(query, keep_blank_values=True).get("auth_token", []))
    if not token:
        reason = "invalid empty token"
    elif store.one("SELECT account_id FROM auth_tokens WHERE auth_token=:t AND expire > NOW()", t=token) is None:
        reason = f"unknown or expired token: '{token}'"
    else:
        reason = "the stand-in does not implement signing in with a valid token"
    return 200, f"ERROR: impersonate error -- Error: {reason}", CONTENT_TYPE

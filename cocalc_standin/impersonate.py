"""``GET /auth/impersonate?auth_token=…``: signing in with a sign-in token, as CoCalc's hub does.

(``server/auth/impersonate.ts``, ``set-sign-in-cookies.ts``, ``remember-me.ts``.)
A valid token -- from ``org.createToken`` or ``system.generateUserAuthToken``,
known and not expired -- signs the browser in for 12 hours:

* a ``remember_me`` row (hash of a fresh secret, expiring in 12 hours) and two
  cookies, ``account_id=<uuid>`` (readable by the page) and
  ``remember_me=<algorithm>$<salt>$<iterations>$<secret>`` (HTTP only, SameSite
  from the ``samesite_remember_me`` site setting, ``strict`` by default), both
  with ``path=/`` and an expiry 12 hours ahead;
* HTTP 200 with a small page whose script sends the browser to the site's
  ``/app`` (``?lang_temp=<locale>`` appended for a known locale).

The token stays valid until it expires.  A missing, unknown or expired token,
or a banned account, gets a page reading ``ERROR: impersonate error -- Error:
<reason>`` (still HTTP 200).  The cookie then works for ``/api/v2/api-keys``
(:mod:`.api_v2`), never for the conat bridges.
"""
import datetime
import email.utils
from typing import Any, List, Tuple
from urllib.parse import parse_qs, quote

from . import checks
from .api_auth import ACCOUNT_ID_COOKIE, REMEMBER_ME_COOKIE, create_remember_me
from .api_common import JsError

PATH = "/auth/impersonate"
CONTENT_TYPE = "text/html; charset=utf-8"
#: How long an impersonation sign-in lasts: 12 hours.
SIGN_IN_SECONDS = 12 * 3600
#: CoCalc's interface languages (``util/i18n/const.ts``), for ``lang_temp``.
LOCALES = ("en", "es", "de", "zh", "ru", "fr", "it", "nl", "ja", "hi", "pt", "ko", "pl", "tr", "he", "hu", "ar",
           "br", "eu")

Headers = List[Tuple[str, str]]


def _query_value(query: str, name: str) -> str:
    # Express reads a repeated parameter as an array, which JavaScript prints joined by commas.
    return ",".join(parse_qs(query, keep_blank_values=True).get(name, []))


def _expires(seconds: float) -> str:
    """A cookie's ``expires``: JavaScript's ``toUTCString()`` of now + *seconds*."""
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return email.utils.format_datetime(moment, usegmt=True)


def _same_site(store: Any) -> str:
    row = store.one("SELECT value FROM server_settings WHERE name='samesite_remember_me'")
    value = ((row or {}).get("value") or "").strip().lower()
    return value if value in ("strict", "lax", "none") else "strict"


def redirect_page(target: str) -> str:
    """The page that sends the browser on to *target* (CoCalc's ``clientSideRedirect``)."""
    return (
        "<head>\n"
        "  <script>\n"
        "    window.onload = function () {\n"
        f'      window.location.href = "{target}";\n'
        "      setTimeout(function() {\n"
        "        const element = document.getElementById('redirect-msg');\n"
        "        element.style.display = 'block';\n"
        "      }, 3000);\n"
        "    };\n"
        "  </script>\n"
        "</head>\n"
        "<body>\n"
        '  <div id="redirect-msg" style="display: none;">\n'
        f'    You should be redirected to <a href="{target}">{target}</a>.\n'
        "  </div>\n"
        "</body>"
    )


def page(app: Any, query: str) -> Tuple[int, str, str, Headers]:
    """``(status, body, content type, extra headers)`` of ``GET /auth/impersonate?<query>``."""
    store = app.store
    token = _query_value(query, "auth_token")
    headers: Headers = []
    try:
        if not token:
            raise JsError("invalid empty token")
        live = " AND expire > NOW()" if checks.enforced(app, "impersonate:unexpired") else ""
        row = store.one(f"SELECT account_id FROM auth_tokens WHERE auth_token=:t{live}", t=token)
        if row is None:
            raise JsError(f"unknown or expired token: '{token}'")
        account_id = row["account_id"]
        # CoCalc sets the account_id cookie at once and the remember_me cookie once its row is stored.
        headers.append(("Set-Cookie", f"{ACCOUNT_ID_COOKIE}={account_id}; path=/; expires={_expires(SIGN_IN_SECONDS)}"))
        value = create_remember_me(store, account_id, SIGN_IN_SECONDS)
        headers.append(("Set-Cookie", f"{REMEMBER_ME_COOKIE}={value}; path=/; expires={_expires(SIGN_IN_SECONDS)}; "
                                      f"samesite={_same_site(store)}; httponly"))
    except JsError as err:
        return 200, f"ERROR: impersonate error -- {err}", CONTENT_TYPE, headers
    target = app.site_url("app")
    lang = _query_value(query, "lang_temp")
    if lang in LOCALES:
        target += f"?lang_temp={quote(lang, safe='')}"
    return 200, redirect_page(target), CONTENT_TYPE, headers

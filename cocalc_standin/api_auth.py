"""Accounts, API keys and sign-in tokens, stored the way CoCalc stores them.

* An API key is ``sk-`` + 16 random letters/digits + the ``api_keys.id`` of its
  row in 6 base-62 digits; the row keeps ``trunc`` (``sk-...`` + last 6) and
  ``hash``, a salted iterated HMAC in CoCalc's ``password-hash`` format
  (``sha512$<salt>$1000$<hex>``).  A row with ``project_id`` set is a
  project-scoped key.  Keys in the legacy ``accounts.api_key`` column work too.
* Sign-in tokens (``org.createToken``, ``system.generateUserAuthToken``) live
  in ``auth_tokens``; they are never API keys.  Following a token's link signs in
  with a ``remember_me`` cookie: the cookie holds ``sha512$<salt>$1000$<uuid>``,
  the ``remember_me`` row the (truncated) hash of that uuid with the same salt
  (:func:`create_remember_me`, :func:`account_from_remember_me`).
* Key and cookie lookups, bans and memberships are read through CoCalc's caches
  (:mod:`.cached`); key validity rules are the ``key:*`` checks of :mod:`.checks`.

:func:`mint_account` makes an account with a key for set-ups and tests.
"""
import datetime
import hashlib
import hmac
import re
import secrets
import string
import threading
import uuid
from typing import Any, Dict, Optional, Tuple

from . import cached, checks
from .api_common import JsError, is_collaborator
from .store import Store, utcnow

API_KEY_PREFIX = "sk-"
HASH_ALGORITHM = "sha512"
HASH_ITERATIONS = 1000
HASH_SALT_LENGTH = 32
#: ``random-key``'s alphabet, used for key bodies and sign-in tokens.
RANDOM_ALPHABET = string.ascii_letters + string.digits
#: The alphabet of the ``base62/lib/ascii`` encoding of key ids.
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
MAX_SERIAL = 2147483647
#: Default life of a sign-in token: 24 hours.
TOKEN_TTL = datetime.timedelta(hours=24)

_verified: Dict[Tuple[str, str], bool] = {}
_verified_lock = threading.Lock()


def random_key(length: int) -> str:
    """*length* random letters and digits."""
    return "".join(secrets.choice(RANDOM_ALPHABET) for _ in range(length))


def _iterated_hmac(algorithm: str, salt: str, iterations: int, secret: str) -> str:
    value = secret
    for _ in range(iterations):
        value = hmac.new(salt.encode(), value.encode(), algorithm).hexdigest()
    return value


def password_hash(secret: str) -> str:
    """``sha512$<salt>$1000$<hex>`` of *secret*, salted afresh on every call."""
    salt = random_key(HASH_SALT_LENGTH)
    digest = _iterated_hmac(HASH_ALGORITHM, salt, HASH_ITERATIONS, secret)
    return f"{HASH_ALGORITHM}${salt}${HASH_ITERATIONS}${digest}"


def verify_password(secret: str, hashed: Optional[str]) -> bool:
    """Whether *hashed* (from :func:`password_hash`) is a hash of *secret*."""
    if not hashed:
        return False
    key = (secret, hashed)
    with _verified_lock:
        if key in _verified:
            return _verified[key]
    parts = hashed.split("$")
    ok = False
    if len(parts) == 4 and parts[0] in hashlib.algorithms_available:
        try:
            iterations = int(parts[2])
        except ValueError:
            iterations = 0
        if 0 < iterations <= 10000:
            digest = _iterated_hmac(parts[0], parts[1], iterations, secret)
            ok = hmac.compare_digest(digest, parts[3])
    with _verified_lock:
        if len(_verified) > 1000:
            _verified.clear()
        _verified[key] = ok
    return ok


def encode62(n: int) -> str:
    """*n* in base 62, padded to 6 digits."""
    digits = ""
    while True:
        n, r = divmod(n, 62)
        digits = BASE62[r] + digits
        if n == 0:
            break
    return digits.rjust(6, "0")


def decode62(text: str) -> Optional[int]:
    """The number *text* encodes, or None if it is not base 62."""
    n = 0
    for ch in text:
        position = BASE62.find(ch)
        if position < 0:
            return None
        n = n * 62 + position
    return n


def create_api_key(
    store: Store,
    account_id: str,
    project_id: Optional[str] = None,
    name: str = "",
    expire: Optional[datetime.datetime] = None,
) -> str:
    """Store a new key for *account_id* (scoped to *project_id* if given); return its secret."""
    row = store.one(
        "INSERT INTO api_keys(account_id,created,project_id,expire,name) "
        "VALUES(:a::UUID,NOW(),:p::UUID,:e,:n) RETURNING id",
        a=account_id,
        p=project_id,
        e=expire,
        n=name,
    )
    key_id = row["id"]
    secret = f"{API_KEY_PREFIX}{random_key(16)}{encode62(key_id)}"
    store.query(
        "UPDATE api_keys SET trunc=:t,hash=:h WHERE id=:i",
        t=secret[:3] + "..." + secret[-6:],
        h=password_hash(secret),
        i=key_id,
    )
    return secret


def is_banned(store: Store, account_id: Optional[str]) -> bool:
    """CoCalc's ``isBanned``: ``accounts.banned``, remembered (``banned-yes``/``banned-no`` caches of :mod:`.cached`)."""
    if not account_id:
        return False
    caches = cached.of(store)
    if caches is not None:
        if caches.fresh("banned-yes", account_id) is not None:
            return True
        if caches.fresh("banned-no", account_id) is not None:
            return False
    row = store.one("SELECT banned FROM accounts WHERE account_id=:a::UUID", a=account_id)
    banned = bool(row and row.get("banned"))
    if caches is not None:
        caches.put("banned-yes" if banned else "banned-no", account_id, True)
        caches.drop("banned-no" if banned else "banned-yes", account_id)
    return banned


def _key_row(store: Store, key_id: int) -> Optional[Dict[str, Any]]:
    """The ``api_keys`` row of *key_id* through the ``medium`` cache (or, with ``key:deleted`` broken, as last seen)."""
    key = ("api_keys", key_id)
    row = cached.read(store, "medium", key, lambda: store.one(
        "SELECT account_id,project_id,hash,expire FROM api_keys WHERE id=:i", i=key_id))
    if row is None and not checks.enforced(store, "key:deleted"):
        caches = cached.of(store)
        row = caches.last("medium", key) if caches is not None else None
    return row


def account_from_key(store: Store, secret: Any) -> Optional[Dict[str, str]]:
    """``{"account_id"}`` or ``{"project_id"}`` that *secret* signs in as, else None.

    Like CoCalc (``getAccountWithApiKey``), keys are looked up through the
    ``medium`` cache; an expired key, or a project key whose creator is no longer
    a collaborator, is deleted on use; a valid use records ``last_active``.
    """
    if not secret or not isinstance(secret, str):
        return None
    if secret.startswith((API_KEY_PREFIX, "sk_")):
        row = cached.read(store, "medium", ("legacy", secret), lambda: store.one(
            "SELECT account_id FROM accounts WHERE api_key=:k::TEXT", k=secret))
        if row:
            if checks.enforced(store, "key:banned") and is_banned(store, row["account_id"]):
                return None
            return {"account_id": row["account_id"]}
    if not secret.startswith(API_KEY_PREFIX) or len(secret) < 9:
        return None
    key_id = decode62(secret[-6:])
    if key_id is None or key_id > MAX_SERIAL:
        return None
    row = _key_row(store, key_id)
    if row is None:
        return None
    if checks.enforced(store, "key:banned") and is_banned(store, row["account_id"]):
        return None
    if checks.enforced(store, "key:secret") and not verify_password(secret, row["hash"]):
        return None
    if row["project_id"] and checks.enforced(store, "key:creator-collaborator") \
            and not is_collaborator(store, row["account_id"], row["project_id"]):
        store.query("DELETE FROM api_keys WHERE id=:i", i=key_id)
        return None
    expired = row["expire"] is not None and row["expire"] <= utcnow()
    if expired and checks.enforced(store, "key:expired"):
        store.query("DELETE FROM api_keys WHERE id=:i", i=key_id)
        return None
    store.query("UPDATE api_keys SET last_active=NOW() WHERE id=:i", i=key_id)
    if row["project_id"]:
        return {"project_id": row["project_id"]}
    if row["account_id"]:
        return {"account_id": row["account_id"]}
    return None


def insert_account(
    store: Store,
    *,
    email: Optional[str],
    first_name: Optional[str],
    last_name: Optional[str],
    password: Optional[str] = None,
    owner_id: Optional[str] = None,
    groups: Optional[list] = None,
) -> str:
    """Insert an ``accounts`` row as CoCalc's ``createAccount`` does; return its id."""
    account_id = str(uuid.uuid4())
    store.query(
        "INSERT INTO accounts (email_address, password_hash, first_name, last_name, account_id, "
        "created, owner_id, groups, creation_actions_done) "
        "VALUES(:e::TEXT, :h::TEXT, :f::TEXT, :l::TEXT, :a::UUID, NOW(), :o::UUID, :g::TEXT[], true)",
        e=email or None,
        h=password_hash(password) if password else None,
        f=first_name,
        l=last_name,
        a=account_id,
        o=owner_id,
        g=groups,
    )
    return account_id


def mint_account(
    store: Store,
    *,
    admin: bool,
    email: Optional[str] = None,
    first_name: str = "Stand-in",
    last_name: Optional[str] = None,
    key_name: str = "stand-in",
) -> Tuple[str, str]:
    """Create an account (a site admin if *admin*) with an API key: ``(account_id, key)``."""
    account_id = insert_account(
        store,
        email=email or f"{'admin' if admin else 'user'}-{uuid.uuid4().hex[:12]}@standin.local",
        first_name=first_name,
        last_name=last_name or ("Admin" if admin else "User"),
        password=random_key(16),
        groups=["admin"] if admin else None,
    )
    return account_id, create_api_key(store, account_id, name=key_name)


def create_auth_token(
    store: Store, user_account_id: str, created_by: str, is_admin: bool, expire_ms: Optional[float] = None
) -> str:
    """Store a 24-character sign-in token for *user_account_id* (CoCalc's ``auth_tokens``)."""
    token = random_key(24)
    if expire_ms is None:
        expire = utcnow() + TOKEN_TTL
    else:
        expire = datetime.datetime.fromtimestamp(expire_ms / 1000, datetime.timezone.utc).replace(tzinfo=None)
    store.query(
        "INSERT INTO auth_tokens (auth_token, expire, account_id, created_by, created, is_admin) "
        "VALUES(:t, :e, :a::UUID, :c::UUID, NOW(), :i)",
        t=token,
        e=expire,
        a=user_account_id,
        c=created_by,
        i=is_admin,
    )
    return token


# ----------------------------------------------------------------- sign-in cookies

#: Name of CoCalc's sign-in cookie (no base path) and of the cookie telling the browser its account.
REMEMBER_ME_COOKIE = "remember_me"
ACCOUNT_ID_COOKIE = "account_id"
#: Highest iteration count a remember_me cookie may ask for.
MAX_COOKIE_ITERATIONS = 10000


def create_remember_me(store: Store, account_id: str, ttl_s: float) -> str:
    """Store a ``remember_me`` row for *account_id* living *ttl_s* seconds; the cookie's value.

    A fresh uuid is the secret: the row keeps the first 127 characters of its
    salted hash, the cookie the algorithm, salt, iterations and the uuid itself.
    """
    checks.require(store, "impersonate:not-banned", lambda: not is_banned(store, account_id), JsError("user is banned"))
    session_id = str(uuid.uuid4())
    hashed = password_hash(session_id)
    algorithm, salt, iterations, _ = hashed.split("$")
    store.query(
        "INSERT INTO remember_me (hash, expire, account_id) VALUES(:h::TEXT, :e::TIMESTAMP, :a::UUID)",
        h=hashed[:127],
        e=utcnow() + datetime.timedelta(seconds=ttl_s),
        a=account_id,
    )
    return "$".join([algorithm, salt, iterations, session_id])


def _js_parse_int(text: str) -> Optional[int]:
    """JavaScript's ``parseInt(text)`` (None for NaN)."""
    match = re.match(r"[\s\ufeff\xa0]*([+-]?)(0[xX][0-9a-fA-F]+|\d+)", text)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    digits = match.group(2)
    return sign * (int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits))


def remember_me_hash(value: str) -> str:
    """The ``remember_me.hash`` a cookie value names (CoCalc's ``getRememberMeHashFromCookieValue``)."""
    parts = value.split("$")
    if len(parts) != 4:
        raise JsError("badly formatted remember_me cookie")
    algorithm, salt, count_text, secret = parts
    count = _js_parse_int(count_text) or 1
    if count > MAX_COOKIE_ITERATIONS:
        raise JsError("number of iterations invalid or too large")
    rounds = count if count >= 1 else 2 - count  # JavaScript's loop from 1 down to a count below 1
    if rounds > MAX_COOKIE_ITERATIONS + 2:  # (CoCalc would loop that long; the stand-in refuses)
        raise JsError("number of iterations invalid or too large")
    try:
        digest = _iterated_hmac(algorithm, salt, rounds, secret)
    except (ValueError, TypeError):
        raise JsError(f"Invalid digest: {algorithm}", name="TypeError") from None
    return f"{algorithm}${salt}${count}${digest}"[:127]


def account_from_remember_me(store: Store, hashed: str) -> Optional[str]:
    """The account a ``remember_me`` row of hash *hashed* signs in (``medium`` cache), else None."""
    row = cached.read(store, "medium", ("remember_me", hashed), lambda: store.one(
        "SELECT account_id, expire FROM remember_me WHERE hash = :h::CHAR(127)", h=hashed))
    if row is None:
        return None
    if checks.enforced(store, "cookie:not-banned") and is_banned(store, row["account_id"]):
        return None
    if checks.enforced(store, "cookie:unexpired") and (row["expire"] is None or row["expire"] <= utcnow()):
        return None
    return row["account_id"]

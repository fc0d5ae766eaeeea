"""How Node.js words things, for the stand-in's project calls.

CoCalc's project runs on Node, so its errors are Node's: ``fs`` failures read
``ENOENT: no such file or directory, open 'x'``, bad arguments
``TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be ...``, and
destructuring a missing options object ``Cannot destructure property 'path' of
'undefined' as it is undefined.``  Paths follow ``path.join``/``path.resolve``
and numbers print as JavaScript prints them.
"""
import errno
import math
import os
import posixpath
from typing import Any, Dict, List, Optional

from .api_common import JsError, type_error

#: libuv's wording of the errno values a project's file calls meet.
_UV_TEXT = {
    errno.ENOENT: "no such file or directory",
    errno.EEXIST: "file already exists",
    errno.EISDIR: "illegal operation on a directory",
    errno.ENOTDIR: "not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTEMPTY: "directory not empty",
    errno.EINVAL: "invalid argument",
    errno.ELOOP: "too many symbolic links encountered",
    errno.ENAMETOOLONG: "name too long",
    errno.EXDEV: "cross-device link not permitted",
    errno.EBUSY: "resource busy or locked",
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.ESRCH: "no such process",
}


def fs_error(exc: OSError, syscall: str, path: Optional[str] = None, dest: Optional[str] = None) -> JsError:
    """Node's ``Error`` for a failed ``fs`` call: ``ENOENT: no such file or directory, open 'x'``."""
    code = exc.errno or errno.EIO
    name = errno.errorcode.get(code, "EIO")
    text = f"{name}: {_UV_TEXT.get(code, os.strerror(code).lower())}, {syscall}"
    if path is not None:
        text += f" '{path}'"
        if dest is not None:
            text += f" -> '{dest}'"
    return JsError(text)


def received(value: Any) -> str:
    """How Node's argument errors describe a value (``Received type number (5)``)."""
    if value is None:
        return "Received undefined"
    if isinstance(value, list):
        return "Received an instance of Array"
    if isinstance(value, dict):
        return "Received an instance of Object"
    if isinstance(value, bool):
        shown = "true" if value else "false"
        return f"Received type boolean ({shown})"
    if isinstance(value, (int, float)):
        return f"Received type number ({number_text(value)})"
    text = str(value)
    if len(text) > 28:
        text = text[:25] + "..."
    return f"Received type string ('{text}')"


def arg_type_error(name: str, expected: str, value: Any) -> JsError:
    """``TypeError [ERR_INVALID_ARG_TYPE]: The "name" argument must be <expected>. Received ...``."""
    return JsError(f'The "{name}" argument must be {expected}. {received(value)}', name="TypeError [ERR_INVALID_ARG_TYPE]")


def destructure(args: List[Any], prop: str) -> Dict[str, Any]:
    """The options object a function destructures from its first argument (``{path, hidden}``).

    A missing or null first argument is JavaScript's TypeError naming *prop*; any
    other non-object has no properties.
    """
    first = args[0] if args else None
    if first is None:
        raise type_error(f"Cannot destructure property '{prop}' of 'undefined' as it is undefined.")
    return first if isinstance(first, dict) else {}


def reading(prop: str) -> JsError:
    """``TypeError: Cannot read properties of undefined (reading 'prop')``."""
    return type_error(f"Cannot read properties of undefined (reading '{prop}')")


def truthy(value: Any) -> bool:
    """JavaScript truthiness of a decoded JSON value."""
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def join(*parts: str) -> str:
    """``path.join``: joined with ``/`` and normalised, keeping a trailing slash; ``.`` when empty."""
    joined = "/".join(p for p in parts if p)
    if not joined:
        return "."
    normal = posixpath.normpath(joined)
    if joined.startswith("//") and not joined.startswith("///"):
        normal = normal[1:]
    return normal + "/" if joined.endswith("/") and normal != "/" else normal


def resolve(cwd: str, path: str) -> str:
    """``path.resolve(path)`` for a process whose working directory is *cwd*."""
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))


def split(path: str) -> Dict[str, str]:
    """CoCalc's ``path_split``: ``{"head", "tail"}`` around the last ``/``."""
    head, _, tail = path.rpartition("/")
    return {"head": head, "tail": tail}


def number_text(value: float) -> str:
    """``String(value)`` for a JavaScript number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    digits, exponent = _shortest(abs(value))
    sign = "-" if value < 0 else ""
    n = exponent + 1  # the decimal point sits after n digits
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _shortest(value: float) -> "tuple[str, int]":
    """The shortest round-trip digits of a positive float and its decimal exponent."""
    mantissa, _, exp = f"{value:.17e}".partition("e")
    for precision in range(1, 18):
        text = f"{value:.{precision - 1}e}"
        if float(text) == value:
            mantissa, _, exp = text.partition("e")
            break
    return mantissa.replace(".", "").rstrip("0") or "0", int(exp)


def js_number(value: float) -> Any:
    """A float as JSON will show it the way JavaScript does (an integral float becomes an int)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value

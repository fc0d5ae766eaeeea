"""Text for people: shortened answers, argument lists, secrets removed.

>>> brief("a  long\nanswer", 8)
'a lon...'
>>> format_args(("x",), {"limit": 5})
"'x', limit=5"
>>> redact("key sk-abc refused", "sk-abc")
'key <redacted> refused'
"""
from typing import Any, Dict, Optional, Sequence


def brief(text: str, limit: int = 120) -> str:
    """*text* on one line (runs of white space folded), at most *limit* characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def format_args(args: Sequence[Any], kwargs: Optional[Dict[str, Any]] = None) -> str:
    """A call's arguments as Python would spell them: ``'x', limit=5``."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def redact(text: str, *secrets: Optional[str]) -> str:
    """*text* with every non-empty secret replaced by ``<redacted>``, longest first."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text

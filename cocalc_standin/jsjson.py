"""``JSON.parse`` and ``JSON.stringify`` as a Node project does them.

Two differences from Python's :mod:`json` matter in answers: JavaScript prints
numbers its own way (``1.0`` is ``1``, ``1e5`` is ``100000``) and puts
integer-like keys of an object first, in ascending order; and V8 words parse
errors differently (``Expected property name or '}' in JSON at position 1``).
"""
import json
import re
from typing import Any, List

from .api_common import JsError
from .node import number_text

#: Characters of context V8 quotes around an unexpected token in a long text.
_CONTEXT = 10
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


#: The literals V8 reads letter by letter once it sees their first letter.
_LITERALS = {"n": "null", "t": "true", "f": "false"}


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse(text: Any) -> Any:
    """``JSON.parse(text)``; a malformed text raises V8's ``SyntaxError``."""
    source = "undefined" if text is None else text if isinstance(text, str) else json.dumps(text)
    try:
        return json.loads(source, parse_constant=_reject_constant)
    except ValueError as err:
        raise JsError(_v8_message(source, err), name="SyntaxError") from None


def _v8_message(source: str, err: ValueError) -> str:
    if not isinstance(err, json.JSONDecodeError):  # NaN, Infinity: a token JSON does not have
        pos = source.find(str(err)[0])
        return _unexpected_token(source, max(pos, 0))
    pos, why = err.pos, err.msg
    if why == "Expecting value":
        if not source[pos:].strip():
            return "Unexpected end of JSON input"
        literal = _LITERALS.get(source[pos], "")
        while literal and pos < len(source) and source[pos] == literal[0]:  # V8 reads a literal's letters first
            pos, literal = pos + 1, literal[1:]
        if pos >= len(source):
            return "Unexpected end of JSON input"
        return _unexpected_token(source, pos)
    if pos >= len(source):
        return "Unexpected end of JSON input"
    if why.startswith("Expecting property name"):
        return f"Expected property name or '}}' in JSON at position {pos}"
    if why == "Expecting ':' delimiter":
        return f"Expected ':' after property name in JSON at position {pos}"
    if why == "Expecting ',' delimiter":
        inside = "'}' after property value" if _innermost(source, pos) == "{" else "']' after array element"
        return f"Expected ',' or {inside} in JSON at position {pos}"
    if why.startswith("Unterminated string"):
        return f"Unterminated string in JSON at position {len(source)}"
    if why.startswith("Invalid control character"):
        return f"Bad control character in string literal in JSON at position {pos}"
    if why.startswith("Invalid \\escape") or why.startswith("Invalid \\uXXXX"):
        return f"Bad escaped character in JSON at position {pos}"
    if why == "Extra data":
        return f"Unexpected non-whitespace character after JSON at position {pos}"
    return _unexpected_token(source, pos)


def _unexpected_token(source: str, pos: int) -> str:
    if source == "undefined":
        return '"undefined" is not valid JSON'
    if len(source) <= 2 * _CONTEXT + 1:
        shown = source
    else:
        start, end = max(0, pos - _CONTEXT), min(len(source), pos + _CONTEXT)
        shown = ("..." if start else "") + source[start:end] + ("..." if end < len(source) else "")
    return f"Unexpected token '{source[pos]}', \"{shown}\" is not valid JSON"


def _innermost(source: str, pos: int) -> str:
    """The bracket (``{`` or ``[``) enclosing *pos*, strings skipped."""
    stack: List[str] = []
    in_string = escaped = False
    for char in source[:pos]:
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def stringify(value: Any) -> str:
    """``JSON.stringify(value)``: compact, JavaScript's numbers and key order."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = number_text(value)
        return "null" if text in ("NaN", "Infinity", "-Infinity") else text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = list(value)
        indices = sorted((k for k in keys if _ARRAY_INDEX.fullmatch(k) and int(k) < 2**32 - 1), key=int)
        ordered = indices + [k for k in keys if k not in set(indices)]
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + stringify(value[k]) for k in ordered) + "}"
    return json.dumps(value, ensure_ascii=False)

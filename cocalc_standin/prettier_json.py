"""Prettier's formatting of JSON (parser ``json``), which ``editor.formatterString`` answers.

CoCalc's project formats with the prettier library it bundles.  This module
models what prettier makes of JSON, as measured on a real CoCalc:

* a value that fits in ``printWidth`` (80) columns stays on one line, objects
  with a space inside the braces (``{ "a": 1 }``); what does not fit breaks,
  one entry per line, indented by ``tabWidth`` (2);
* an object whose first key is on a new line in the input stays broken, and so
  do the objects and arrays around it; an array of two or more objects (or of
  two or more arrays), each with two or more entries, always breaks;
* arrays of numbers fill their lines;
* one blank line between entries is kept (it breaks an object, or an array of
  numbers);
* strings keep their quotes and escapes, numbers are normalised (``1.50`` is
  ``1.5``, ``1E+05`` is ``1e5``, ``.5`` is ``0.5``), keys that are numbers or
  names get double quotes, trailing commas go, and the text ends with a newline
  (an empty text stays empty);
* invalid input is babel's ``SyntaxError`` with the position and a code frame.

Not modelled (answered as an unexpected token): comments, single-quoted
strings, array holes and template literals.
"""
import json
import re
import unicodedata
from typing import Any, Dict, List, Optional, Tuple, Union

from .api_common import JsError

Doc = Union[str, list, "_Group", "_Indent", "_Line", "_Fill"]

_SPACE = " \t\n\r\v\f\u00a0\ufeff\u2028\u2029"
_NEWLINES = re.compile(r"\r\n|[\n\r\u2028\u2029]")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BAD_EXPONENT = re.compile(r"(?:\d+\.?\d*|\.\d+)[eE](?![+-]?\d)")
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
#: Names JSON values may be besides numbers and strings.
_LITERALS = ("true", "false", "null", "Infinity", "NaN", "undefined")


# --------------------------------------------------------------------- parsing


class _Node:
    """A piece of the parsed JSON: its kind, its raw text or children, and where it ends."""

    def __init__(self, kind: str, start: int, end: int = 0, raw: str = "", children: Optional[list] = None):
        self.kind, self.start, self.end, self.raw = kind, start, end, raw
        self.children: list = children if children is not None else []


class _Parser:
    """A recursive-descent JSON parser that fails the way babel (as prettier uses it) does."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, message: str, at: Optional[int] = None, length: int = 1) -> JsError:
        return JsError(syntax_error_text(self.text, message, self.pos if at is None else at, length), name="SyntaxError")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def document(self) -> Optional[_Node]:
        self.skip()
        if self.pos == len(self.text):
            return None
        value = self.value()
        self.skip()
        if self.pos < len(self.text):
            raise self.fail(
                "The input should contain exactly one expression, but the first expression is followed by "
                f"the unexpected character `{self.peek()}`."
            )
        return value

    def value(self) -> _Node:
        char = self.peek()
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char == '"':
            return self.string()
        if char in "+-":
            start = self.pos
            self.pos += 1
            self.skip()
            if not (self.peek() and (self.peek().isdigit() or self.peek() == "." or _NAME.match(self.text, self.pos))):
                raise self.fail("Unexpected token")
            return _Node("unary", start, raw=char, children=[self.value()])
        if char.isdigit() or (char == "." and self.text[self.pos + 1:self.pos + 2].isdigit()):
            return self.number()
        name = _NAME.match(self.text, self.pos)
        if name:
            if name.group() not in _LITERALS:
                raise self.fail(f"Identifier '{name.group()}' is not allowed in JSON.", length=len(name.group()))
            self.pos = name.end()
            return _Node("literal", name.start(), name.end(), name.group())
        raise self.fail("Unexpected token")

    def number(self) -> _Node:
        if _BAD_EXPONENT.match(self.text, self.pos):
            raise self.fail("Floating-point numbers require a valid exponent after the 'e'.")
        found = _NUMBER.match(self.text, self.pos)
        self.pos = found.end()
        return _Node("number", found.start(), found.end(), found.group())

    def string(self) -> _Node:
        start = self.pos
        self.pos += 1
        while True:
            char = self.peek()
            if char == "" or char in "\n\r":
                raise self.fail("Unterminated string constant.", at=start)
            self.pos += 2 if char == "\\" else 1
            if char == '"':
                return _Node("string", start, self.pos, self.text[start:self.pos])

    def key(self) -> _Node:
        char = self.peek()
        if char == '"':
            return self.string()
        if char.isdigit() or char == ".":
            node = self.number()
        else:
            name = _NAME.match(self.text, self.pos)
            if not name:
                raise self.fail("Unexpected token")
            self.pos = name.end()
            node = _Node("name", name.start(), name.end(), name.group())
        return _Node("string", node.start, node.end, '"' + node.raw + '"')

    def object(self) -> _Node:
        node = _Node("object", self.pos)
        self.pos += 1
        self.skip()
        while self.peek() != "}":
            key = self.key()
            self.skip()
            if self.peek() != ":":
                raise self.fail("Unexpected token")
            self.pos += 1
            self.skip()
            value = self.value()
            node.children.append(_Node("property", key.start, value.end, children=[key, value]))
            if not self.separator("}"):
                break
        self.pos += 1
        node.end = self.pos
        return node

    def array(self) -> _Node:
        node = _Node("array", self.pos)
        self.pos += 1
        self.skip()
        while self.peek() != "]":
            node.children.append(self.value())
            if not self.separator("]"):
                break
        self.pos += 1
        node.end = self.pos
        return node

    def separator(self, closing: str) -> bool:
        """After an entry: a comma (True: more may follow) or *closing* (False); else babel's error."""
        self.skip()
        if self.peek() == ",":
            self.pos += 1
            self.skip()
            return self.peek() != closing
        if self.peek() != closing:
            raise self.fail('Unexpected token, expected ","')
        return False


def syntax_error_text(text: str, message: str, pos: int, length: int = 1) -> str:
    """babel's message with ``(line:column)`` and its code frame (two lines above, three below)."""
    line_starts = [0] + [m.end() for m in _NEWLINES.finditer(text)]
    line = max(i for i, start in enumerate(line_starts) if start <= pos) + 1
    column = pos - line_starts[line - 1] + 1
    lines = _NEWLINES.split(text)
    first, last = max(line - 3, 0), min(len(lines), line + 3)
    width = len(str(last))
    frame = []
    for number in range(first + 1, last + 1):
        source = lines[number - 1]
        gutter = f" {str(number).rjust(width)} |"
        frame.append((">" if number == line else " ") + gutter + (" " + source if source else ""))
        if number == line:
            spacing = "".join(c if c == "\t" else " " for c in source[: column - 1])
            frame.append(" " + re.sub(r"\d", " ", gutter) + " " + spacing + "^" * max(length, 1))
    return f"{message} ({line}:{column})\n" + "\n".join(frame)


# ------------------------------------------------------------------------ docs


class _Group:
    def __init__(self, contents: Doc, should_break: bool = False):
        self.contents = contents
        self.broken = should_break


class _Indent:
    def __init__(self, contents: Doc):
        self.contents = contents


class _Line:
    def __init__(self, kind: str):
        self.kind = kind  # "line" (a space when flat), "soft" (nothing when flat) or "hard"


class _Fill:
    def __init__(self, parts: List[Doc]):
        self.parts = parts


LINE, SOFT, HARD = _Line("line"), _Line("soft"), _Line("hard")


def _propagate(doc: Doc) -> bool:
    """Break every group that holds a hard line or a broken group; whether *doc* holds one."""
    if isinstance(doc, _Line):
        return doc.kind == "hard"
    if isinstance(doc, list):
        return any([_propagate(part) for part in doc])
    if isinstance(doc, _Fill):
        return any([_propagate(part) for part in doc.parts])
    if isinstance(doc, _Indent):
        return _propagate(doc.contents)
    if isinstance(doc, _Group):
        doc.broken = _propagate(doc.contents) or doc.broken
        return doc.broken
    return False


def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_FLAT, _BREAK = "flat", "break"
_Command = Tuple[int, str, Doc]


def _fits(command: _Command, rest: List[_Command], width: int, must_be_flat: bool = False) -> bool:
    """Whether *command*, and what follows it up to the next line break, fits in *width* columns."""
    pending = [command]
    rest_index = len(rest)
    while width >= 0:
        if not pending:
            if rest_index == 0:
                return True
            rest_index -= 1
            pending.append(rest[rest_index])
            continue
        indent, mode, doc = pending.pop()
        if isinstance(doc, str):
            width -= _width(doc)
        elif isinstance(doc, list):
            pending.extend((indent, mode, part) for part in reversed(doc))
        elif isinstance(doc, _Fill):
            pending.extend((indent, mode, part) for part in reversed(doc.parts))
        elif isinstance(doc, _Indent):
            pending.append((indent, mode, doc.contents))
        elif isinstance(doc, _Group):
            if must_be_flat and doc.broken:
                return False
            pending.append((indent, _BREAK if doc.broken else mode, doc.contents))
        elif isinstance(doc, _Line):
            if mode == _BREAK or doc.kind == "hard":
                return True
            if doc.kind == "line":
                width -= 1
    return False


def render(doc: Doc, print_width: int = 80, indent_unit: str = "  ", unit_width: int = 2) -> str:
    """Lay *doc* out in *print_width* columns, indenting by *indent_unit* (*unit_width* columns)."""
    _propagate(doc)
    out: List[str] = []
    column = 0
    stack: List[_Command] = [(0, _BREAK, doc)]
    while stack:
        indent, mode, item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            column += _width(item)
        elif isinstance(item, list):
            stack.extend((indent, mode, part) for part in reversed(item))
        elif isinstance(item, _Indent):
            stack.append((indent + 1, mode, item.contents))
        elif isinstance(item, _Group):
            if mode == _FLAT and not item.broken:
                stack.append((indent, _FLAT, item.contents))
            elif not item.broken and _fits((indent, _FLAT, item.contents), stack, print_width - column):
                stack.append((indent, _FLAT, item.contents))
            else:
                stack.append((indent, _BREAK, item.contents))
        elif isinstance(item, _Fill):
            _fill_step(item, indent, mode, stack, print_width - column)
        elif isinstance(item, _Line):
            if mode == _FLAT and item.kind != "hard":
                if item.kind == "line":
                    out.append(" ")
                    column += 1
                continue
            while out and out[-1].endswith((" ", "\t")):
                out[-1] = out[-1].rstrip(" \t")
            out.append("\n" + indent_unit * indent)
            column = unit_width * indent
    return "".join(out)


def _fill_step(fill: _Fill, indent: int, mode: str, stack: List[_Command], width: int) -> None:
    """Prettier's fill: each content flat if it fits, a separator broken when the next content would not."""
    parts = fill.parts
    if not parts:
        return
    content_flat = (indent, _FLAT, parts[0])
    content_fits = _fits(content_flat, [], width, True)
    if len(parts) == 1:
        stack.append(content_flat if content_fits else (indent, _BREAK, parts[0]))
        return
    separator = parts[1]
    if len(parts) == 2:
        if content_fits:
            stack.extend([(indent, _FLAT, separator), content_flat])
        else:
            stack.extend([(indent, _BREAK, separator), (indent, _BREAK, parts[0])])
        return
    remaining = (indent, mode, _Fill(parts[2:]))
    pair_fits = _fits((indent, _FLAT, [parts[0], separator, parts[2]]), [], width, True)
    if pair_fits:
        stack.extend([remaining, (indent, _FLAT, separator), content_flat])
    elif content_fits:
        stack.extend([remaining, (indent, _BREAK, separator), content_flat])
    else:
        stack.extend([remaining, (indent, _BREAK, separator), (indent, _BREAK, parts[0])])


# -------------------------------------------------------------------- printing


def normalize_number(raw: str) -> str:
    """A number as prettier prints it: lower case, no needless ``+``, zeros, dots or exponent."""
    text = raw.lower()
    text = re.sub(r"^([+-]?[\d.]+e)(?:\+|(-))?0*(\d)", lambda m: m.group(1) + (m.group(2) or "") + m.group(3), text)
    text = re.sub(r"^([+-]?[\d.]+)e[+-]?0+$", r"\1", text)
    text = re.sub(r"^([+-])?\.", lambda m: (m.group(1) or "") + "0.", text)
    text = re.sub(r"(\.\d+?)0+(?=e|$)", r"\1", text)
    return re.sub(r"\.(?=e|$)", "", text)


def _next_line_empty(text: str, index: int) -> bool:
    """Whether a blank line follows the line on which an entry ending at *index* ends."""
    while index < len(text) and text[index] in ",; \t":
        index += 1
    if text.startswith("\r\n", index):
        index += 2
    elif index < len(text) and text[index] in "\n\r\u2028\u2029":
        index += 1
    else:
        return False
    while index < len(text) and text[index] in " \t":
        index += 1
    return index < len(text) and text[index] in "\n\r\u2028\u2029"


class _Printer:
    def __init__(self, text: str, bracket_spacing: bool):
        self.text = text
        self.inner = LINE if bracket_spacing else SOFT

    def doc(self, node: _Node) -> Doc:
        if node.kind in ("string", "literal"):
            return node.raw
        if node.kind == "number":
            return normalize_number(node.raw)
        if node.kind == "unary":
            return [node.raw, self.doc(node.children[0])]
        if node.kind == "object":
            return self.object(node)
        return self.array(node)

    def _entries(self, entries: List[_Node], separator: Any) -> List[Doc]:
        parts: List[Doc] = []
        for i, entry in enumerate(entries):
            parts.append(self.doc(entry) if entry.kind != "property" else self.property(entry))
            if i < len(entries) - 1:
                parts.append(separator(entry))
        return parts

    def property(self, node: _Node) -> Doc:
        key, value = node.children
        return [key.raw, ": ", self.doc(value)]

    def object(self, node: _Node) -> Doc:
        if not node.children:
            return "{}"
        first_on_new_line = bool(_NEWLINES.search(self.text, node.start, node.children[0].start))
        parts = self._entries(
            node.children, lambda e: [",", LINE, HARD] if _next_line_empty(self.text, e.end) else [",", LINE]
        )
        return _Group(["{", _Indent([self.inner] + parts), self.inner, "}"], first_on_new_line)

    def array(self, node: _Node) -> Doc:
        items = node.children
        if not items:
            return "[]"
        if len(items) > 1 and all(_is_number(item) for item in items):
            parts: List[Doc] = []
            for i, item in enumerate(items):
                last = i == len(items) - 1
                parts.append([self.doc(item), "" if last else ","])
                if not last:
                    parts.append([HARD, HARD] if _next_line_empty(self.text, item.end) else LINE)
            return _Group(["[", _Indent([SOFT, _Fill(parts)]), SOFT, "]"])
        kinds = {item.kind for item in items}
        always_break = len(items) > 1 and len(kinds) == 1 and kinds <= {"object", "array"} and all(
            len(item.children) > 1 for item in items
        )
        parts = self._entries(items, lambda e: [",", LINE, SOFT if _next_line_empty(self.text, e.end) else ""])
        return _Group(["[", _Indent([SOFT] + parts), SOFT, "]"], always_break)


def _is_number(node: _Node) -> bool:
    return node.kind == "number" or (node.kind == "unary" and node.children[0].kind == "number")


def format_json(text: str, options: Dict[str, Any]) -> str:
    """``prettier.format(text, {parser: "json", ...})``: the formatted text, or babel's SyntaxError."""
    width, tab_width = _integer(options, "printWidth", 80), _integer(options, "tabWidth", 2)
    tree = _Parser(text).document()
    if tree is None:
        return ""
    unit = "\t" if options.get("useTabs") is True else " " * tab_width
    printer = _Printer(text, options.get("bracketSpacing") is not False)
    return render([printer.doc(tree), HARD], width, unit, tab_width)


def _integer(options: Dict[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JsError(f"Invalid {name} value. Expected an integer, but received {json.dumps(value)}.")
    return value


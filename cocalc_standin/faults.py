"""Faults the stand-in makes on request, one at a time, to measure which server bugs the suite catches.

``COCALC_STANDIN_FAULT=<call>:<kind>`` (read once when the stand-in starts;
``python -m cocalc_standin faults`` lists every id) breaks one thing of one safe
call, every time that call is made; with no fault the stand-in is unchanged.
A call is its CoCalc name (``projects.createProject``, a hub call) or, for a
call of a project's API, ``project:`` and its name (``project:system.exec``).

The table is generated, never written fault by fault: the calls are the
client's (:func:`cocalc_api_tests.client.remote_calls` of the hub and of a
project, which offers exactly the 78 safe calls: never the 7 of
:data:`UNSAFE`); the options each call reads, in order, come from calling
each client method with stand-in values and recording what it sends; the form
of its answer from the method's return annotation.  Per call, the four kinds:

* ``effect``: the call answers as on success, but what it changes is undone or
  never done — it runs in a *sandbox*: its database statements inside a
  transaction that is rolled back, the project folders it reads or writes
  replaced by scratch copies that are thrown away, project processes neither
  started nor stopped (``projects.start``/``stop``/``touch``, and the restart
  behind ``setQuotas``), signals sent as signal 0 (which checks the process and
  delivers nothing), Jupyter kernels not stopped (``stopJupyterKernel`` answers
  whether it would have), terminals started in a throwaway session.  A pure
  read has no effect to skip (:data:`PURE_READS` says why for each);
* ``empty``: a successful answer replaced by the empty value of its type
  (``{}``, ``[]``, ``""``, ``0``, ``false``); an answer that is already empty,
  or ``null``, by another empty form (``null``, then ``{}``, ``[]``, ``""``);
* ``field``: one field of a successful answer wrong: the first field (depth
  first: of the answer, of its first element, of a nested object; null fields
  skipped), or the answer itself when it is a scalar: a number off by one
  (a timestamp an hour early), a string with ``~`` appended (a UUID another
  UUID, an ISO time an hour early), a boolean negated;
* ``arg``: one argument ignored: the first option the client sends in
  ``args[0]`` (in an ``opts`` object, its first key) is removed, or a
  positional argument is left out.

Where a kind does not apply to a call (a pure read has no effect, a ``null``
answer no field, a call without options no argument), the table says why and
the call gets a substitute instead, the first of these that applies and it
does not have yet, so every call has four faults:

* ``field2``: the second field wrong (as ``field``);
* ``arg2``: the second option ignored (as ``arg``);
* ``empty2``: the answer replaced by the next empty form (after ``empty``'s);
* ``drop``: the first field of an object answer (or the first element of a
  list answer) missing;
* ``type``: the first field (or the scalar answer) of another JSON type: a
  number as its decimal string, a boolean as 0/1, a string inside a list,
  ``null`` as ``false``.

Answers that are errors are never changed (``arg`` changes the request, so it
may turn an error into a success or the other way).  The stand-in counts the
calls a fault matched and those it changed; ``python -m cocalc_standin run``
prints them at the end (``fault <id>: changed N of M calls``), so a fault that
never changed anything (its call was never made, or only failed) is told apart
from one the suite let pass.

:data:`INVISIBLE` names the faults the suite cannot catch, each with why (what the
API cannot show, or why the call cannot succeed on the stand-in); it is written by
hand, but names only faults of the generated table (``selftests/test_faults.py``).
"""
import contextlib
import copy
import dataclasses
import datetime
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import traceback
import typing
import uuid
from collections import abc
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

#: The environment variable that selects a fault.
ENV = "COCALC_STANDIN_FAULT"
#: The four kinds every call has, unless one does not apply.
PRIMARY = ("effect", "empty", "field", "arg")
#: What stands in, in this order, for a kind that does not apply.
SUBSTITUTES = ("field2", "arg2", "empty2", "drop", "type")
KINDS = PRIMARY + SUBSTITUTES

#: The calls an API key can reach that no suite may make (selftests/test_suite_e2e.py holds the same 7).
UNSAFE = frozenset({
    ("hub", "system.terminate"), ("hub", "system.sendEmailVerification"), ("hub", "system.deletePassport"),
    ("hub", "system.adminSalesloftSync"), ("hub", "system.userSalesloftSync"),
    ("hub", "projects.inviteCollaboratorWithoutAccount"), ("project", "system.terminate"),
})

#: Calls whose success changes nothing another call can see: ``effect`` does not apply.
PURE_READS: Dict[Tuple[str, str], str] = {
    ("hub", "db.fileUseTimes"): "it reads file-use times",
    ("hub", "db.getLegacyTimeTravelInfo"): "it reads a legacy time-travel record",
    ("hub", "db.getLegacyTimeTravelPatches"): "it reads legacy time-travel patches",
    ("hub", "jupyter.kernels"): "it lists kernel specs",
    ("hub", "messages.get"): "it reads messages",
    ("hub", "org.get"): "it reads an organization",
    ("hub", "org.getAll"): "it lists organizations",
    ("hub", "org.getUsers"): "it lists an organization's users",
    ("hub", "projects.state"): "it reports the project's state (what it saves is the state it reports)",
    ("hub", "projects.status"): "it reports the project's process (what it saves is the status it reports)",
    ("hub", "purchases.getBalance"): "it reads the balance",
    ("hub", "purchases.getMinBalance"): "it reads the minimum balance",
    ("hub", "sync.history"): "it reads an editing history",
    ("hub", "system.getCustomize"): "it reads the site's settings",
    ("hub", "system.getNames"): "it reads account names",
    ("hub", "system.ping"): "it reads the clock",
    ("hub", "system.test"): "it reports the key's scope",
    ("hub", "system.userSearch"): "it searches accounts",
    ("project", "editor.formatterString"): "it formats the text it is given",
    ("project", "editor.jupyterKernelLogo"): "it reads a kernel's logo",
    ("project", "editor.jupyterKernels"): "it lists kernel specs",
    ("project", "editor.jupyterRunNotebook"): "it answers the notebook it ran (its scratch files are removed)",
    ("project", "editor.jupyterStripNotebook"): "it answers the stripped notebook",
    ("project", "sync.close"): "it is a no-op in CoCalc's project",
    ("project", "system.canonicalPaths"): "it resolves paths",
    ("project", "system.configuration"): "it reports the project's tools",
    ("project", "system.listJupyterKernels"): "it lists running kernels",
    ("project", "system.listing"): "it lists a folder",
    ("project", "system.ping"): "it reads the clock",
    ("project", "system.readTextFileFromProject"): "it reads a file",
    ("project", "system.realpath"): "it resolves a path",
    ("project", "system.test"): "it reports the project's id",
    ("project", "system.version"): "it reads the version",
}
#: Calls whose effect the sandbox cannot hold back without losing the answer: ``effect`` does not apply.
UNSANDBOXED: Dict[Tuple[str, str], str] = {
    ("hub", "jupyter.execute"): "its effects (the kernel's state, the cache row saved from a background thread) "
                                "cannot be held back while it still answers",
    ("project", "system.jupyterExecute"): "its effect is the kernel's state, which the answer needs",
}
#: Object answers with a single field: ``field2`` does not apply.
SINGLE_FIELD = frozenset({
    ("hub", "system.ping"), ("project", "system.ping"), ("hub", "db.getLegacyTimeTravelInfo"),
    ("project", "system.stopJupyterKernel"), ("hub", "projects.addCollaborator"),
})
#: Options of calls whose client method takes free keyword arguments (``webapp_error(**fields)``).
OPTIONS: Dict[Tuple[str, str], Tuple[Tuple[Any, ...], ...]] = {
    ("hub", "system.webappError"): ((0, "message"), (0, "name")),
}

_NO_ARCHIVE = (
    "without an archived history CoCalc answers {uuid: ''} for any project and path, before it checks anything "
    "(server/conat/api/db.ts getLegacyTimeTravelInfo), and only CoCalc's own maintenance archives a history "
    "(syncstrings.archived, set by database/postgres/blobs.ts archivePatches; db.userQuery's set form does not take "
    "it): no call can get an answer that depends on the project or the path"
)
_NO_BLOB = (
    "a successful answer is the text of a stored blob, and the suite stores none: the ways to store one "
    "(db.userQuery's blobs set, the hub's POST /blobs upload) write a blobs row the suite's cleanup does not remove "
    "(blobs are content-addressed and may be shared: cocalc_api_tests/db.py), and the stand-in offers neither; so "
    "every call the suite makes fails, and there is no answer to change"
)
_NO_TOOL = (
    "the stand-in's projects have no {program} (their PATH starts with the stand-in's Python environment, whose "
    "standin extra in setup.cfg brings jupyter_client and ipykernel, nothing more), so {test} skips, as on a real "
    "project without the tool, and the call never succeeds on the stand-in"
)
_NO_NBCONVERT = _NO_TOOL.format(program="jupyter-nbconvert", test="test_editor's test_nbconvert_writes_a_script")
_NO_SAGE = _NO_TOOL.format(program="smc-sagews2pdf (Sage)", test="test_editor's test_print_sage_worksheet")
#: Faults the suite cannot catch, each with why: what the API cannot show, or why the call cannot succeed on the
#: stand-in.  ``selftests/mutation.py`` lists a fault named here that it misses apart, with this reason, and one it
#: catches as a reason that no longer holds.  A reason says what is missing; it never stands in for a test.
INVISIBLE: Dict[str, str] = {
    "db.getLegacyTimeTravelInfo:arg": _NO_ARCHIVE,
    "db.getLegacyTimeTravelInfo:arg2": _NO_ARCHIVE,
    "db.getLegacyTimeTravelPatches:empty": _NO_BLOB,
    "db.getLegacyTimeTravelPatches:empty2": _NO_BLOB,
    "db.getLegacyTimeTravelPatches:field": _NO_BLOB,
    "db.removeBlobTtls:effect": (
        "what it changes is a blob's expire, which only a blob with a TTL shows, and the suite stores no blob (see "
        "db.getLegacyTimeTravelPatches:field): its update of the ids the suite can name matches no row, so skipping "
        "it changes no row; PostgreSQL counts the update's scan of blobs even when it is rolled back, and that scan "
        "is all the test can see"
    ),
    "project:sync.close:arg": (
        "CoCalc's project ignores the path (src/packages/project/conat/api/sync.ts only logs it) and answers null: "
        "a path left out changes neither the answer nor anything in the project"
    ),
    "project:system.version:field": (
        "the project's build time is told by this call alone (no other call answers it: getCustomize's version holds "
        "the site's minimum versions), and an hour earlier is as good a build time as the right one; the test checks "
        "an integer between 2015 and now, the same on a second call"
    ),
    "project:editor.jupyterNbconvert:effect": _NO_NBCONVERT,
    "project:editor.jupyterNbconvert:empty": _NO_NBCONVERT,
    "project:editor.jupyterNbconvert:arg2": _NO_NBCONVERT,
    "project:editor.printSageWS:effect": _NO_SAGE,
    "project:editor.printSageWS:empty": _NO_SAGE,
    "project:editor.printSageWS:field": _NO_SAGE,
}

Option = Tuple[Any, ...]  # (position, key, key...): args[position][key][key]...


class FaultError(Exception):
    """A fault id that names no fault; ``str()`` says why and where the list is."""


@dataclasses.dataclass(frozen=True)
class CallSpec:
    """What the fault table knows of one safe call."""

    endpoint: str  # "hub" or "project"
    call: str
    answer: str  # "null", "object", "list" or "scalar"
    options: Tuple[Option, ...]  # what the client sends, in its order

    @property
    def label(self) -> str:
        return call_label(self.endpoint, self.call)


@dataclasses.dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` of ``call``; ``what`` it does, ``instead_of`` the primary kind it stands in for and why."""

    endpoint: str
    call: str
    kind: str
    what: str
    option: Optional[Option] = None
    instead_of: str = ""

    @property
    def id(self) -> str:
        return f"{call_label(self.endpoint, self.call)}:{self.kind}"

    @property
    def label(self) -> str:
        return call_label(self.endpoint, self.call)


@dataclasses.dataclass(frozen=True)
class Table:
    """Every fault, and each primary kind that does not apply to a call with why."""

    faults: Tuple[Fault, ...]
    not_applicable: Tuple[Tuple[str, str, str, str], ...]  # (endpoint, call, kind, why)

    def ids(self) -> List[str]:
        return [f.id for f in self.faults]

    def find(self, fault_id: str) -> Fault:
        return parse(fault_id, self)


def call_label(endpoint: str, call: str) -> str:
    """How a fault id names a call: the hub's bare, a project's with ``project:``."""
    return call if endpoint == "hub" else f"project:{call}"


# ------------------------------------------------------------------ the table


class _Opaque(dict):
    """A stand-in value of a parameter typed as an object: one option, never looked into."""


def _dummy(annotation: Any) -> Any:
    """A value of *annotation* for calling a client method without a server."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _dummy(options[0]) if options else None
    if annotation is bool:
        return True
    if annotation is int:
        return 1
    if annotation is float:
        return 1.0
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return ["x"]
    if isinstance(origin, type) and issubclass(origin, abc.Sequence) and origin is not str:
        return ["x"]
    if annotation is dict or (isinstance(origin, type) and issubclass(origin, abc.Mapping)):
        return _Opaque(x="x")
    return "x"


def _answer_form(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _answer_form(options[0]) if options else "null"
    if annotation in (str, int, float, bool):
        return "scalar"
    if isinstance(origin, type) and issubclass(origin, abc.Sequence) and origin is not str:
        return "list"
    return "object"


class _Recorder:
    """A client endpoint that only records the call it is asked to make."""

    def __init__(self) -> None:
        self.sent: List[Tuple[str, List[Any]]] = []

    def call(self, name: str, args: Optional[List[Any]] = None, timeout_ms: Optional[int] = None) -> Any:
        self.sent.append((name, list(args or [])))
        return None


def _options_sent(args: List[Any]) -> Tuple[Option, ...]:
    """Each option in *args*, in order: an object's keys (an ``opts`` object's keys), else the positional itself."""
    found: List[Option] = []
    for position, value in enumerate(args):
        if isinstance(value, dict) and not isinstance(value, _Opaque):
            for key, inner in value.items():
                if key == "opts" and isinstance(inner, dict) and not isinstance(inner, _Opaque):
                    found.extend((position, "opts", k) for k in inner)
                else:
                    found.append((position, key))
        else:
            found.append((position,))
    return tuple(found)


def _spec(endpoint: str, name: str, method: Callable) -> CallSpec:
    function = getattr(method, "__func__", method)
    hints = typing.get_type_hints(function)
    values: Dict[str, Any] = {}
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        values[parameter.name] = _dummy(hints.get(parameter.name, str))
    recorder = _Recorder()
    group = type(method.__self__)(recorder)
    getattr(group, function.__name__)(**values)
    sent = [args for call, args in recorder.sent if call == name]
    options = OPTIONS.get((endpoint, name)) or (_options_sent(sent[0]) if sent else ())
    if endpoint == "project" and name == "system.test":
        options = ()  # the bridge adds the project's id; the client sends nothing
    return CallSpec(endpoint, name, _answer_form(hints.get("return")), tuple(options))


def call_specs() -> List[CallSpec]:
    """Every safe call, from the client: ``(endpoint, name)`` order."""
    from cocalc_api_tests.client import Hub, Project, remote_calls

    clients = {"hub": Hub("sk-faults", "http://127.0.0.1:9"),
               "project": Project("sk-faults", "http://127.0.0.1:9", "00000000-0000-4000-8000-000000000000")}
    specs = []
    for endpoint, client in clients.items():
        try:
            for name, method in sorted(remote_calls(client).items()):
                if (endpoint, name) not in UNSAFE:
                    specs.append(_spec(endpoint, name, method))
        finally:
            client.close()
    return specs


def _option_text(option: Option) -> str:
    if len(option) == 1:
        return f"positional argument {option[0] + 1}"
    return "option '" + ".".join(str(k) for k in option[1:]) + "'"


def _why_not(spec: CallSpec, kind: str, have: Sequence[str]) -> Optional[str]:
    """Why *kind* does not apply to *spec* (None when it does)."""
    key = (spec.endpoint, spec.call)
    if kind in have:
        return "already one of its faults"
    if kind == "effect":
        return PURE_READS.get(key) or UNSANDBOXED.get(key)
    if kind == "field" and spec.answer == "null":
        return "it answers null: no field"
    if kind == "field2":
        if spec.answer in ("null", "scalar"):
            return f"it answers {'null' if spec.answer == 'null' else 'a scalar'}: no second field"
        if key in SINGLE_FIELD:
            return "its answer has a single field"
    if kind == "arg" and not spec.options:
        return "it takes no arguments"
    if kind == "arg2" and len(spec.options) < 2:
        return "it takes fewer than two arguments"
    if kind == "drop" and spec.answer not in ("object", "list"):
        return "its answer is no object or list"
    if kind == "type" and spec.answer not in ("scalar", "null"):
        return "only scalar and null answers change type here"
    return None


_WHAT = {
    "effect": "answers as on success; its effect is rolled back or never done (the sandbox)",
    "empty": "its answer replaced by the empty value of its type",
    "field": "the first field of its answer wrong",
    "field2": "the second field of its answer wrong",
    "empty2": "its answer replaced by the second empty form",
    "drop": "the first field (or element) of its answer missing",
    "type": "the first field (or scalar answer) of another JSON type",
}


def _fault(spec: CallSpec, kind: str, instead_of: str = "") -> Fault:
    option = None
    if kind in ("arg", "arg2"):
        option = spec.options[0 if kind == "arg" else 1]
        what = f"ignores its {_option_text(option)}"
    else:
        what = _WHAT[kind]
        if kind == "field" and spec.answer == "scalar":
            what = "its (scalar) answer wrong"
    return Fault(spec.endpoint, spec.call, kind, what, option, instead_of)


def build_table(specs: Optional[List[CallSpec]] = None) -> Table:
    """The fault table: four faults per safe call (a substitute for each primary kind that does not apply)."""
    faults: List[Fault] = []
    skipped: List[Tuple[str, str, str, str]] = []
    for spec in specs if specs is not None else call_specs():
        have: List[str] = []
        mine: List[Fault] = []
        missing: List[Tuple[str, str]] = []
        for kind in PRIMARY:
            why = _why_not(spec, kind, have)
            if why is None:
                have.append(kind)
                mine.append(_fault(spec, kind))
            else:
                missing.append((kind, why))
                skipped.append((spec.endpoint, spec.call, kind, why))
        for kind, why in missing:
            for substitute in SUBSTITUTES:
                if _why_not(spec, substitute, have) is None:
                    have.append(substitute)
                    mine.append(_fault(spec, substitute, f"{kind}: {why}"))
                    break
        faults.extend(sorted(mine, key=lambda f: KINDS.index(f.kind)))
    return Table(tuple(faults), tuple(skipped))


_TABLE: Optional[Table] = None
_TABLE_LOCK = threading.Lock()


def table() -> Table:
    """The fault table (built once per process)."""
    global _TABLE
    with _TABLE_LOCK:
        if _TABLE is None:
            _TABLE = build_table()
        return _TABLE


def parse(text: str, within: Optional[Table] = None) -> Fault:
    """The fault *text* names (``call:kind``; ``project:call:kind`` for a project's call)."""
    listing = "`python -m cocalc_standin faults` lists them"
    call, sep, kind = text.strip().rpartition(":")
    if not sep or not call:
        raise FaultError(f"{ENV}={text!r} is no fault id: it reads <call>:<kind>, e.g. projects.createProject:field; "
                         f"{listing}.")
    endpoint = "hub"
    for prefix in ("project:", "hub:"):
        if call.startswith(prefix):
            endpoint, call = prefix[:-1], call[len(prefix):]
    known = within or table()
    mine = [f for f in known.faults if (f.endpoint, f.call) == (endpoint, call)]
    if not mine:
        raise FaultError(f"{ENV}={text!r}: {call_label(endpoint, call)} is not one of the safe calls the stand-in can "
                         f"break; {listing}.")
    if kind not in KINDS:
        raise FaultError(f"{ENV}={text!r}: unknown kind {kind!r}; the kinds are {', '.join(KINDS)}.")
    for fault in mine:
        if fault.kind == kind:
            return fault
    whys = [why for e, c, k, why in known.not_applicable if (e, c, k) == (endpoint, call, kind)]
    reason = f" ({whys[0]})" if whys else ""
    raise FaultError(f"{ENV}={text!r}: kind {kind!r} does not apply to {call_label(endpoint, call)}{reason}; "
                     f"its faults are {', '.join(f.id for f in mine)}.")


def from_env(environ: Mapping[str, str]) -> Optional[Fault]:
    """The fault ``COCALC_STANDIN_FAULT`` names, or None when it is unset or empty."""
    text = environ.get(ENV, "").strip()
    return parse(text) if text else None


def describe(within: Optional[Table] = None) -> List[str]:
    """The table as text: each fault with what it does, then each kind that does not apply with why."""
    known = within or table()
    lines = [f"{f.id}\t{f.what}" + (f"\t(instead of {f.instead_of})" if f.instead_of else "") for f in known.faults]
    lines.append("")
    lines.append("kinds that do not apply:")
    lines.extend(f"{call_label(e, c)}:{k}\t{why}" for e, c, k, why in known.not_applicable)
    return lines


# ------------------------------------------------------------- changing answers


_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _is_error(answer: Any) -> bool:
    return isinstance(answer, dict) and "error" in answer


def _leaves(value: Any, path: Tuple[Any, ...] = ()) -> Iterator[Tuple[Tuple[Any, ...], Any]]:
    """``(path, value)`` of each field of an answer, depth first; null fields skipped, empty ones are fields."""
    if isinstance(value, (dict, list)):
        if not value:
            if path:
                yield path, value
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in items:
            yield from _leaves(inner, path + (key,))
    elif value is not None:
        yield path, value


def _nth_leaf(answer: Any, n: int) -> Optional[Tuple[Tuple[Any, ...], Any]]:
    for index, leaf in enumerate(_leaves(answer)):
        if index == n:
            return leaf
    return None


def _replace(answer: Any, path: Tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(answer)
    inner = changed
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return changed


def _text(value: Any) -> str:
    """The JSON the stand-in would answer for *value* (timestamps, UUIDs and decimals as it sends them)."""
    from .store import jsonable

    return json.dumps(value, default=jsonable, sort_keys=True)


def wrong(value: Any) -> Any:
    """A deterministic wrong value of the same JSON type."""
    if isinstance(value, datetime.datetime):
        return value - datetime.timedelta(hours=1)
    if isinstance(value, uuid.UUID):
        return uuid.uuid5(uuid.NAMESPACE_OID, str(value))
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        if abs(value) >= 10 ** 12:
            return value - 3_600_000  # a timestamp in ms, an hour early
        if abs(value) >= 10 ** 9:
            return value - 3600  # in seconds
        return value + 1
    if isinstance(value, str):
        if _UUID.match(value):
            return str(uuid.uuid5(uuid.NAMESPACE_OID, value))
        if _ISO.match(value):
            moment = datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S") - datetime.timedelta(hours=1)
            return moment.strftime("%Y-%m-%dT%H:%M:%S") + value[19:]
        return value + "~"
    if isinstance(value, list):
        return ["~"]
    if isinstance(value, dict):
        return {"~": "~"}
    return "~"


def retyped(value: Any) -> Any:
    """*value* as another JSON type."""
    if isinstance(value, datetime.datetime):
        return int(value.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, (str, uuid.UUID)):
        return [value]
    if isinstance(value, list):
        return {}
    if isinstance(value, dict):
        return []
    return False


def _empty_forms(answer: Any) -> List[Any]:
    typed: Any = None
    if isinstance(answer, bool):
        typed = False
    elif isinstance(answer, (int, float)):
        typed = 0
    elif isinstance(answer, str):
        typed = ""
    elif isinstance(answer, list):
        typed = []
    elif isinstance(answer, dict):
        typed = {}
    forms: List[Any] = []
    for form in (typed, None, {}, [], ""):
        text = _text(form)
        if text != _text(answer) and text not in (_text(f) for f in forms):
            forms.append(form)
    return forms


def change_answer(kind: str, answer: Any) -> Tuple[Any, bool]:
    """The answer with fault *kind*, and whether it changed (errors never change)."""
    if _is_error(answer):
        return answer, False
    if kind in ("empty", "empty2"):
        return _empty_forms(answer)[0 if kind == "empty" else 1], True
    if kind in ("field", "field2", "type"):
        if kind == "type" and answer is None:
            return False, True
        leaf = _nth_leaf(answer, 1 if kind == "field2" else 0)
        if leaf is None:
            return answer, False
        path, value = leaf
        return _replace(answer, path, retyped(value) if kind == "type" else wrong(value)), True
    if kind == "drop":
        if isinstance(answer, dict) and answer:
            changed = dict(answer)
            del changed[next(iter(changed))]
            return changed, True
        if isinstance(answer, list) and answer:
            return answer[1:], True
    return answer, False


def without(args: Any, option: Option) -> Tuple[Any, bool]:
    """*args* with *option* left out, and whether it was there."""
    if not isinstance(args, list) or option[0] >= len(args):
        return args, False
    changed = copy.deepcopy(args)
    position = option[0]
    if len(option) == 1:
        if position == len(changed) - 1:
            changed.pop()
        else:
            changed[position] = None
        return changed, True
    inner = changed[position]
    for key in option[1:-1]:
        inner = inner.get(key) if isinstance(inner, dict) else None
    if not isinstance(inner, dict) or option[-1] not in inner:
        return args, False
    del inner[option[-1]]
    return changed, True


# ------------------------------------------------------------------ the sandbox


class _Rollback:
    """Routes the store's statements made in a sandboxed thread into one transaction, rolled back at its end.

    Installed only while an ``effect`` fault is active: it replaces the store's
    ``query`` (``one`` goes through it) by one that uses the thread's
    transaction when there is one.  Each statement runs under a savepoint, so a
    failed statement the caller catches leaves the transaction usable, as
    autocommit does.
    """

    def __init__(self, store: Any):
        self._store = store
        self._local = threading.local()
        self._query = store.query
        store.query = self._routed

    def _routed(self, sql: str, **params: Any) -> List[Dict[str, Any]]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return self._query(sql, **params)
        import pg8000.native

        from .store import DatabaseFailure, plain

        conn.run("SAVEPOINT standin_fault")
        try:
            rows = conn.run(sql, **params)
            names = [c["name"] for c in (conn.columns or [])]
        except pg8000.native.DatabaseError as err:
            conn.run("ROLLBACK TO SAVEPOINT standin_fault")
            detail = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
            raise DatabaseFailure(detail.get("M", str(err))) from None
        conn.run("RELEASE SAVEPOINT standin_fault")
        return [{n: plain(v) for n, v in zip(names, row)} for row in rows or []]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._store._take()
        healthy = True
        try:
            conn.run("BEGIN")
            self._local.conn = conn
            yield
        finally:
            self._local.conn = None
            try:
                conn.run("ROLLBACK")
            except Exception:  # a broken connection: the pool drops it
                healthy = False
            self._store._give(conn, healthy)


class _SandboxKernels:
    """A project's kernels, but stopping one only says whether it would have been stopped."""

    def __init__(self, real: Any):
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def stop_kernel(self, pid: Any) -> bool:
        return any(kernel["pid"] == pid for kernel in self._real.list_kernels())


class _SandboxRuntime:
    """A running project as a sandboxed call sees it: its scratch home in the environment, a throwaway ``state``."""

    def __init__(self, real: Any, real_home: str, home: str):
        self._real = real
        self.env = {k: v.replace(real_home, home) for k, v in real.env.items()}
        self.state: Dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def close(self) -> None:
        for value in list(self.state.values()):
            if hasattr(value, "shutdown"):
                try:
                    value.shutdown()
                except Exception:  # a throwaway terminal that will not close is no one's error
                    pass


class _SandboxProjects:
    """The stand-in's projects as a sandboxed call sees them.

    Homes are scratch copies (made on first use, thrown away after the call),
    starting and stopping do nothing, ``touch`` only records activity (in the
    rolled-back transaction), and copies go between the scratch copies.
    """

    def __init__(self, real: Any):
        from .projects import Projects

        self._real = real
        self._class = Projects
        self._root = tempfile.mkdtemp(prefix="cocalc-standin-fault-")
        self._homes: Dict[str, str] = {}
        self._runtimes: Dict[str, _SandboxRuntime] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def home(self, project_id: str) -> str:
        if project_id not in self._homes:
            scratch = os.path.join(self._root, str(project_id).replace("/", "_"))
            source = self._real.home(project_id)
            if os.path.isdir(source):
                try:
                    shutil.copytree(source, scratch, symlinks=True)
                except shutil.Error:  # sockets, vanished files: the rest is copied
                    pass
            os.makedirs(scratch, exist_ok=True)
            self._homes[project_id] = scratch
        return self._homes[project_id]

    def start(self, project_id: str) -> None:
        return None

    def stop(self, project_id: str) -> None:
        return None

    def touch(self, project_id: str, account_id: Optional[str] = None, no_start: bool = False) -> None:
        self._class.touch(self, project_id, account_id, no_start=True)

    def copy_path(self, *args: Any, **kwargs: Any) -> None:
        self._class.copy_path(self, *args, **kwargs)

    def runtime(self, project_id: str) -> _SandboxRuntime:
        if project_id not in self._runtimes:
            real = self._real.runtime(project_id)
            self._runtimes[project_id] = _SandboxRuntime(real, self._real.home(project_id), self.home(project_id))
        return self._runtimes[project_id]

    def kernels(self, project_id: str) -> _SandboxKernels:
        return _SandboxKernels(self._real.kernels(project_id))

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.close()
        shutil.rmtree(self._root, ignore_errors=True)


class _AppView:
    """The stand-in's :class:`~.server.App` with the sandbox's projects."""

    def __init__(self, app: Any, projects: Any):
        self._app = app
        self.projects = projects

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def _effect_args(fault: Fault, args: Any) -> Any:
    """A sandboxed call's arguments: a signal becomes signal 0 (the process is checked, nothing delivered)."""
    if (fault.endpoint, fault.call) == ("project", "system.signal") and args and isinstance(args[0], dict):
        return [dict(args[0], signal=0)] + list(args[1:])
    return args


# ------------------------------------------------------------------ the hook


class Active:
    """The fault a running stand-in makes, and how often it did."""

    def __init__(self, fault: Fault, app: Any):
        self.fault = fault
        self.matched = 0
        self.changed = 0
        self._lock = threading.Lock()
        self._rollback = _Rollback(app.store) if fault.kind == "effect" else None

    def _count(self, changed: bool) -> None:
        with self._lock:
            self.matched += 1
            self.changed += int(changed)

    def run(self, app: Any, args: Any, call: Callable[[Any, Any], Any]) -> Any:
        try:
            return self._run(app, args, call)
        except Exception as err:  # a bug of the fault itself: say so (not a silent timeout), keep serving
            traceback.print_exc(file=sys.stderr)
            return {"error": f"Error: stand-in internal error in fault {self.fault.id}: {type(err).__name__}: {err}"}

    def _run(self, app: Any, args: Any, call: Callable[[Any, Any], Any]) -> Any:
        kind = self.fault.kind
        if kind in ("arg", "arg2"):
            assert self.fault.option is not None
            args, changed = without(args, self.fault.option)
            self._count(changed)
            return call(app, args)
        if kind == "effect":
            assert self._rollback is not None
            sandbox = _SandboxProjects(app.projects)
            try:
                with self._rollback.transaction():
                    answer = call(_AppView(app, sandbox), _effect_args(self.fault, args))
            finally:
                sandbox.close()
            self._count(not _is_error(answer))
            return answer
        answer, changed = change_answer(kind, call(app, args))
        self._count(changed)
        return answer

    def summary(self) -> str:
        return f"fault {self.fault.id}: changed {self.changed} of {self.matched} calls"


def install(app: Any, fault: Optional[Fault]) -> None:
    """Make *app* (a :class:`~.server.App`) make *fault* (None: none)."""
    app.fault = Active(fault, app) if fault is not None else None


def call(app: Any, endpoint: str, name: Any, args: Any, run: Callable[[Any, Any], Any]) -> Any:
    """The server's hook: ``run(app, args)``, with the active fault when it is this call's."""
    active: Optional[Active] = getattr(app, "fault", None)
    if active is None or (active.fault.endpoint, active.fault.call) != (endpoint, name):
        return run(app, args)
    return active.run(app, args, run)


def summary(app: Any) -> Optional[str]:
    """``fault <id>: changed N of M calls`` for a stand-in with a fault, else None."""
    active: Optional[Active] = getattr(app, "fault", None)
    return active.summary() if active is not None else None

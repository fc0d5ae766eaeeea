"""What a run has created on the server: intents, resources and the tracker that holds them.

This is the bottom layer: plain data and a thread-safe list, no I/O of its own.
A creating call is bracketed by two records so that a crash at any instant
leaves enough behind to find the row:

1. before the call, an :class:`Intent` names the kind and the unique value the
   call carries (a project's title, an account's e-mail, an organization's name);
2. after the answer, a :class:`Resource` carries the id the server returned and
   the serial of its intent.

An intent without a resource is *unresolved* (the call timed out, or the run
died during it): the cleaner looks its row up by that unique value
(:meth:`Tracker.unresolved`).  A call the server refused outright is
*abandoned*, since nothing was created.  *on_intent* and *on_add* hooks
let the ledger write each record to disk before the call goes on::

    tracker = Tracker()
    intent = tracker.intend("project", title="scratch-1a2b")
    project_id = hub.projects.create_project(title="scratch-1a2b")
    tracker.add("project", project_id, intent=intent)
"""
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

#: The kinds of resource a tracker holds, in the order the cleaner removes them.
#: ``event`` is a unique tag a test wrote into CoCalc's logging tables.
KINDS = ("project", "account", "organization", "message", "api_key", "license", "event")


@dataclass(frozen=True)
class Intent:
    """A creating call about to be made: its kind and the unique values it carries."""

    kind: str
    key: Dict[str, str]
    serial: int


@dataclass(frozen=True)
class Resource:
    """One tracked resource: its kind, its id and what else is worth recording."""

    kind: str
    id: str
    extra: Dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    intent: Optional[int] = None


def check_kind(kind: str) -> str:
    """*kind*, or :class:`ValueError` naming the known kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


class Tracker:
    """A thread-safe record of intents and tracked resources.

    *on_intent* and *on_add*, if given, are called with each new record before
    :meth:`intend` or :meth:`add` returns (the ledger writes it to disk there).
    """

    def __init__(
        self,
        on_add: Optional[Callable[[Resource], None]] = None,
        on_intent: Optional[Callable[[Intent], None]] = None,
    ):
        self._lock = threading.Lock()
        self._items: List[Resource] = []
        self._seen: set = set()
        self._intents: Dict[int, Intent] = {}
        self._resolved: set = set()
        self._serials = itertools.count(1)
        self._on_add = on_add
        self._on_intent = on_intent

    def intend(self, kind: str, **key: Any) -> Intent:
        """Record that a call creating a *kind* carrying *key* is about to be made."""
        check_kind(kind)
        if not key:
            raise ValueError("an intent needs the unique value its call carries")
        with self._lock:
            intent = Intent(kind, {k: str(v) for k, v in key.items()}, next(self._serials))
            self._intents[intent.serial] = intent
            if self._on_intent is not None:
                self._on_intent(intent)
        return intent

    def take_intent(self, intent: Intent, resolved: bool = False) -> None:
        """Adopt an intent read back from a ledger (keeping its serial)."""
        check_kind(intent.kind)
        with self._lock:
            self._intents[intent.serial] = intent
            if resolved:
                self._resolved.add(intent.serial)
            self._serials = itertools.count(max(self._intents) + 1)

    def add(self, kind: str, resource_id: Any, intent: Optional[Intent] = None, **extra: Any) -> Resource:
        """Track *resource_id* of *kind* (resolving *intent*); tracking the same one twice is harmless."""
        check_kind(kind)
        resource = Resource(kind, str(resource_id), dict(extra), intent=intent.serial if intent else None)
        with self._lock:
            if intent is not None:
                self._resolved.add(intent.serial)
            if (kind, resource.id) in self._seen:
                return resource
            self._seen.add((kind, resource.id))
            self._items.append(resource)  # first, so a failing on_add cannot lose the resource
            if self._on_add is not None:
                self._on_add(resource)
        return resource

    def abandon(self, intent: Intent) -> None:
        """The call of *intent* was refused outright: the server created nothing to look up."""
        with self._lock:
            self._resolved.add(intent.serial)

    def unresolved(self) -> List[Intent]:
        """Intents whose call never reported an id (it failed, or the run died during it)."""
        with self._lock:
            return [i for s, i in sorted(self._intents.items()) if s not in self._resolved]

    def ids(self, kind: str) -> List[str]:
        """The ids of *kind*, in the order they were tracked."""
        with self._lock:
            return [r.id for r in self._items if r.kind == kind]

    def resources(self) -> List[Resource]:
        """Every tracked resource, in the order they were tracked."""
        with self._lock:
            return list(self._items)

    def counts(self) -> Dict[str, int]:
        """How many of each kind are tracked."""
        with self._lock:
            return {kind: sum(1 for r in self._items if r.kind == kind) for kind in KINDS}

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

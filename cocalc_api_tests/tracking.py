"""Record of every server resource a run creates, and the mixin that creates them.

Anything a test creates on the server goes through :class:`TrackedResourcesMixin`
(or the session's ``create_*`` methods), which registers the new id with the
session's :class:`Tracker` the moment the server returns it.  At exit the
cleaner removes exactly what the tracker holds, and nothing else.

Another unittest suite uses it the same way::

    import unittest
    from cocalc_api_tests import TrackedResourcesMixin, get_session

    def setUpModule():
        get_session()

    class MyTests(TrackedResourcesMixin, unittest.TestCase):
        def test_something(self):
            project_id = self.create_tracked_project(title="mine")
            ...
"""
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

#: The kinds of resource a tracker holds, in the order the cleaner removes them.
KINDS = ("project", "account", "organization", "message")


@dataclass(frozen=True)
class Resource:
    """One tracked resource: its kind, its id and what else is worth recording."""

    kind: str
    id: str
    extra: Dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class Tracker:
    """A thread-safe list of tracked resources.

    *on_add*, if given, is called with each new :class:`Resource` before
    :meth:`add` returns (the ledger uses it to write the resource to disk first).
    """

    def __init__(self, on_add: Optional[Callable[[Resource], None]] = None):
        self._lock = threading.Lock()
        self._items: List[Resource] = []
        self._seen: set = set()
        self._on_add = on_add

    def add(self, kind: str, resource_id: Any, **extra: Any) -> Resource:
        """Track *resource_id* of *kind*; tracking the same one twice is harmless."""
        if kind not in KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
        resource = Resource(kind, str(resource_id), dict(extra))
        with self._lock:
            if (kind, resource.id) in self._seen:
                return resource
            self._seen.add((kind, resource.id))
            self._items.append(resource)  # first, so a failing on_add cannot lose the resource
            if self._on_add is not None:
                self._on_add(resource)
        return resource

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


class TrackedResourcesMixin:
    """Mix into a ``unittest.TestCase`` to create server resources that are cleaned up.

    The resources are made through the process-wide session
    (:func:`cocalc_api_tests.get_session`) and tracked there.
    """

    @property
    def session(self):  # -> cocalc_api_tests.session.Session
        """The process-wide session (built on first use)."""
        from .session import get_session

        return get_session()

    def create_tracked_project(self, **kwargs: Any) -> str:
        """``projects.createProject(**kwargs)``, tracked; returns the project id."""
        return self.session.create_project(**kwargs)

    def create_tracked_user(self, org_name: str, **kwargs: Any) -> str:
        """``org.createUser(name=org_name, **kwargs)``, tracked; returns the account id.

        *email* defaults to a unique address; the account's first project is
        removed with the account.
        """
        return self.session.create_user(org_name, **kwargs)

    def create_tracked_org(self, name: str) -> str:
        """``org.create(name)``, tracked; returns the organization id."""
        return self.session.create_org(name)

    def track_message(self, message_id: int) -> None:
        """Track a message this test sent, so the cleaner deletes it."""
        self.session.tracker.add("message", message_id)

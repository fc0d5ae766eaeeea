"""CoCalc's cached reads, with the lifetimes of the stand-in's profile.

CoCalc answers several permission questions from memory rather than from the
database, so a change can take a while to show:

* ``long`` (``database/pool/cached.ts``, 30 s): ``isCollaborator`` and
  ``isAdmin``/``userIsInGroup`` -- who is on a project, who is a site admin;
* ``medium`` (the same file, 15 s): the API key lookup of
  ``getAccountWithApiKey`` and the ``remember_me`` lookup of a sign-in cookie;
* ``query`` (``database/postgres-base.coffee``, 5 s): the database object's own
  cache, used by the user-query engine's admin and membership checks;
* ``banned-yes`` / ``banned-no`` (``server/accounts/is-banned.ts``): a ban is
  noticed within 60 s and lifted within 10 minutes.

As in CoCalc, the pool caches keep a read only when it found a row (a missing
project or account is asked again next time); the database object's cache keeps
every answer.  Lifetimes are the profile's (``real``: the figures above times
the time scale; ``fast``: none, every read goes to the database).  Entries are
kept even when their lifetime is zero, so :meth:`Caches.last` can play a server
that never lets go of a deleted key (the broken ``key:deleted`` check).
"""
import collections
import threading
import time
from typing import Any, Callable, Dict, Hashable, Optional, Tuple

#: Entries kept per kind (CoCalc's LRU caches hold 1000).
MAX_ENTRIES = 1000

Entry = Tuple[float, Any]


class Caches:
    """One stand-in's caches, lifetimes taken from *profile*."""

    def __init__(self, profile: Any):
        self.lifetimes: Dict[str, float] = {
            "long": profile.seconds(profile.cache_long),
            "medium": profile.seconds(profile.cache_medium),
            "query": profile.seconds(profile.cache_query),
            "banned-yes": profile.seconds(profile.ban_lift),
            "banned-no": profile.seconds(profile.ban_notice),
        }
        self._entries: Dict[str, "collections.OrderedDict[Hashable, Entry]"] = {
            kind: collections.OrderedDict() for kind in self.lifetimes
        }
        self._lock = threading.Lock()

    def fresh(self, kind: str, key: Hashable) -> Optional[Tuple[Any]]:
        """``(value,)`` when *key* holds a value younger than the kind's lifetime, else None."""
        lifetime = self.lifetimes[kind]
        if lifetime <= 0:
            return None
        with self._lock:
            entry = self._entries[kind].get(key)
            if entry is None or time.monotonic() - entry[0] >= lifetime:
                return None
            self._entries[kind].move_to_end(key)
            return (entry[1],)

    def put(self, kind: str, key: Hashable, value: Any) -> None:
        """Remember *value* for *key* from now on."""
        with self._lock:
            entries = self._entries[kind]
            entries[key] = (time.monotonic(), value)
            entries.move_to_end(key)
            while len(entries) > MAX_ENTRIES:
                entries.popitem(last=False)

    def drop(self, kind: str, key: Hashable) -> None:
        """Forget *key*."""
        with self._lock:
            self._entries[kind].pop(key, None)

    def last(self, kind: str, key: Hashable) -> Any:
        """The value last remembered for *key*, however old (None if none)."""
        with self._lock:
            entry = self._entries[kind].get(key)
        return None if entry is None else entry[1]

    def read(self, kind: str, key: Hashable, load: Callable[[], Any], keep: Callable[[Any], bool]) -> Any:
        """A fresh remembered value of *key*, else ``load()`` (remembered when ``keep(value)``)."""
        hit = self.fresh(kind, key)
        if hit is not None:
            return hit[0]
        value = load()
        if keep(value):
            self.put(kind, key, value)
        return value


def of(store: Any) -> Optional[Caches]:
    """The caches of the stand-in serving *store* (an App or a Store), if any."""
    for holder in (store, getattr(store, "store", None)):
        found = getattr(holder, "caches", None)
        if isinstance(found, Caches):
            return found
    return None


def found_a_row(value: Any) -> bool:
    """What CoCalc's pool caches keep: reads that found a row."""
    return value is not None


def always(value: Any) -> bool:
    """What the database object's cache keeps: every answer."""
    return True


def read(store: Any, kind: str, key: Hashable, load: Callable[[], Any], keep: Callable[[Any], bool] = found_a_row) -> Any:
    """``load()`` through the *kind* cache of the stand-in of *store* (straight ``load()`` without one)."""
    caches = of(store)
    return load() if caches is None else caches.read(kind, key, load, keep)

"""A crash-safe, per-run record of tracked resources, on disk.

Each run writes ``run-<time>-<run id>.jsonl`` in the ledger directory
(``COCALC_TESTS_LEDGER_DIR``, default ``$XDG_STATE_HOME/cocalc-api-tests`` or
``~/.local/state/cocalc-api-tests``).  The first line describes the run (server,
database target, never a key or password); every tracked resource is appended,
flushed and fsynced before the test that created it goes on; ``protect`` lines
name what must never be deleted.  A run whose cleanup finished deletes its
ledger, so a ledger left behind belongs to a run that was killed, and
``python -m cocalc_api_tests cleanup --ledger FILE`` finishes its work.
"""
import glob
import json
import os
import threading
import time
from typing import Any, Dict, Iterable, List, Optional

from .config import Config
from .tracking import Intent, Resource, Tracker


def ledger_dir(environ: Optional[Dict[str, str]] = None) -> str:
    """Where ledgers live."""
    env = os.environ if environ is None else environ
    explicit = env.get("COCALC_TESTS_LEDGER_DIR", "").strip()
    if explicit:
        return explicit
    state = env.get("XDG_STATE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "cocalc-api-tests")


def leftover_ledgers(directory: str) -> List[str]:
    """Ledgers of runs that ended without finishing their cleanup, oldest first.

    A ledger whose process is still alive belongs to a run going on now and is left out.
    """
    return [path for path in sorted(glob.glob(os.path.join(directory, "run-*.jsonl"))) if not owner_alive(path)]


def owner_alive(path: str) -> bool:
    """Whether the process that wrote the ledger at *path* is still running."""
    try:
        with open(path, encoding="utf-8") as fh:
            pid = int(json.loads(fh.readline()).get("pid", 0))
    except (OSError, ValueError, AttributeError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """Append-only JSON-lines file for one run."""

    def __init__(self, path: str, config: Config, run_id: str):
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._append(
            {
                "type": "run",
                "run_id": run_id,
                "started": time.time(),
                "pid": os.getpid(),
                "host": config.host,
                "database": config.describe_database(),
            }
        )

    @classmethod
    def for_run(cls, config: Config, run_id: str, directory: Optional[str] = None) -> "Ledger":
        """A new ledger for *run_id* in *directory* (default :func:`ledger_dir`)."""
        name = f"run-{time.strftime('%Y%m%dT%H%M%S')}-{run_id}.jsonl"
        return cls(os.path.join(directory or ledger_dir(), name), config, run_id)

    def _append(self, record: Dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def record_intent(self, intent: Intent) -> None:
        """Write *intent* to disk before its call is made (the tracker's ``on_intent`` hook)."""
        self._append({"type": "intent", "kind": intent.kind, "key": intent.key, "serial": intent.serial})

    def record(self, resource: Resource) -> None:
        """Write *resource* to disk (the tracker's ``on_add`` hook)."""
        record = {"type": "resource", "kind": resource.kind, "id": resource.id, "extra": resource.extra}
        if resource.intent is not None:
            record["intent"] = resource.intent
        self._append(record)

    def protect(self, account_ids: Iterable[Optional[str]] = (), project_ids: Iterable[Optional[str]] = ()) -> None:
        """Write the ids that the cleaner must never delete."""
        self._append(
            {
                "type": "protect",
                "account_ids": [a for a in account_ids if a],
                "project_ids": [p for p in project_ids if p],
            }
        )

    def finish(self) -> None:
        """The run's cleanup completed: remove the ledger."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class LedgerContents:
    """What a ledger file says: the run, its resources and its protected ids."""

    def __init__(self, path: str):
        self.path = path
        self.run: Dict[str, Any] = {}
        self.tracker = Tracker()
        self._intents: Dict[int, Intent] = {}
        self.protected_accounts: List[str] = []
        self.protected_projects: List[str] = []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    if line.endswith("\n"):
                        raise ValueError(f"{path}:{number} is not a JSON line") from None
                    continue  # a line cut short by a crash
                try:
                    self._take(record)
                except (AttributeError, KeyError, TypeError, ValueError) as err:
                    raise ValueError(f"{path}:{number} is not a ledger record ({err})") from None
        if not self.run.get("host"):
            raise ValueError(f"{path} has no run line, so it is not a ledger of cocalc-api-tests")
        resolved = {r.intent for r in self.tracker.resources() if r.intent is not None}
        for serial, intent in self._intents.items():
            if serial not in resolved:
                self.tracker.take_intent(intent)

    def _take(self, record: Dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "run":
            self.run = record
        elif kind == "intent":
            key = record["key"]
            if not isinstance(key, dict) or not key:
                raise TypeError("an intent's key must be a non-empty object")
            self._intents[int(record["serial"])] = Intent(record["kind"], {str(k): str(v) for k, v in key.items()}, int(record["serial"]))
        elif kind == "resource":
            serial = record.get("intent")
            intent = self._intents.get(int(serial)) if serial is not None else None
            self.tracker.add(record["kind"], record["id"], intent=intent, **dict(record.get("extra") or {}))
        elif kind == "protect":
            accounts, projects = record.get("account_ids", []), record.get("project_ids", [])
            if not isinstance(accounts, list) or not isinstance(projects, list):
                raise TypeError("protect ids must be lists")
            self.protected_accounts += accounts
            self.protected_projects += projects

"""A crash-safe, per-run record of what a run creates, on disk (a write-ahead ledger).

Each run writes ``run-<time>-<run id>.jsonl`` in the ledger folder
(:attr:`Config.ledger_dir`).  The first line describes the run: server,
database target, pid and the pid's start time — never a key or a password.
Then, each flushed and fsynced before the call goes on:

* an ``intent`` line before every creating call (its kind and the unique value
  it carries: a title, an e-mail, a name, a subject);
* a ``resource`` line when the server answered with the new id;
* ``protect`` lines naming what must never be deleted;
* ``scratch`` lines naming folders the run writes files into, in projects that stay.

A run whose cleanup finished deletes its ledger, so a ledger left behind
belongs to a run that was killed, and ``python -m cocalc_api_tests cleanup
--ledger FILE`` finishes its work: it deletes the resources and looks up the
rows of intents that never got their id.
"""
import glob
import json
import os
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .config import Config
from .errors import ConfigError
from .tracking import Intent, Resource, Tracker, check_kind


def process_start(pid: int) -> Optional[str]:
    """When process *pid* started, as the kernel counts it (``None`` where that cannot be read).

    Together with the pid it names one process: a pid reused later has another start.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def leftover_ledgers(directory: str) -> List[str]:
    """Ledgers of runs that ended without finishing their cleanup, oldest first.

    A ledger whose process is still alive belongs to a run going on now and is left out.
    """
    return [path for path in sorted(glob.glob(os.path.join(directory, "run-*.jsonl"))) if not owner_alive(path)]


def owner_alive(path: str) -> bool:
    """Whether the process that wrote the ledger at *path* is still running.

    A pid is only taken as the writer when its start time matches the one
    recorded (where both can be read), so a reused pid does not count.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            run = json.loads(fh.readline())
        pid = int(run.get("pid", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    recorded, now = run.get("pid_start"), process_start(pid)
    return recorded is None or now is None or recorded == now


class Ledger:
    """Append-only JSON-lines file for one run."""

    def __init__(self, path: str, config: Config, run_id: str):
        self.path = path
        self._lock = threading.Lock()
        folder = os.path.dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"The ledger folder {folder} cannot be created ({err.strerror or err}). Set "
                "COCALC_TESTS_LEDGER_DIR to a writable folder (the suite records there what a run creates, so that "
                "an interrupted run can be cleaned up)."
            ) from None
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(
                f"The ledger folder {folder} is not a writable folder. Set COCALC_TESTS_LEDGER_DIR to a writable "
                "folder (the suite records there what a run creates, so that an interrupted run can be cleaned up)."
            )
        self._append(
            {
                "type": "run",
                "run_id": run_id,
                "started": time.time(),
                "pid": os.getpid(),
                "pid_start": process_start(os.getpid()),
                "host": config.host,
                "database": config.describe_database(),
                "target": config.database_target(),
            }
        )

    @classmethod
    def for_run(cls, config: Config, run_id: str) -> "Ledger":
        """A new ledger for *run_id* in the configuration's ledger folder."""
        name = f"run-{time.strftime('%Y%m%dT%H%M%S')}-{run_id}.jsonl"
        return cls(os.path.join(config.ledger_dir, name), config, run_id)

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
        record: Dict[str, Any] = {"type": "resource", "kind": resource.kind, "id": resource.id, "extra": resource.extra}
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

    def scratch(self, project_id: str, path: str) -> None:
        """Write that *path* in *project_id* holds the run's files (removed at the end)."""
        self._append({"type": "scratch", "project_id": project_id, "path": path})

    def finish(self) -> None:
        """The run's cleanup completed: remove the ledger."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class LedgerContents:
    """What a ledger file says: the run, its resources, its unresolved intents and its protected ids.

    Raises :class:`ValueError` naming the line when the file is not a ledger; a
    last line cut short by a crash is ignored.
    """

    def __init__(self, path: str):
        self.path = path
        self.run: Dict[str, Any] = {}
        self.tracker = Tracker()
        self.protected_accounts: List[str] = []
        self.protected_projects: List[str] = []
        self.scratch: List[Tuple[str, str]] = []
        intents: Dict[int, Intent] = {}
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(lines) and not line.endswith("\n"):
                    continue  # the last line, cut short by a crash
                raise ValueError(f"{path}:{number} is not a JSON line") from None
            try:
                self._take(record, intents)
            except (AttributeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{number} is not a ledger record ({err})") from None
        if not self.run.get("host"):
            raise ValueError(f"{path} has no run line, so it is not a ledger of cocalc-api-tests")
        resolved = {r.intent for r in self.tracker.resources() if r.intent is not None}
        for serial, intent in sorted(intents.items()):
            self.tracker.take_intent(intent, resolved=serial in resolved)

    def _take(self, record: Dict[str, Any], intents: Dict[int, Intent]) -> None:
        kind = record.get("type")
        if kind == "run":
            self.run = record
        elif kind == "intent":
            key = record["key"]
            if not isinstance(key, dict) or not key:
                raise TypeError("an intent's key must be a non-empty object")
            serial = int(record["serial"])
            intents[serial] = Intent(check_kind(record["kind"]), {str(k): str(v) for k, v in key.items()}, serial)
        elif kind == "resource":
            serial = record.get("intent")
            intent = intents.get(int(serial)) if serial is not None else None
            self.tracker.add(record["kind"], record["id"], intent=intent, **dict(record.get("extra") or {}))
        elif kind == "protect":
            accounts, projects = record.get("account_ids", []), record.get("project_ids", [])
            if not isinstance(accounts, list) or not isinstance(projects, list):
                raise TypeError("protect ids must be lists")
            self.protected_accounts += accounts
            self.protected_projects += projects
        elif kind == "scratch":
            self.scratch.append((str(record["project_id"]), str(record["path"])))
        else:
            raise ValueError(f"unknown record type {kind!r}")

    def mismatch(self, config: Config) -> Optional[str]:
        """Why *config* names another server or database than the run did (``None`` when it is the same).

        The database is compared by host (or socket folder), port and name, not by
        the user that connects.
        """
        host = self.run.get("host")
        if host and host != config.host:
            return f"server {host!r}, but the environment now names {config.host!r}"
        target = self.run.get("target")
        if isinstance(target, dict) and target != config.database_target():
            return f"database {self.run.get('database')!r}, but the environment now names {config.describe_database()!r}"
        return None

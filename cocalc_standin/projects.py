"""Project lifecycle of the stand-in: real home directories and real processes.

Modelled on CoCalc's single-user project control: each project has a home
directory ``<root>/<project_id>``; starting it creates ``~/.smc`` and launches a
project process (here a small idle Python process, in its own process group,
standing in for CoCalc's project server) whose pid, start time and session id
are written to ``~/.smc`` as CoCalc does.  A project is *running* while that
process lives.  State changes are saved to ``projects.state`` (``{state, time,
ip}``) and status to ``projects.status``.  ``system.exec`` runs commands in the
project's home with the project's environment; Jupyter kernels, async exec
jobs and terminals belong to the project and are shut down when it stops.  How
long starting, stopping and copying take follows the stand-in's
:mod:`~cocalc_standin.profile`.
"""
import base64
import fnmatch
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, List, Optional

from . import checks
from .api_common import JsError, is_valid_uuid
from .profile import DEFAULT_PROFILE, PROFILES, Profile
from .store import Store, iso, utcnow

#: Seconds a stopping project gets after SIGTERM before SIGKILL (CoCalc: 5).
SIGKILL_GRACE = 5.0
#: Seconds to wait for a killed project process to disappear (CoCalc: 10).
MAX_STOP_TIME = 10.0
#: Seconds to wait for a launched project process to come up (CoCalc: 20).
MAX_START_TIME = 20.0
#: The file a project process writes in ``~/.smc`` once it is up.
READY_FILE = "project.ready"
#: Seconds within which repeated activity of one account on one project is recorded once.
TOUCH_PROJECT_THROTTLE = 60.0
TOUCH_ACCOUNT_THROTTLE = 120.0
#: Environment variables a project must not inherit from the server (CoCalc's list, plus PG*).
_ENV_DROP = {"PROJECTS", "BASE_PATH", "PORT", "DATA", "LOGS", "PWD", "LINES", "COLUMNS",
             "LS_COLORS", "INIT_CWD", "DEBUG_FILE", "SECRETS"}
_ENV_DROP_PREFIXES = ("npm_", "COCALC_", "CONAT_", "PNPM_", "__NEXT", "NODE_", "PG")
#: The project process (arguments: seconds to come up, 1 to ignore SIGTERM, ready file): comes up, then
#: idles until it is signalled, or until the stand-in that started it is gone.
_PROJECT_PROCESS = """import os, signal, sys, time
parent = os.getppid()
if sys.argv[2] == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(float(sys.argv[1]))
with open(sys.argv[3] + ".tmp", "w") as fh:
    fh.write("%d\\n" % os.getpid())
os.replace(sys.argv[3] + ".tmp", sys.argv[3])
while os.getppid() == parent:
    time.sleep(0.5)
"""


class _Runtime:
    """A running project: its process, its async exec jobs, what its calls keep, and, once used, its kernels."""

    def __init__(self, process: subprocess.Popen, env: Dict[str, str], start_ts: int, session_id: str):
        from .execute import AsyncJobs

        self.process = process
        self.env = env
        self.start_ts = start_ts
        self.session_id = session_id
        self.kernels: Any = None
        self.jobs = AsyncJobs()
        self.lock = threading.Lock()
        self.state: Dict[str, Any] = {}  # what the project's calls keep while it runs

    def end_work(self) -> None:
        """Shut down the project's kernels, async jobs and whatever else its calls keep running."""
        if self.kernels is not None:
            self.kernels.shutdown_all()
        self.jobs.shutdown()
        with self.lock:
            kept = list(self.state.values())
        for value in kept:
            if hasattr(value, "shutdown"):
                value.shutdown()

    def alive(self) -> bool:
        return self.process.poll() is None


class Projects:
    """Start, stop and inspect the stand-in's projects (thread-safe)."""

    def __init__(self, store: Store, root: str, profile: Profile = PROFILES[DEFAULT_PROFILE]):
        self.store = store
        self.profile = profile
        self.root = os.path.realpath(root)
        os.makedirs(self.root, exist_ok=True)
        self._lock = threading.Lock()
        self._project_locks: Dict[str, threading.Lock] = {}
        self._running: Dict[str, _Runtime] = {}
        self._changing: Dict[str, Dict[str, str]] = {}
        self._touched: Dict[tuple, float] = {}
        self._closed = False

    # -- paths and environment ------------------------------------------------------

    def home(self, project_id: str) -> str:
        """The project's home directory (it exists once the project has started)."""
        return os.path.join(self.root, project_id)

    def _lock_of(self, project_id: str) -> threading.Lock:
        with self._lock:
            return self._project_locks.setdefault(project_id, threading.Lock())

    def environment(self, project_id: str) -> Dict[str, str]:
        """The environment of the project's processes (CoCalc's ``getEnvironment``).

        The server's environment minus its own settings, plus HOME, USER,
        COCALC_PROJECT_ID, ... and the project's extra ``env``; PATH starts with
        the stand-in's Python environment, then ``~/bin`` and ``~/.local/bin``.
        """
        home = self.home(project_id)
        data = os.path.join(home, ".smc")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _ENV_DROP and not k.startswith(_ENV_DROP_PREFIXES) and not v.startswith("/root")
        }
        row = self.store.one("SELECT env FROM projects WHERE project_id=:p::UUID", p=project_id) or {}
        extra = row.get("env") if isinstance(row.get("env"), dict) else {}
        username = project_id.replace("-", "")
        path = [os.path.dirname(sys.executable), os.path.join(home, "bin"), os.path.join(home, ".local", "bin")]
        env.update(
            HOME=home,
            DATA=data,
            LOGS=data,
            USER=username,
            COCALC_USERNAME=username,
            COCALC_PROJECT_ID=project_id,
            COCALC_EXTRA_ENV=base64.b64encode(json.dumps(extra).encode()).decode(),
            COCALC_SECRET_TOKEN=os.path.join(data, "secret-token"),
            PATH=os.pathsep.join(path + [os.environ.get("PATH", os.defpath)]),
        )
        env.update({str(k): str(v) for k, v in extra.items()})
        return env

    # -- state ----------------------------------------------------------------------

    def _runtime(self, project_id: str) -> Optional[_Runtime]:
        with self._lock:
            runtime = self._running.get(project_id)
        return runtime if runtime is not None and runtime.alive() else None

    def is_running(self, project_id: str) -> bool:
        """Whether the project's process is alive."""
        return self._runtime(project_id) is not None

    def _save_state(self, project_id: str, state: str, ip: Optional[str] = None, when: Optional[str] = None) -> None:
        value: Dict[str, str] = {"state": state, "time": when or iso(utcnow())}
        if ip:
            value["ip"] = ip
        self.store.query(
            "UPDATE projects SET state=CAST(:s AS JSONB) WHERE project_id=:p::UUID", s=json.dumps(value), p=project_id
        )

    def state(self, project_id: str) -> Dict[str, Any]:
        """``{"ip", "state", "time"}`` (``running`` or ``opened``), saved to ``projects.state``."""
        with self._lock:
            changing = self._changing.get(project_id)
        if changing is not None:
            return dict(changing)
        now = iso(utcnow())
        state = {"ip": "127.0.0.1", "state": "running" if self.is_running(project_id) else "opened", "time": now}
        self._save_state(project_id, state["state"], ip=state["ip"], when=now)
        return state

    def status(self, project_id: str) -> Dict[str, Any]:
        """Facts about the running project process (``{}`` when it is not running)."""
        runtime = self._runtime(project_id)
        status: Dict[str, Any] = {}
        if runtime is not None:
            status = {"project.pid": runtime.process.pid, "start_ts": runtime.start_ts, "session_id": runtime.session_id}
        self.store.query(
            "UPDATE projects SET status=CAST(:s AS JSONB) WHERE project_id=:p::UUID", s=json.dumps(status), p=project_id
        )
        return status

    def _set_changing(self, project_id: str, state: Optional[str]) -> None:
        with self._lock:
            if state is None:
                self._changing.pop(project_id, None)
            else:
                self._changing[project_id] = {"state": state}
        if state is not None:
            self._save_state(project_id, state)

    # -- start / stop ---------------------------------------------------------------

    def start(self, project_id: str) -> None:
        """Start the project unless it is running (CoCalc then just records ``running``)."""
        with self._lock_of(project_id):
            if self.is_running(project_id):
                self._save_state(project_id, "running")
                return
            self._set_changing(project_id, "starting")
            try:
                self._forget(project_id)
                runtime = self._launch(project_id)
                self.touch(project_id, no_start=True)
                self._await_up(project_id, runtime)
            finally:
                self._set_changing(project_id, None)
                self.state(project_id)

    def _launch(self, project_id: str) -> _Runtime:
        home = self.home(project_id)
        data = os.path.join(home, ".smc")
        os.makedirs(home, exist_ok=True)
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        with open(os.path.join(data, "secret-token"), "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32))
        env = self.environment(project_id)
        how = [str(self.profile.seconds(self.profile.project_startup)), "1" if self.profile.ignores_sigterm else "0"]
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", _PROJECT_PROCESS] + how + [os.path.join(data, READY_FILE)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        runtime = _Runtime(process, env, int(time.time() * 1000), str(uuid.uuid4()))
        with self._lock:
            closed = self._closed
            if not closed:
                self._running[project_id] = runtime
        if closed:
            self._halt(runtime, grace=False)
            raise JsError("the stand-in is shutting down")
        for name, value in (
            ("project.pid", process.pid),
            ("start-timestamp.txt", runtime.start_ts),
            ("session-id.txt", runtime.session_id),
        ):
            with open(os.path.join(data, name), "w", encoding="utf-8") as fh:
                fh.write(f"{value}\n")
        return runtime

    def _await_up(self, project_id: str, runtime: _Runtime) -> None:
        """Poll (on the profile's schedule) until the launched project process is up or gone."""
        ready = os.path.join(self.home(project_id), ".smc", READY_FILE)
        deadline = time.monotonic() + MAX_START_TIME
        for interval in self.profile.poll_intervals():
            if os.path.exists(ready) or not runtime.alive() or time.monotonic() > deadline:
                return
            time.sleep(interval)

    def stop(self, project_id: str) -> None:
        """Stop the project: its kernels, then its process group (SIGTERM, later SIGKILL)."""
        with self._lock_of(project_id):
            runtime = self._runtime(project_id)
            if runtime is None:
                self._forget(project_id)
                self._save_state(project_id, "opened")
                return
            self._set_changing(project_id, "stopping")
            try:
                self._halt(runtime)
                self._forget(project_id)
                try:
                    os.unlink(os.path.join(self.home(project_id), ".smc", "secret-token"))
                except OSError:
                    pass
            finally:
                self._set_changing(project_id, None)
                self.state(project_id)

    def _forget(self, project_id: str) -> None:
        with self._lock:
            runtime = self._running.pop(project_id, None)
        if runtime is not None:
            self._halt(runtime)

    def _halt(self, runtime: _Runtime, grace: bool = True) -> None:
        """End the runtime's kernels and process group: SIGTERM, and SIGKILL at the first check
        after the grace time (at once without *grace*), checking on the profile's schedule."""
        runtime.end_work()
        pid = runtime.process.pid
        grace_s = self.profile.seconds(SIGKILL_GRACE) if grace else 0.0
        signals = [(0.0, signal.SIGTERM)] if grace else []
        signals.append((grace_s, signal.SIGKILL))
        started = time.monotonic()
        deadline = started + grace_s + MAX_STOP_TIME
        intervals = self.profile.poll_intervals()
        while runtime.process.poll() is None and time.monotonic() < deadline:
            while signals and time.monotonic() - started >= signals[0][0]:
                try:
                    os.killpg(pid, signals.pop(0)[1])
                except OSError:
                    pass
            time.sleep(next(intervals))

    def shutdown(self) -> None:
        """Stop every running project process and kernel (the server is going away)."""
        with self._lock:
            self._closed = True
            runtimes, self._running = list(self._running.values()), {}
        for runtime in runtimes:
            self._halt(runtime, grace=False)

    # -- activity -------------------------------------------------------------------

    def _throttled(self, key: tuple, seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key, -seconds) < seconds:
                return True
            self._touched[key] = now
        return False

    def touch(self, project_id: str, account_id: Optional[str] = None, no_start: bool = False) -> None:
        """Record activity on the project (as CoCalc's ``touch``) and start it unless *no_start*."""
        if account_id:
            if not self._throttled(("account", account_id), TOUCH_ACCOUNT_THROTTLE):
                self.store.query("UPDATE accounts SET last_active=NOW() WHERE account_id=:a::UUID", a=account_id)
            if not self._throttled(("project", project_id, account_id), TOUCH_PROJECT_THROTTLE):
                self.store.query(
                    "UPDATE projects SET last_edited=NOW(), "
                    "last_active=COALESCE(last_active,'{}'::JSONB) || jsonb_build_object(:a::TEXT, :t::TEXT) "
                    "WHERE project_id=:p::UUID",
                    a=account_id,
                    t=iso(utcnow()),
                    p=project_id,
                )
        else:
            self.store.query("UPDATE projects SET last_edited=NOW() WHERE project_id=:p::UUID", p=project_id)
        if not no_start:
            self.start(project_id)

    # -- inside the project ---------------------------------------------------------

    def runtime(self, project_id: str) -> _Runtime:
        """The running project's runtime (the project is started first if needed)."""
        runtime = self._runtime(project_id)
        if runtime is None:
            self.start(project_id)
            runtime = self._runtime(project_id)
        if runtime is None:
            raise JsError(f"project {project_id} is not running")
        return runtime

    def exec(self, project_id: str, opts: Dict[str, Any]) -> Dict[str, Any]:
        """``system.exec`` in the project (started first if needed)."""
        from .execute import run_command

        runtime = self.runtime(project_id)
        return run_command(self.home(project_id), opts, runtime.env, runtime.jobs)

    def kernels(self, project_id: str) -> Any:
        """The project's ``KernelManager`` (the project is started first if needed)."""
        from .jupyter import KernelManager

        runtime = self.runtime(project_id)
        with self._lock:
            if runtime.kernels is None:
                runtime.kernels = KernelManager(self.home(project_id), runtime.env, stalls=self.profile.jupyter_stalls)
            return runtime.kernels

    # -- files ----------------------------------------------------------------------

    def copy_path(
        self,
        project_id: str,
        path: Optional[str],
        target_project_id: Optional[str] = None,
        target_path: Optional[str] = None,
        overwrite_newer: bool = False,
        delete_missing: bool = False,
        backup: bool = False,
        exclude: Optional[List[str]] = None,
    ) -> None:
        """Copy *path* of one project to *target_path* of another, as CoCalc's rsync call does.

        Like ``rsync -a --update``: files newer at the target are kept unless
        *overwrite_newer*; *delete_missing* removes target files the source lacks;
        *backup* keeps replaced files as ``name~``; *exclude* holds name patterns.
        """
        if path is None:
            raise JsError("path must be specified")
        target_project_id = target_project_id or project_id
        target_path = path if target_path is None else target_path
        if not is_valid_uuid(project_id):
            raise JsError(f"project_id={project_id} is invalid")
        if not is_valid_uuid(target_project_id):
            raise JsError(f"target_project_id={target_project_id} is invalid")
        source_home, target_home = self.home(project_id), self.home(target_project_id)
        source = os.path.abspath(os.path.join(source_home, path))
        checks.require(self.store, "projects.copyPathBetweenProjects:source-in-home", source.startswith(source_home),
                       JsError("source path must be contained in project home dir"))
        target = os.path.abspath(os.path.join(target_home, target_path))
        checks.require(self.store, "projects.copyPathBetweenProjects:target-in-home", target.startswith(target_home),
                       JsError("target path must be contained in target project home dir"))
        if source == target:
            return
        if not os.path.lexists(source):
            raise JsError(f"ENOENT: no such file or directory, stat '{source}'")
        self.profile.pause(self.profile.copy_latency)  # CoCalc runs rsync
        options = {"update": not overwrite_newer, "backup": backup, "exclude": list(exclude or [])}
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
            _sync_tree(source, target, options, delete_missing)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            _sync_file(source, target, options)


def _excluded(name: str, options: Dict[str, Any]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in options["exclude"])


def _sync_file(source: str, target: str, options: Dict[str, Any]) -> None:
    """Copy one file or symlink with its times unless the target is newer (and *update*)."""
    if os.path.lexists(target) and not os.path.isdir(target):
        if options["update"] and os.lstat(target).st_mtime > os.lstat(source).st_mtime:
            return
        if options["backup"]:
            os.replace(target, target + "~")
        else:
            os.unlink(target)
    elif os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    else:
        shutil.copy2(source, target)


def _sync_tree(source: str, target: str, options: Dict[str, Any], delete_missing: bool) -> None:
    names = [n for n in os.listdir(source) if not _excluded(n, options)]
    for name in names:
        src, dst = os.path.join(source, name), os.path.join(target, name)
        if os.path.isdir(src) and not os.path.islink(src):
            if os.path.lexists(dst) and not os.path.isdir(dst):
                os.unlink(dst)
            os.makedirs(dst, exist_ok=True)
            _sync_tree(src, dst, options, delete_missing)
        else:
            _sync_file(src, dst, options)
    if delete_missing:
        for name in set(os.listdir(target)) - set(names):
            if _excluded(name, options):
                continue
            victim = os.path.join(target, name)
            if os.path.isdir(victim) and not os.path.islink(victim):
                shutil.rmtree(victim)
            else:
                os.unlink(victim)
    shutil.copystat(source, target)

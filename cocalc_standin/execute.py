"""``system.exec`` for the stand-in: real processes with CoCalc's semantics.

The rules follow CoCalc's ``executeCode``:

* ``args`` defaults to ``[]``; a command containing whitespace and given no args
  runs under bash; ``bash`` together with ``args`` shell-escapes them into one
  command line.
* bash commands are written to ``<tmp>/cocalc-XXXXXX/a.sh`` (prefixed with
  ``ulimit -t <timeout>``) and run as ``bash <file>``.
* ``path`` is relative to the home directory, ``cwd`` (absolute) wins over it.
* ``timeout`` (seconds, default 60) kills the whole process group with SIGKILL.
* stdin is an open pipe nobody writes to (as under Node), so a command that
  reads it waits for the timeout.
* ``max_output`` keeps that many characters per stream and appends
  `` (truncated at N characters)``.
* a non-zero exit raises :class:`ExecError` with
  ``command '<cmd>' exited with nonzero code N -- stderr='<stderr>'``
  unless ``err_on_exit`` is false.
* ``async_call`` starts the command as a job of the project (:class:`AsyncJobs`,
  at most 100, each kept an hour after its last use) and answers at once with
  ``{"type": "async", ..., "job_id", "status": "running", "pid"}``;
  ``async_get: job_id`` answers the job's state, waiting for its end with
  ``async_await``, with CPU/memory samples (taken after 1 s, then more and more
  rarely) only with ``async_stats``.  An async job's default ``max_output`` is
  1 MiB.  CoCalc's reports of how a job ended are kept, odd as they are: a
  non-zero exit becomes ``status: "error"``, ``exit_code: 1`` with the stderr
  text as ``stderr`` (``"No result"`` when there was none) and no stdout; a job
  killed by a signal is ``completed`` with exit code 0.
"""

import codecs
import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

DEFAULT_TIMEOUT_S = 60
ERROR_STDERR_LIMIT = 1024
#: An async job's ``max_output`` unless it names one.
ASYNC_MAX_OUTPUT = 1024 * 1024
#: How many async jobs a project keeps, and for how long after their last use.
ASYNC_JOBS_MAX = 100
ASYNC_JOB_TTL_S = 3600.0
#: Seconds between an async job's resource samples at most, and how many samples are kept.
MONITOR_INTERVAL_MAX_S = 60
MONITOR_SAMPLES_MAX = 100
_READ_CHUNK = 65536
_SHELL_SAFE = re.compile(r"[^A-Za-z0-9_/:=-]")


class ExecError(Exception):
    """A failed ``system.exec``; ``str()`` is CoCalc's error text.

    ``timed_out`` tells a kill by the ``timeout`` option apart from other failures.
    """

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def shell_escape(words: List[str]) -> str:
    """Quote *words* into one bash command line the way CoCalc's shell-escape does."""
    quoted = []
    for word in words:
        if _SHELL_SAFE.search(word):
            word = "'" + word.replace("'", "'\\''") + "'"
            word = re.sub(r"^(?:'')+", "", word).replace("\\'''", "\\'")
        quoted.append(word)
    return " ".join(quoted)


def truncate(text: str, limit: int = ERROR_STDERR_LIMIT) -> str:
    """Cut *text* to *limit* characters, the last one becoming an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _js_string(value: Any) -> str:
    """How Node turns an environment value into a string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _spawn_error_json(exc: OSError, command: str, args: List[str]) -> str:
    """The JSON Node prints for a failed ``spawn`` (``{"errno":-2,"code":"ENOENT",...}``)."""
    code = exc.errno or errno.EIO
    return json.dumps(
        {
            "errno": -code,
            "code": errno.errorcode.get(code, "UNKNOWN"),
            "syscall": "spawn " + command,
            "path": command,
            "spawnargs": args,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


class _StreamReader(threading.Thread):
    """Reads one pipe to its end, keeping at most *limit* characters; *on_text* hears what is kept so far."""

    def __init__(self, pipe: Any, limit: Optional[int], on_text: Optional[Callable[[str], None]] = None) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._limit = limit
        self._on_text = on_text
        self._parts: List[str] = []
        self._length = 0

    def run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                chunk = self._pipe.read1(_READ_CHUNK)
                self._keep(decoder.decode(chunk, final=not chunk))
                if not chunk:
                    break
        finally:
            self._pipe.close()

    def _keep(self, text: str) -> None:
        if self._limit is not None:
            text = text[: max(self._limit - self._length, 0)]
        if text:
            self._parts.append(text)
            self._length += len(text)
            if self._on_text is not None:
                self._on_text(self.text)

    @property
    def text(self) -> str:
        """Everything kept so far."""
        return "".join(self._parts)


def _options(home: str, opts: Dict[str, Any]) -> Dict[str, Any]:
    """Normalise CoCalc's exec options: defaults, bash detection, working directory."""
    command = opts.get("command")
    if not isinstance(command, str):
        raise ExecError("TypeError: Cannot read properties of undefined (reading 'split')")
    args = [_js_string(a) for a in (opts.get("args") or [])]
    bash = bool(opts.get("bash"))
    if not args and re.search(r"\s", command):
        bash = True
    elif bash and args:
        command, args = shell_escape([command] + args), []
    home = opts.get("home") or home
    path = opts.get("path")
    if path is None:
        path = home
    elif not path.startswith("/"):
        path = home + "/" + path
    if opts.get("cwd"):
        path = os.path.join(home, opts["cwd"])
    timeout = opts.get("timeout")
    max_output = opts.get("max_output")
    if max_output is None and opts.get("async_call"):
        max_output = ASYNC_MAX_OUTPUT
    return {
        "command": command,
        "args": args,
        "bash": bash,
        "path": path,
        "timeout": DEFAULT_TIMEOUT_S if timeout is None else float(timeout),
        "ulimit_timeout": opts.get("ulimit_timeout") is not False,
        "err_on_exit": opts.get("err_on_exit") is not False,
        "max_output": None if max_output is None else int(max_output),
        "env": opts.get("env") or {},
    }


class _Execution:
    """One command run as CoCalc's ``doSpawn`` runs it: prepared, started, awaited, reported."""

    def __init__(self, home: str, opts: Dict[str, Any], env: Dict[str, str]) -> None:
        self.o = _options(home, opts)
        self.env = dict(env)
        self.env.update({str(k): _js_string(v) for k, v in self.o["env"].items()})
        self.command, self.args = self.o["command"], self.o["args"]
        self.orig_command = ""
        self.temp_dir: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self.readers: List[_StreamReader] = []
        self.killed = False
        self.spawn_error = ""
        self.exit_code = 0
        if self.o["bash"]:
            self._write_script()

    def _write_script(self) -> None:
        script = self.o["command"]
        if self.o["timeout"] and self.o["ulimit_timeout"]:
            script = "ulimit -t %d\n%s" % (math.ceil(self.o["timeout"]), script)
        self.temp_dir = tempfile.mkdtemp(prefix="cocalc-", dir=self.env.get("TMPDIR") or None)
        script_path = os.path.join(self.temp_dir, "a.sh")
        with open(script_path, "w", encoding="utf-8") as fh:
            fh.write(script)
        os.chmod(script_path, 0o700)
        self.orig_command, self.command, self.args = self.o["command"], "bash", [script_path]

    @property
    def shown(self) -> str:
        """How CoCalc names the command in its error texts."""
        return self.orig_command or "'%s' (args=%s)" % (self.command, " ".join(self.args))

    def start(self, on_output: Optional[Callable[[str, str], None]] = None) -> Optional[int]:
        """Spawn the process (its pid), or note why it could not be spawned (None)."""
        try:
            self.proc = subprocess.Popen(
                [self.command] + self.args,
                cwd=self.o["path"],
                env=self.env,
                stdin=subprocess.PIPE,  # like Node: an open pipe nobody writes to
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.spawn_error = _spawn_error_json(exc, self.command, self.args)
            self.exit_code = 1
            return None
        for stream, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            hear = None if on_output is None else (lambda text, stream=stream: on_output(stream, text))
            self.readers.append(_StreamReader(pipe, self.o["max_output"], hear))
        for reader in self.readers:
            reader.start()
        return self.proc.pid

    def wait(self) -> None:
        """Wait for the end, killing the process group at the timeout."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=self.o["timeout"] or None)
        except subprocess.TimeoutExpired:
            self.killed = True
            self.kill()
            self.proc.wait()
            return
        finally:
            self.proc.stdin.close()
        for reader in self.readers:
            reader.join()
        # Node reports a signal death as code null, which CoCalc turns into 0.
        self.exit_code = max(self.proc.returncode, 0)

    def kill(self) -> None:
        """SIGKILL the command's whole process group."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def output(self) -> Tuple[str, str]:
        """stdout and stderr so far (a spawn failure's JSON is the stderr)."""
        texts = [reader.text for reader in self.readers] or ["", ""]
        return texts[0], texts[1] + self.spawn_error

    def failure(self) -> Optional[str]:
        """CoCalc's error text of a killed or unrunnable command, else None."""
        if self.killed:
            return "killed command '%s %s'" % (self.command, " ".join(self.args))
        if self.spawn_error and not self.o["err_on_exit"]:
            return "command '%s' was not able to run -- stderr='%s'" % (self.shown, truncate(self.output()[1]))
        return None

    def result(self) -> Dict[str, Any]:
        """The blocking answer; a failure raises :class:`ExecError` with CoCalc's text."""
        failure = self.failure()
        if failure is not None:
            raise ExecError(failure, timed_out=self.killed)
        stdout, stderr = self.output()
        if self.o["err_on_exit"] and self.exit_code != 0:
            raise ExecError(
                "command '%s' exited with nonzero code %d -- stderr='%s'" % (self.shown, self.exit_code, truncate(stderr))
            )
        limit = self.o["max_output"]
        if limit is not None:
            if len(stdout) >= limit:
                stdout += " (truncated at %d characters)" % limit
            if len(stderr) >= limit:
                stderr += " (truncated at %d characters)" % limit
        return {"type": "blocking", "stdout": stdout, "stderr": stderr, "exit_code": self.exit_code}

    def async_report(self) -> Dict[str, Any]:
        """What an async job's record becomes when the command ends (CoCalc's odd reports kept)."""
        failure = self.failure()
        stderr = self.output()[1]
        if failure is None and self.o["err_on_exit"] and self.exit_code != 0:
            failure = stderr or None
            if failure is None:
                return {"stdout": "", "stderr": "No result", "exit_code": 1, "status": "error"}
        if failure is not None:
            return {"stdout": "", "stderr": failure, "exit_code": 1, "status": "error"}
        return dict(self.result(), status="completed")

    def cleanup(self) -> None:
        """Remove the bash script's temporary folder."""
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def run_command(home: str, opts: Dict[str, Any], env: Dict[str, str], jobs: Optional["AsyncJobs"] = None) -> Dict[str, Any]:
    """Run CoCalc's ``system.exec`` *opts* in the project at *home*.

    *env* is the project's environment; ``opts["env"]`` is laid over it.
    Returns ``{"type": "blocking", "stdout", "stderr", "exit_code"}`` or raises
    :class:`ExecError` with CoCalc's text.  With ``async_call`` or ``async_get``
    the project's *jobs* run or report the command.
    """
    if isinstance(opts.get("async_get"), str) or opts.get("async_call"):
        if jobs is None:
            raise ExecError("Error: this stand-in project keeps no async jobs")
        if isinstance(opts.get("async_get"), str):
            return jobs.get(opts["async_get"], wait=opts.get("async_await") is True, stats=opts.get("async_stats") is True)
        return jobs.start(home, opts, env)
    execution = _Execution(home, opts, env)
    try:
        execution.start()
        execution.wait()
        return execution.result()
    finally:
        execution.cleanup()


def _now_ms() -> int:
    return int(time.time() * 1000)


class AsyncJobs:
    """A project's ``async_call`` jobs (CoCalc's ``asyncCache``), thread-safe."""

    def __init__(self, max_jobs: int = ASYNC_JOBS_MAX, ttl_s: float = ASYNC_JOB_TTL_S) -> None:
        self._max = max_jobs
        self._ttl = ttl_s
        self._jobs: "OrderedDict[str, Tuple[float, Dict[str, Any]]]" = OrderedDict()
        self._running: Dict[str, _Execution] = {}
        self._changed = threading.Condition()

    def start(self, home: str, opts: Dict[str, Any], env: Dict[str, str]) -> Dict[str, Any]:
        """Start *opts*' command as a job; its first record (``status: "running"``, ``pid``)."""
        execution = _Execution(home, opts, env)
        job_id = str(uuid.uuid4())
        record: Dict[str, Any] = {
            "type": "async", "stdout": "", "stderr": "", "exit_code": 0,
            "start": _now_ms(), "job_id": job_id, "status": "running",
        }
        answer = dict(record)
        with self._changed:
            self._store(job_id, record)
            self._running[job_id] = execution
        pid = execution.start(lambda stream, text: self._update(job_id, {stream: text}))
        if pid is not None:
            answer["pid"] = pid
            self._update(job_id, {"pid": pid})
            done = threading.Event()
            threading.Thread(target=self._monitor, args=(job_id, pid, record["start"], done), daemon=True).start()
        else:
            done = None
        threading.Thread(target=self._finish, args=(job_id, execution, record["start"], done), daemon=True).start()
        return answer

    def get(self, job_id: str, wait: bool = False, stats: bool = False) -> Dict[str, Any]:
        """The job's record (waiting for its end if *wait*); samples only with *stats*."""
        with self._changed:
            record = self._fetch(job_id)
            while wait and record["status"] == "running":
                self._changed.wait()
                record = self._fetch(job_id)
            answer = json.loads(json.dumps(record))
        if not stats:
            answer.pop("stats", None)
        return answer

    def shutdown(self) -> None:
        """Kill every running job's process group (the project stops)."""
        with self._changed:
            executions = list(self._running.values())
        for execution in executions:
            execution.kill()

    def _fetch(self, job_id: str) -> Dict[str, Any]:
        self._expire()
        if job_id not in self._jobs:
            raise ExecError(f"Error: Async operation '{job_id}' does not exist.")
        self._jobs.move_to_end(job_id)
        record = self._jobs[job_id][1]
        self._jobs[job_id] = (time.monotonic(), record)
        return record

    def _store(self, job_id: str, record: Dict[str, Any]) -> None:
        self._jobs[job_id] = (time.monotonic(), record)
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self._max:
            self._jobs.popitem(last=False)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        for job_id in [j for j, (used, _) in self._jobs.items() if used < cutoff]:
            del self._jobs[job_id]

    def _update(self, job_id: str, changes: Dict[str, Any]) -> None:
        with self._changed:
            entry = self._jobs.get(job_id)
            if entry is not None:
                entry[1].update(changes)
                self._store(job_id, entry[1])
                self._changed.notify_all()

    def _finish(self, job_id: str, execution: _Execution, start: int, done: Optional[threading.Event]) -> None:
        try:
            execution.wait()
            report = execution.async_report()
        finally:
            execution.cleanup()
            if done is not None:
                done.set()
        report.update(job_id=job_id, type="async", elapsed_s=(_now_ms() - start) / 1000, start=start)
        with self._changed:
            self._running.pop(job_id, None)
        self._update(job_id, report)

    def _monitor(self, job_id: str, pid: int, start: int, done: threading.Event) -> None:
        """Sample the job's process tree after 1 s, then every elapsed/6 s (1 to 60 s)."""
        previous: Optional[Tuple[float, float]] = None
        wait_s = 1.0
        while not done.wait(wait_s):
            sample = _tree_usage(pid)
            if sample is None:
                return
            now = time.monotonic()
            rss, cpu_secs = sample
            pct = 0 if previous is None else 100 * (cpu_secs - previous[1]) / max(now - previous[0], 1e-9)
            previous = (now, cpu_secs)
            entry = {"timestamp": _now_ms(), "mem_rss": rss, "cpu_pct": pct, "cpu_secs": cpu_secs}
            with self._changed:
                record = self._jobs.get(job_id, (0, None))[1]
                if record is None:
                    return
                record["stats"] = (record.get("stats") or [])[-(MONITOR_SAMPLES_MAX - 1):] + [entry]
            elapsed_s = (_now_ms() - start) / 1000
            wait_s = min(max(1, math.floor(elapsed_s / 6)), MONITOR_INTERVAL_MAX_S)


def _tree_usage(pid: int) -> Optional[Tuple[float, float]]:
    """Resident memory (MiB) and CPU seconds of *pid* and its descendants; None when it is gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    usage: Dict[int, Tuple[int, float, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":  # ended, not yet reaped: no longer running
            continue
        # after the command: state ppid ... utime(12) stime(13) ... rss(22)
        usage[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks, int(fields[21]) * page / 2**20)
    if pid not in usage:
        return None
    children: Dict[int, List[int]] = {}
    for child, (parent, _, _) in usage.items():
        children.setdefault(parent, []).append(child)
    rss = cpu = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        _, seconds, memory = usage[current]
        rss, cpu = rss + memory, cpu + seconds
        stack.extend(children.get(current, []))
    return rss, cpu

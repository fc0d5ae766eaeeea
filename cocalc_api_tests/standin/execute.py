"""``system.exec`` for the stand-in: real processes with CoCalc's semantics.

The rules follow CoCalc's ``executeCode`` (blocking variant):

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
from typing import Any, Dict, List, Optional

DEFAULT_TIMEOUT_S = 60
ERROR_STDERR_LIMIT = 1024
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
    """Reads one pipe to its end, keeping at most *limit* characters."""

    def __init__(self, pipe: Any, limit: Optional[int]) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._limit = limit
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


def run_command(home: str, opts: Dict[str, Any], env: Dict[str, str]) -> Dict[str, Any]:
    """Run CoCalc's ``system.exec`` *opts* in the project at *home*.

    *env* is the project's environment; ``opts["env"]`` is laid over it.
    Returns ``{"type": "blocking", "stdout", "stderr", "exit_code"}`` or raises
    :class:`ExecError` with CoCalc's text.
    """
    if opts.get("async_call") or opts.get("async_get"):
        raise ExecError("the stand-in runs system.exec only in blocking mode (no async_call/async_get)")
    o = _options(home, opts)
    spawn_env = dict(env)
    spawn_env.update({str(k): _js_string(v) for k, v in o["env"].items()})
    temp_dir = None
    try:
        orig_command = ""
        command, args = o["command"], o["args"]
        if o["bash"]:
            script = o["command"]
            if o["timeout"] and o["ulimit_timeout"]:
                script = "ulimit -t %d\n%s" % (math.ceil(o["timeout"]), script)
            temp_dir = tempfile.mkdtemp(prefix="cocalc-", dir=spawn_env.get("TMPDIR") or None)
            script_path = os.path.join(temp_dir, "a.sh")
            with open(script_path, "w", encoding="utf-8") as fh:
                fh.write(script)
            os.chmod(script_path, 0o700)
            orig_command, command, args = o["command"], "bash", [script_path]
        return _spawn(o, command, args, orig_command, spawn_env)
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _spawn(o: Dict[str, Any], command: str, args: List[str], orig_command: str, env: Dict[str, str]) -> Dict[str, Any]:
    """Start *command*, collect its output and turn the outcome into CoCalc's answer."""
    shown = orig_command or "'%s' (args=%s)" % (command, " ".join(args))
    try:
        proc = subprocess.Popen(
            [command] + args,
            cwd=o["path"],
            env=env,
            stdin=subprocess.PIPE,  # like Node: an open pipe nobody writes to
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        stderr = _spawn_error_json(exc, command, args)
        if o["err_on_exit"]:
            raise ExecError("command '%s' exited with nonzero code 1 -- stderr='%s'" % (shown, truncate(stderr)))
        raise ExecError("command '%s' was not able to run -- stderr='%s'" % (shown, truncate(stderr)))
    readers = [_StreamReader(proc.stdout, o["max_output"]), _StreamReader(proc.stderr, o["max_output"])]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=o["timeout"] or None)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        raise ExecError("killed command '%s %s'" % (command, " ".join(args)), timed_out=True)
    finally:
        proc.stdin.close()
    for reader in readers:
        reader.join()
    stdout, stderr = readers[0].text, readers[1].text
    # Node reports a signal death as code null, which CoCalc turns into 0.
    exit_code = max(proc.returncode, 0)
    if o["err_on_exit"] and exit_code != 0:
        raise ExecError(
            "command '%s' exited with nonzero code %d -- stderr='%s'" % (shown, exit_code, truncate(stderr))
        )
    limit = o["max_output"]
    if limit is not None:
        if len(stdout) >= limit:
            stdout += " (truncated at %d characters)" % limit
        if len(stderr) >= limit:
            stderr += " (truncated at %d characters)" % limit
    return {"type": "blocking", "stdout": stdout, "stderr": stderr, "exit_code": exit_code}

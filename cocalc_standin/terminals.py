"""The project's terminals (``editor.createTerminalService``): shells in pseudo-terminals.

As CoCalc's project does it (``project/conat/terminal``): a call with options
(``{path, command?, args?, cwd?, env?}``) starts a session for the terminal
path, unless one with equal options is there (a session whose shell ended
counts: it is restarted only when written to, which the HTTP API cannot do).
A session is ``/bin/bash`` (or ``command``) in its own session and process
group on a new pseudo-terminal, in the terminal file's folder (or ``cwd``),
with ``COCALC_TERMINAL_FILENAME`` (the file's name), ``PROMPT_COMMAND=history
-a`` and a ``HISTFILE`` next to ``path``; bash is first told to clear the screen
and forget that line.  Nobody reads the screen here: the output is drained.
"""
import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading
from typing import Any, Dict, Optional

from . import node
from .api_common import JsError
from .project_files import ensure_containing_directory

DEFAULT_COMMAND = "/bin/bash"
#: What bash is told first: leave the alternate screen, reset the mouse modes, clear, forget this line.
PROJECT_INIT = (
    "tput rmcup; printf '\\e[?1000l\\e[?1002l\\e[?1003l\\e[?1006l\\e[?1l'; clear -x; sleep 0.1; clear -x; "
    "sleep 0.1; clear -x; history -d $(history 1);\n"
)
ROWS, COLS = 24, 80


def history_file(home: str, path: str) -> Optional[str]:
    """Where the shell keeps its history: next to *path* (a ``.term`` file itself); none for absolute paths."""
    if path.startswith("/"):
        return None
    parts = node.split(path)
    return node.join(home, parts["head"], parts["tail"] if parts["tail"].endswith(".term") else ".bash_history")


def _working_directory(home: str, head: str, cwd: Any) -> str:
    if cwd is None:
        return os.path.join(home, head)
    if cwd == "":
        return home
    if isinstance(cwd, str) and cwd.startswith("$HOME"):
        return cwd.replace("$HOME", home, 1)
    return os.path.join(home, str(cwd))


class _Session:
    """One shell on a pseudo-terminal; its output is read and dropped."""

    def __init__(self, home: str, env: Dict[str, str], term_path: str, options: Dict[str, Any]):
        self.options = options
        self.state = "off"
        path = options.get("path")
        if not isinstance(path, str):
            raise node.reading("startsWith")
        parts = node.split(term_path)
        spawn_env = {"PROMPT_COMMAND": "history -a"}
        histfile = history_file(home, path)
        if histfile:
            spawn_env["HISTFILE"] = histfile
        extra = options.get("env")
        if isinstance(extra, dict):
            spawn_env.update({str(k): str(v) for k, v in extra.items()})
        spawn_env.update(env)
        spawn_env["COCALC_TERMINAL_FILENAME"] = parts["tail"]
        spawn_env.pop("TMUX", None)
        command = options.get("command") if isinstance(options.get("command"), str) else DEFAULT_COMMAND
        args = [a for a in options.get("args") or [] if isinstance(a, str)] if isinstance(options.get("args"), list) else []
        init = f"{parts['head']}/.{parts['tail']}.init" if parts["head"] else f".{parts['tail']}.init"
        if os.path.exists(os.path.join(home, init)):
            args += ["--init-file", node.split(init)["tail"]]
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        try:
            self.process = subprocess.Popen(
                [command] + args,
                cwd=_working_directory(home, parts["head"], options.get("cwd")),
                env=spawn_env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
        except OSError:
            os.close(self._master)
            raise
        finally:
            os.close(slave)
        self.pid = self.process.pid
        self.state = "running"
        if command.endswith("bash"):
            os.write(self._master, PROJECT_INIT.encode())
        threading.Thread(target=self._drain, name=f"terminal {term_path}", daemon=True).start()

    def _drain(self) -> None:
        try:
            while os.read(self._master, 65536):
                pass
        except OSError:
            pass
        self.process.wait()
        if self.state == "running":
            self.state = "off"

    def close(self) -> None:
        """Hang up on the shell's process group and let it go."""
        self.state = "closed"
        for sig in (signal.SIGHUP, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except OSError:
                pass
        try:
            os.close(self._master)
        except OSError:
            pass


class Terminals:
    """The terminal sessions of one running project (thread-safe)."""

    def __init__(self, home: str, env: Dict[str, str]):
        self.home = home
        self.env = env
        self._lock = threading.Lock()
        self._sessions: Dict[str, _Session] = {}

    def create_service(self, term_path: Any, options: Any) -> None:
        """``createTerminalService(termPath, opts)``: with *options*, a session for *term_path*.

        Without options CoCalc only registers the terminal, which nothing here can see.
        """
        if options is None:
            return
        options = {k: v for k, v in options.items() if k != "termPath"} if isinstance(options, dict) else {}
        if not term_path:
            raise JsError("termPath must be specified")
        with self._lock:
            ensure_containing_directory(self.home, term_path)
            current = self._sessions.get(term_path)
            if current is not None:
                if current.options == options and current.state != "closed":
                    return
                current.close()
                del self._sessions[term_path]
            self._sessions[term_path] = _Session(self.home, self.env, term_path, options)

    def shutdown(self) -> None:
        """Close every session (the project stops)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

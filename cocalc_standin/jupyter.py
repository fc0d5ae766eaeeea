"""Jupyter for the stand-in project: CoCalc's stateless execution API on real kernels.

What CoCalc does (``@cocalc/jupyter/stateless-api``) and this module mirrors:

* every ``jupyterExecute`` takes a *fresh* kernel from a small pool of
  pre-started kernels of that name, runs the optional ``path`` chdir, then the
  ``history`` (joined by newlines, output dropped), then ``input``, and closes
  that kernel; the pool is refilled in the background;
* kernels are launched from their kernelspec's ``argv`` under
  ``ulimit -n 1000 -f 10485760 -t 30 -v 3000000`` in their own process group,
  in a fresh temporary directory, with a connection file
  ``kernel-<key>.json`` in the project's Jupyter runtime directory;
* outputs are the kernel's message contents minus the bookkeeping fields
  (``execution_count``, ``status``, ...) and minus empty objects, so an
  ``execute_result`` becomes ``{"data": {...}}``;
* ``listJupyterKernels`` gives ``{"pid", "connectionFile"}`` per kernel
  process, ``stopJupyterKernel`` SIGKILLs that process group.

What a real CoCalc also does, with the ``real`` profile (``stalls=2``): the
first executions after the project starts, and the first ones after a kernel
was stopped, never answer (up to *stalls* in a row; the pool fills up
meanwhile) and their callers time out.

jupyter_client and ipykernel come from the ``standin`` extra and are imported
lazily.
"""

import atexit
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from typing import Any, Dict, List, Optional, Tuple

from .profile import current_call

POOL_SIZE = 2
CELL_TIMEOUT_S = 30.0
SPAWN_TIMEOUT_S = 120.0
MAX_OUTPUT_PER_CELL = 1000000
KERNEL_ULIMIT = "-n 1000 -f 10485760 -t 30 -v 3000000"
INTERRUPT_DELAYS_S = (1.0, 1.3, 1.69)
_POLL_S = 0.05
_DROPPED_FIELDS = ("execution_state", "execution_count", "payload", "code", "status", "source")
_STDERR_KEEP = 65536
_PATHS_SCRIPT = (
    "import json; from jupyter_core.paths import jupyter_path, jupyter_runtime_dir; "
    "print(json.dumps({'kernels': jupyter_path('kernels'), 'runtime': jupyter_runtime_dir()}))"
)


_MANAGERS: "weakref.WeakSet[KernelManager]" = weakref.WeakSet()


@atexit.register
def _shutdown_managers() -> None:
    for manager in list(_MANAGERS):
        manager.shutdown_all()


class KernelError(Exception):
    """A failed Jupyter call; ``str()`` is CoCalc's error text."""


def _missing_extra(exc: ImportError) -> KernelError:
    return KernelError(
        "Error: the stand-in needs jupyter_client and ipykernel for Jupyter "
        "(pip install 'cocalc-api-tests[standin]'): %s" % exc
    )


def chdir_code(language: str, path: str) -> str:
    """Code that changes the kernel's working directory, as CoCalc writes it."""
    lang = language.lower()
    if lang.startswith("python") or lang.startswith("sage"):
        return "import os; os.chdir('%s')" % path.replace("\\", "\\\\").replace("'", "\\'")
    if lang in ("bash", "sh"):
        escaped = "".join("\\" + c if c in "\"'$`\\" else c for c in path)
        return "cd '%s'" % escaped
    raise KernelError(
        "Error: unable to change directory: chdir for language %s is not implemented." % lang
    )


def shape_outputs(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Turn one execution's kernel messages into CoCalc's output list."""
    outputs: List[Dict[str, Any]] = []
    total = 0
    for msg in messages:
        if msg.get("msg_type") == "clear_output":
            outputs = []
        content = msg.get("content")
        if not isinstance(content, dict) or content.get("comm_id") is not None:
            continue
        content = copy.deepcopy(content)
        for key in _DROPPED_FIELDS:
            content.pop(key, None)
        for key in [k for k, v in content.items() if isinstance(v, dict) and not v]:
            del content[key]
        if not content:
            continue
        total += len(json.dumps(content, separators=(",", ":"), ensure_ascii=False, default=str))
        if content.get("traceback") is not None:
            outputs.append(content)
        elif total > MAX_OUTPUT_PER_CELL:
            outputs.append(
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": [
                        "Output truncated since it exceeded the cell output limit of %d characters"
                        % MAX_OUTPUT_PER_CELL
                    ],
                }
            )
        else:
            outputs.append(content)
    return outputs


class _Kernel:
    """One kernel process with its connection file, temp directory and client.

    A kernel is used by one thread at a time; :meth:`kill` alone may come from
    another thread (it only signals the process group).
    """

    def __init__(self, name: str, spec: Dict[str, Any], runtime_dir: str, env: Dict[str, str]) -> None:
        import zmq
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.name = name
        self.language = spec.get("language") or ""
        self.temp_dir = tempfile.mkdtemp(prefix="cocalc", dir=env.get("TMPDIR") or None)
        key = str(uuid.uuid4())
        os.makedirs(runtime_dir, exist_ok=True)
        self.connection_file = os.path.join(runtime_dir, "kernel-%s.json" % key)
        write_connection_file(self.connection_file, ip="127.0.0.1", key=key.encode(), kernel_name=name)
        argv = [a.replace("{connection_file}", self.connection_file) for a in spec["argv"]]
        if argv and argv[0] in ("python", "python%d" % sys.version_info[0], "python%d.%d" % sys.version_info[:2]):
            argv[0] = sys.executable  # what jupyter_client does for a bare "python"
        kernel_env = dict(env)
        kernel_env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
        kernel_env.update(
            PLOTLY_RENDERER="colab",
            COCALC_JUPYTER_KERNELNAME=name,
            COCALC_JUPYTER_FILENAME=os.path.join(self.temp_dir, "execute.ipynb"),
            JPY_PARENT_PID=str(os.getpid()),  # ipykernel exits if this server dies
        )
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                ["bash", "-c", 'ulimit %s\nexec "$@"' % KERNEL_ULIMIT, "bash"] + argv,
                cwd=self.temp_dir,
                env=kernel_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError:
            self._stderr.close()
            os.unlink(self.connection_file)
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            raise
        self.pid = self.proc.pid
        self.client = BlockingKernelClient()
        self.client.load_connection_file(self.connection_file)
        self.client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self._channels = {self.client.shell_channel.socket: True, self.client.iopub_channel.socket: False}
        self._poller = zmq.Poller()
        for sock in self._channels:
            self._poller.register(sock, zmq.POLLIN)

    def alive(self) -> bool:
        """Whether the kernel process is still running."""
        return self.proc.poll() is None

    def exit_text(self) -> str:
        """CoCalc's text for a kernel process that ended."""
        code = self.proc.poll()
        if code is not None and code < 0:
            try:
                how = "terminated by signal %s" % signal.Signals(-code).name
            except ValueError:
                how = "terminated by signal %d" % -code
        else:
            how = "exited with code %s" % code
        try:
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(size - _STDERR_KEEP, 0))
            err = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            err = ""
        return "Error: Kernel last %s.%s" % (how, "\n...\n" + err if err else "")

    def wait_ready(self, timeout: float = SPAWN_TIMEOUT_S) -> None:
        """Block until shell and iopub both answer a ``kernel_info_request``."""
        deadline = time.monotonic() + timeout
        got_reply = got_iopub = False
        self.client.kernel_info()
        sent = time.monotonic()
        while not (got_reply and got_iopub):
            if not self.alive():
                raise KernelError(self.exit_text())
            if time.monotonic() > deadline:
                self.kill()
                raise KernelError("Error: Failed to start kernel process -- timeout")
            for channel, is_shell in self._ready_channels():
                msg = channel.get_msg(timeout=0)
                if is_shell:
                    got_reply = got_reply or msg["msg_type"] == "kernel_info_reply"
                else:
                    got_iopub = True
            if got_reply and not got_iopub and time.monotonic() - sent > 0.5:
                # iopub subscriptions connect late: ask again until one is published
                self.client.kernel_info()
                sent = time.monotonic()

    def _ready_channels(self) -> List[Tuple[Any, bool]]:
        """Wait briefly for messages; ``(channel, is_shell)`` for each channel holding one."""
        ready = dict(self._poller.poll(int(_POLL_S * 1000)))
        return [
            (self.client.shell_channel if is_shell else self.client.iopub_channel, is_shell)
            for sock, is_shell in self._channels.items()
            if ready.get(sock)
        ]

    def run(self, code: str, timeout: float) -> List[Dict[str, Any]]:
        """Execute *code*; CoCalc's outputs. A timeout interrupts, then kills."""
        msg_id = self.client.execute(code, silent=False, store_history=True, allow_stdin=False, stop_on_error=True)
        messages: List[Dict[str, Any]] = []
        idle = replied = False
        deadline = time.monotonic() + timeout if timeout else None
        interrupts = list(INTERRUPT_DELAYS_S)
        while not (idle and replied):
            if deadline is not None and time.monotonic() > deadline:
                if not interrupts:
                    self.kill()
                    break
                self.signal(signal.SIGINT)
                deadline = time.monotonic() + interrupts.pop(0)
            if not self.alive():
                raise KernelError(self.exit_text())
            for channel, is_shell in self._ready_channels():
                msg = channel.get_msg(timeout=0)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if is_shell:
                    replied = True
                    if msg["content"].get("status") == "ok":
                        messages.append(msg)
                else:
                    messages.append(msg)
                    idle = idle or msg["content"].get("execution_state") == "idle"
        return shape_outputs(messages)

    def signal(self, signum: int) -> None:
        """Send *signum* to the kernel's process group."""
        try:
            os.killpg(self.pid, signum)
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL the process group and reap the process (safe from any thread)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=SPAWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.unlink(self.connection_file)
        except OSError:
            pass

    def close(self) -> None:
        """Kill the kernel and release its client sockets and files (owner thread only)."""
        self.kill()
        self.client.stop_channels()
        self._stderr.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class KernelManager:
    """The Jupyter side of one stand-in project (thread-safe).

    >>> km = KernelManager(home, {"HOME": home, "PATH": os.environ["PATH"]})
    >>> km.execute("python3", "sum(range(100))", [], 30)
    [{'data': {'text/plain': '4950'}}]
    """

    def __init__(self, home: str, env: Dict[str, str], stalls: int = 0) -> None:
        self.home = home
        self.env = dict(env)
        self._stalls = stalls
        self._stalls_left = stalls  # executions that will never answer
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._paths: Optional[Dict[str, Any]] = None
        self._pools: Dict[str, List[_Kernel]] = {}
        self._running: Dict[int, _Kernel] = {}
        self._warming: Dict[str, int] = {}  # kernels launched for a pool, not ready yet
        self._warm_threads: set = set()
        self._generation = 0
        _MANAGERS.add(self)

    # ------------------------------------------------------------- kernel specs

    def _jupyter_paths(self) -> Dict[str, Any]:
        """Kernel directories and runtime directory as the project's environment sees them."""
        with self._lock:
            if self._paths is not None:
                return self._paths
        try:
            out = subprocess.run(
                [sys.executable, "-c", _PATHS_SCRIPT],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                timeout=SPAWN_TIMEOUT_S,
            ).stdout
            paths = json.loads(out)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise KernelError("Error: cannot find the Jupyter paths of the project: %s" % exc)
        with self._lock:
            self._paths = paths
        return paths

    def _specs(self) -> Dict[str, Tuple[str, Dict[str, Any]]]:
        """``name -> (resource_dir, raw kernel.json)`` in Jupyter's search order."""
        try:
            from jupyter_client.kernelspec import KernelSpecManager
        except ImportError as exc:
            raise _missing_extra(exc)
        found = KernelSpecManager(kernel_dirs=self._jupyter_paths()["kernels"]).find_kernel_specs()
        specs = {}
        for name, resource_dir in found.items():
            try:
                with open(os.path.join(resource_dir, "kernel.json"), encoding="utf-8") as fh:
                    raw = json.load(fh)
            except FileNotFoundError:
                from ipykernel.kernelspec import get_kernel_dict  # the built-in python3 kernel

                raw = get_kernel_dict()
            except (OSError, ValueError):
                continue
            if isinstance(raw, dict) and isinstance(raw.get("argv"), list):
                specs[name] = (resource_dir, raw)
        return specs

    def kernelspecs(self) -> List[Dict[str, Any]]:
        """CoCalc's ``jupyter.kernels`` answer for this project, sorted by display name."""
        answer = []
        for name, (resource_dir, raw) in self._specs().items():
            entry: Dict[str, Any] = {
                "name": name.lower(),
                "display_name": raw.get("display_name"),
                "language": "Macaulay2" if raw.get("language") == "text/x-macaulay2" else raw.get("language"),
            }
            if "interrupt_mode" in raw:
                entry["interrupt_mode"] = raw["interrupt_mode"]
            entry["env"] = raw.get("env") or {}
            if "metadata" in raw:
                entry["metadata"] = raw["metadata"]
            entry["resource_dir"] = resource_dir
            entry["argv"] = raw["argv"]
            answer.append(entry)
        answer.sort(key=lambda e: str(e.get("display_name") or ""))
        return answer

    # ------------------------------------------------------------------ kernels

    def _launch(self, name: str, extra_env: Optional[Dict[str, str]] = None) -> _Kernel:
        """Spawn a kernel of *name* (with *extra_env*) and register it; it is not ready yet."""
        specs = self._specs()
        if name not in specs:
            raise KernelError(
                "Error: **Unable to Spawn Jupyter Kernel:**\n\nError: No spec available for kernel \"%s\".  "
                "Available specs: %s \n\nTry this in a terminal to help debug this (or contact support): "
                "`jupyter console --kernel=%s`\n\nOnce you fix the problem, explicitly restart this kernel "
                "to test here." % (name, json.dumps(list(specs), separators=(",", ":")), name)
            )
        try:
            kernel = _Kernel(name, specs[name][1], self._jupyter_paths()["runtime"], dict(self.env, **(extra_env or {})))
        except ImportError as exc:
            raise _missing_extra(exc)
        except OSError as exc:
            raise KernelError("Error: **Unable to Spawn Jupyter Kernel:**\n\n%s" % exc)
        with self._lock:
            self._running[kernel.pid] = kernel
        return kernel

    def _ready(self, kernel: _Kernel) -> None:
        """Wait for a launched kernel; on failure it is unregistered and closed."""
        try:
            kernel.wait_ready()
        except BaseException:
            self._forget(kernel)
            kernel.close()
            raise

    def _forget(self, kernel: _Kernel) -> None:
        """Drop *kernel* from the registry and its pool (a reused pid stays untouched)."""
        with self._lock:
            if self._running.get(kernel.pid) is kernel:
                del self._running[kernel.pid]
            pool = self._pools.get(kernel.name, [])
            if kernel in pool:
                pool.remove(kernel)

    def _acquire(self, name: str) -> _Kernel:
        """A ready kernel of *name* for one execution: from the pool (waiting for one
        that is warming up), else a new one."""
        kernel = None
        stale = []
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        with self._lock:
            while kernel is None:
                pool = self._pools.setdefault(name, [])
                while pool and kernel is None:
                    candidate = pool.pop(0)
                    if candidate.alive():
                        kernel = candidate
                    else:
                        stale.append(candidate)
                wait_s = deadline - time.monotonic()
                if kernel is not None or not self._warming.get(name) or wait_s <= 0:
                    break
                self._changed.wait(wait_s)  # a kernel warming up for the pool is nearly there
        for dead in stale:
            self._forget(dead)
            dead.close()
        if kernel is None:
            kernel = self._launch(name)
            self._ready(kernel)
        self._refill(name)
        return kernel

    def _refill(self, name: str) -> None:
        """Launch kernels until the pool of *name*, counting those warming up, is full.

        The launches happen here, so they are listed at once; each kernel is
        awaited in a background thread and then joins the pool.
        """
        while True:
            with self._lock:
                if len(self._pools.get(name, [])) + self._warming.get(name, 0) >= POOL_SIZE:
                    return
                self._warming[name] = self._warming.get(name, 0) + 1
                generation = self._generation
            try:
                kernel = self._launch(name)
            except KernelError:
                self._settle(name, generation)
                return
            thread = threading.Thread(target=self._warm, args=(kernel, generation), daemon=True)
            with self._lock:
                self._warm_threads.add(thread)
            thread.start()

    def _settle(self, name: str, generation: int, kernel: Optional[_Kernel] = None) -> bool:
        """A pool launch is over: count it out, pool *kernel* if still wanted; whether it was."""
        with self._lock:
            current = generation == self._generation
            if current:
                self._warming[name] -= 1
            self._warm_threads.discard(threading.current_thread())
            keep = kernel is not None and current and self._running.get(kernel.pid) is kernel
            if keep:
                self._pools.setdefault(name, []).append(kernel)
            self._changed.notify_all()
        return keep

    def _warm(self, kernel: _Kernel, generation: int) -> None:
        """Background: wait for *kernel*, then put it in its pool (or close it if stale)."""
        try:
            self._ready(kernel)
        except Exception:
            self._settle(kernel.name, generation)
            return
        if not self._settle(kernel.name, generation, kernel):
            self._forget(kernel)
            kernel.close()

    def execute(
        self,
        kernel: str,
        input: str,
        history: Optional[List[str]] = None,
        timeout: float = CELL_TIMEOUT_S,
        path: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Run *input* on a fresh kernel after *history* (whose output is dropped).

        *timeout* limits each cell in seconds (CoCalc: 30); *path* (relative to
        the home directory) is where the code runs.  Returns CoCalc's output list.
        """
        self._stall_if_due(kernel)
        k = self._acquire(kernel)
        try:
            outputs: List[Dict[str, Any]] = []
            if path is not None:
                try:
                    target = path if path.startswith("/") else os.path.normpath(os.path.join(self.home, path))
                    k.run(chdir_code(k.language, target), timeout)
                except KernelError as exc:
                    outputs.append({"name": "stderr", "text": str(exc)})
            if history:
                k.run("\n".join(history), timeout)
            outputs.extend(k.run(input, timeout))
            return outputs
        finally:
            self._forget(k)
            k.close()

    def _stall_if_due(self, name: str) -> None:
        """With stalls due, this execution of a known kernel never answers: the pool
        fills up, the call's caller gives up (see :mod:`.profile`) and nobody sees the error raised."""
        call = current_call()
        if call is None or not isinstance(name, str) or name not in self._specs():
            return
        with self._lock:
            if self._stalls_left <= 0:
                return
            self._stalls_left -= 1
        self._refill(name)
        call.never_answer()
        raise KernelError("Error: the kernel never answered")

    def dedicated(self, name: str, extra_env: Optional[Dict[str, str]] = None) -> _Kernel:
        """A new ready kernel of *name* for one caller alone (listed while it runs); :meth:`release` it."""
        kernel = self._launch(name, extra_env)
        self._ready(kernel)
        return kernel

    def release(self, kernel: _Kernel) -> None:
        """Stop a :meth:`dedicated` kernel."""
        self._forget(kernel)
        kernel.close()

    def list_kernels(self) -> List[Dict[str, Any]]:
        """``[{"pid", "connectionFile"}]`` for every live kernel process of this project."""
        with self._lock:
            kernels = list(self._running.values())
        return [{"pid": k.pid, "connectionFile": k.connection_file} for k in kernels if k.alive()]

    def stop_kernel(self, pid: int) -> bool:
        """SIGKILL the kernel with process id *pid*; False if it is not one of ours."""
        with self._lock:
            kernel = self._running.pop(pid, None)
            idle = kernel is not None and kernel in self._pools.get(kernel.name, [])
            if idle:
                self._pools[kernel.name].remove(kernel)
            if kernel is not None:
                self._stalls_left = self._stalls
        if kernel is None:
            return False
        if idle:
            kernel.close()
        else:
            kernel.kill()  # its owner (an execution or a start) closes it
        return True

    def shutdown_all(self) -> None:
        """Kill every kernel of this project; returns once no kernel is warming up."""
        with self._lock:
            self._generation += 1
            idle = [k for pool in self._pools.values() for k in pool]
            busy = [k for k in self._running.values() if k not in idle]
            warming = list(self._warm_threads)
            self._pools.clear()
            self._running.clear()
            self._warming.clear()
        for kernel in idle:
            kernel.close()
        for kernel in busy:
            kernel.kill()
        for thread in warming:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(SPAWN_TIMEOUT_S)

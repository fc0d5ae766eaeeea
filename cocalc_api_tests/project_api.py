"""A project's call groups (``/api/conat/project``): what runs inside one project.

``system`` (:class:`ProjectSystem`), ``editor`` (:class:`Editor`) and ``sync``
(:class:`ProjectSync`), with CoCalc's names and argument shapes
(``conat/project/api/*.ts``).  Paths are relative to the project's home folder
unless they start with ``/``.
"""
from typing import Any, Dict, List, Optional, Sequence

from .calls import Group, SystemBasics, ms, options, remote
from .hub_api import JUPYTER_TIMEOUT


class ProjectSystem(SystemBasics):
    """``system.*`` inside one project."""

    @remote("system.exec")
    def exec(
        self,
        command: Optional[str] = None,
        args: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: Optional[float] = None,
        max_output: Optional[int] = None,
        bash: Optional[bool] = None,
        env: Optional[Dict[str, Any]] = None,
        err_on_exit: Optional[bool] = None,
        async_call: Optional[bool] = None,
        async_get: Optional[str] = None,
        async_await: Optional[bool] = None,
        async_stats: Optional[bool] = None,
        bridge_timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Run a command in the project: ``{"type", "stdout", "stderr", "exit_code"}``.

        A non-zero exit raises :class:`CoCalcAPIError` with CoCalc's text
        (``command '...' exited with nonzero code N -- stderr='...'``) unless
        *err_on_exit* is false.  *timeout* is in seconds; it is sent both to the
        command and, in milliseconds, to the bridge, unless *bridge_timeout*
        (seconds) says how long the bridge waits: with equal times CoCalc answers
        its bridge timeout rather than the command's ``killed command ...``.

        *async_call* starts the command and answers at once with ``{"type": "async",
        "job_id", "status": "running", "pid", ...}``; ``exec(async_get=job_id)``
        answers the job's state (waiting for its end with *async_await*; with its
        ``stats`` samples only with *async_stats*).
        """
        opts = options(
            command=command,
            args=list(args) if args is not None else None,
            path=path,
            cwd=cwd,
            timeout=timeout,
            max_output=max_output,
            bash=bash,
            env=env,
            err_on_exit=err_on_exit,
            async_call=async_call,
            async_get=async_get,
            async_await=async_await,
            async_stats=async_stats,
        )
        return self._call("system.exec", opts, timeout_ms=ms(timeout if bridge_timeout is None else bridge_timeout))

    @remote("system.version")
    def version(self) -> int:
        """The project server's version number (the seconds since the epoch when it was built)."""
        return self._call("system.version")

    @remote("system.configuration")
    def configuration(self, aspect: str, no_cache: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """``{"timestamp", "capabilities"}`` for *aspect* ``"main"`` (tools) or ``"x11"`` (X11 apps).

        Computed once per project run unless *no_cache*; an unknown aspect answers ``None``.
        """
        if no_cache is None:
            return self._call("system.configuration", aspect)
        return self._call("system.configuration", aspect, no_cache)

    @remote("system.signal")
    def signal(self, signal: int, pid: Optional[int] = None, pids: Optional[Sequence[int]] = None) -> None:
        """Send *signal* (a number or a name such as ``"SIGTERM"``) to *pid* and each of *pids*."""
        return self._call("system.signal", options(signal=signal, pid=pid, pids=list(pids) if pids is not None else None))

    @remote("system.listing")
    def listing(self, path: str, hidden: Optional[bool] = None) -> List[Dict[str, Any]]:
        """The folder's entries: ``{"name", "mtime", "size"}``, ``isdir``, ``issymlink``/``link_target`` when true.

        Dotfiles only with *hidden*; a folder's ``size`` is its number of (shown) entries.
        """
        return self._call("system.listing", options(path=path, hidden=hidden))

    @remote("system.writeTextFileToProject")
    def write_text_file_to_project(self, path: str, content: str) -> None:
        """Write *content* (UTF-8) to *path*, creating missing folders."""
        return self._call("system.writeTextFileToProject", {"path": path, "content": content})

    @remote("system.readTextFileFromProject")
    def read_text_file_from_project(self, path: str) -> str:
        """The text of the file at *path*."""
        return self._call("system.readTextFileFromProject", {"path": path})

    @remote("system.renameFile")
    def rename_file(self, src: str, dest: str) -> None:
        """Rename *src* to *dest* (with its hidden companion files); an existing *dest* is refused."""
        return self._call("system.renameFile", {"src": src, "dest": dest})

    @remote("system.moveFiles")
    def move_files(self, paths: Sequence[str], dest: str) -> None:
        """Move each of *paths* into the folder *dest* (made if missing)."""
        return self._call("system.moveFiles", {"paths": list(paths), "dest": dest})

    @remote("system.deleteFiles")
    def delete_files(self, paths: Sequence[str]) -> None:
        """Delete *paths* (folders recursively, hidden companion files too); missing ones are no error."""
        return self._call("system.deleteFiles", {"paths": list(paths)})

    @remote("system.realpath")
    def realpath(self, path: str) -> str:
        """Where *path* leads, relative to home (*path* itself unless a symlink leads elsewhere in home)."""
        return self._call("system.realpath", path)

    @remote("system.canonicalPaths")
    def canonical_paths(self, paths: Sequence[str]) -> List[str]:
        """Each path resolved, relative to home; paths outside home under ``<home>/.smc/root``."""
        return self._call("system.canonicalPaths", list(paths))

    @remote("system.jupyterExecute")
    def jupyter_execute(
        self,
        input: str,
        kernel: str,
        history: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        timeout: float = JUPYTER_TIMEOUT,
    ) -> List[Dict[str, Any]]:
        """Run *input* on a kernel in this project; the bare list of outputs."""
        opts = options(input=input, history=list(history) if history else None, kernel=kernel, path=path)
        return self._call("system.jupyterExecute", opts, timeout_ms=ms(timeout))

    @remote("system.listJupyterKernels")
    def list_jupyter_kernels(self) -> List[Dict[str, Any]]:
        """Running kernels: ``[{"pid", "connectionFile"}, ...]``."""
        return self._call("system.listJupyterKernels", {})

    @remote("system.stopJupyterKernel")
    def stop_jupyter_kernel(self, pid: int) -> Dict[str, bool]:
        """Stop the kernel with process id *pid*: ``{"success": bool}``."""
        return self._call("system.stopJupyterKernel", {"pid": pid})


class Editor(Group):
    """``editor.*`` inside one project."""

    @remote("editor.newFile")
    def new_file(self, path: str) -> None:
        """Create *path* (empty, or from a template), with its folders; an existing file is kept."""
        return self._call("editor.newFile", path)

    @remote("editor.jupyterStripNotebook")
    def jupyter_strip_notebook(self, path: str) -> str:
        """The notebook at *path* as JSON text without outputs and attachments (the file is not changed)."""
        return self._call("editor.jupyterStripNotebook", path)

    @remote("editor.jupyterNbconvert")
    def jupyter_nbconvert(self, args: Sequence[str], directory: Optional[str] = None, timeout: Optional[float] = None) -> None:
        """Run ``jupyter nbconvert <args>`` in *directory*; *timeout* in seconds (default 60)."""
        opts = options(args=list(args), directory=directory, timeout=timeout)
        return self._call("editor.jupyterNbconvert", opts, timeout_ms=ms(timeout))

    @remote("editor.jupyterRunNotebook")
    def jupyter_run_notebook(
        self, path: str, ipynb: str, limits: Optional[Dict[str, int]] = None, timeout: float = JUPYTER_TIMEOUT
    ) -> str:
        """Run every code cell of the notebook text *ipynb* in the folder *path*; the notebook with outputs, as JSON.

        *limits*: ``max_output``, ``max_output_per_cell``, ``max_time_per_cell_ms``, ``max_total_time_ms``.
        """
        return self._call("editor.jupyterRunNotebook", options(path=path, ipynb=ipynb, limits=limits), timeout_ms=ms(timeout))

    @remote("editor.jupyterKernelLogo")
    def jupyter_kernel_logo(self, kernel_name: str, no_cache: Optional[bool] = None) -> Dict[str, str]:
        """``{"filename", "base64"}`` of the kernel's best logo."""
        if no_cache is None:
            return self._call("editor.jupyterKernelLogo", kernel_name)
        return self._call("editor.jupyterKernelLogo", kernel_name, {"noCache": no_cache})

    @remote("editor.jupyterKernels")
    def jupyter_kernels(self, no_cache: Optional[bool] = None) -> List[Dict[str, Any]]:
        """The Jupyter kernel specs the project has, sorted by display name."""
        if no_cache is None:
            return self._call("editor.jupyterKernels")
        return self._call("editor.jupyterKernels", {"noCache": no_cache})

    @remote("editor.formatterString")
    def formatter_string(self, text: str, options: Dict[str, Any], path: Optional[str] = None) -> str:
        """*text* (CoCalc's ``str``) formatted by prettier or a formatter program with *options* (``{"parser": "json"}``)."""
        opts: Dict[str, Any] = {"str": text, "options": options}
        if path is not None:
            opts["path"] = path
        return self._call("editor.formatterString", opts)

    @remote("editor.printSageWS")
    def print_sage_ws(self, path: str, options: Optional[Dict[str, Any]] = None) -> str:
        """Print the Sage worksheet at *path* to PDF (``title``, ``author``, ... in *options*); the PDF's path."""
        opts: Dict[str, Any] = {"path": path}
        if options is not None:
            opts["options"] = options
        return self._call("editor.printSageWS", opts)

    @remote("editor.createTerminalService")
    def create_terminal_service(self, term_path: str, opts: Optional[Dict[str, Any]] = None) -> None:
        """Register the terminal *term_path*; with *opts* (``{"path", "command", "args", "cwd", "env"}``) start its shell."""
        if opts is None:
            return self._call("editor.createTerminalService", term_path)
        return self._call("editor.createTerminalService", term_path, opts)


class ProjectSync(Group):
    """``sync.*`` inside one project."""

    @remote("sync.close")
    def close(self, path: str) -> None:
        """Close the sync document of *path* (a no-op in CoCalc's project)."""
        return self._call("sync.close", path)
